//! Deliveries (recorded, and pruned) and the declaration saga.

use std::time::Duration;

use serde_json::Value;

use super::{Arg, Backend, Conn, Read, conn, insert_delivery, record, write};
use crate::domain::declaration::DeclarationStep;
use crate::domain::ids::{ChannelId, MessageTs};
use crate::store::{
    DECLARATION_WINDOW, Declarations, Deliveries, IncidentId, NewIncident, OwnedMessage, Recorded,
    StoreError,
};

#[async_trait::async_trait]
impl<B: Backend> Deliveries for B {
    async fn first_delivery(&self, key: &str) -> Result<bool, StoreError> {
        insert_delivery(&mut *conn(self).await?, key).await
    }

    async fn prune_deliveries(&self, older_than: Duration, limit: u32) -> Result<u64, StoreError> {
        // By key, through the index on `received_at`: one statement per
        // batch, committed on its own.
        let deleted = conn(self)
            .await?
            .execute(
                "DELETE FROM processed_envelopes WHERE dedupe_key IN \
                 (SELECT dedupe_key FROM processed_envelopes WHERE received_at < {cutoff} \
                 ORDER BY received_at LIMIT $2)",
                &[
                    Arg::Float(older_than.as_secs_f64()),
                    Arg::Int(i64::from(limit)),
                ],
            )
            .await?;
        Ok(deleted)
    }
}

#[async_trait::async_trait]
impl<B: Backend> Declarations for B {
    async fn create_incident(&self, new: &NewIncident) -> Result<Recorded, StoreError> {
        let mut tx = write(self).await?;
        if let Some(limit) = new.per_user_limit {
            // One declarer's declarations are counted one at a time, so two
            // at once on two replicas cannot both slip under the limit.
            if let Some(lock) = B::LOCK_DECLARER {
                tx.execute(lock, &[Arg::Text(new.created_by.as_str())])
                    .await?;
            }
            let recent = tx
                .fetch_optional(
                    "SELECT COUNT(*) AS n FROM incidents \
                     WHERE created_by = $2 AND created_at > {cutoff}",
                    &[
                        Arg::Float(DECLARATION_WINDOW.as_secs_f64()),
                        Arg::Text(new.created_by.as_str()),
                    ],
                )
                .await?
                .map(|row| row.int("n"))
                .transpose()?
                .unwrap_or(0);
            if recent >= i64::from(limit) {
                return Ok(Recorded::OverLimit);
            }
        }
        let row = tx
            .fetch_optional(
                "INSERT INTO incidents \
                 (description, status, severity, created_by, declared_in, declaration, private) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    Arg::Text(&new.description),
                    Arg::Text(&new.status),
                    Arg::Text(&new.severity),
                    Arg::Text(new.created_by.as_str()),
                    Arg::MaybeText(new.declared_in.as_ref().map(ChannelId::as_str)),
                    Arg::Json(new.declaration.clone()),
                    Arg::Bool(new.private),
                ],
            )
            .await?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))?;
        let id = IncidentId(row.int("id")?);
        let detail = serde_json::json!({ "status": new.status, "severity": new.severity });
        record(
            &mut *tx,
            id,
            new.created_by.as_str(),
            "declared",
            detail,
            false,
        )
        .await?;
        tx.commit().await?;
        Ok(Recorded::Incident(id))
    }

    async fn discard_incident(&self, id: IncidentId) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "DELETE FROM incidents WHERE id = $1 AND channel_id IS NULL",
                &[Arg::Int(id.0)],
            )
            .await?;
        Ok(())
    }

    async fn set_intended_name(&self, id: IncidentId, name: &str) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "UPDATE incidents SET intended_name = $2 WHERE id = $1",
                &[Arg::Int(id.0), Arg::Text(name)],
            )
            .await?;
        Ok(())
    }

    async fn set_channel(
        &self,
        id: IncidentId,
        channel: &ChannelId,
        name: &str,
    ) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "UPDATE incidents SET channel_id = $2, channel_name = $3, updated_at = {now}, \
                 version = version + 1 WHERE id = $1",
                &[Arg::Int(id.0), Arg::Text(channel.as_str()), Arg::Text(name)],
            )
            .await?;
        Ok(())
    }

    async fn set_message_ts(
        &self,
        id: IncidentId,
        which: OwnedMessage,
        ts: &MessageTs,
    ) -> Result<(), StoreError> {
        let sql = match which {
            OwnedMessage::Control => "UPDATE incidents SET control_ts = $2 WHERE id = $1",
            OwnedMessage::Digest => "UPDATE incidents SET digest_ts = $2 WHERE id = $1",
        };
        conn(self)
            .await?
            .execute(sql, &[Arg::Int(id.0), Arg::Text(ts.as_str())])
            .await?;
        Ok(())
    }

    async fn replace_control_ts(
        &self,
        id: IncidentId,
        old: &MessageTs,
        new: &MessageTs,
    ) -> Result<bool, StoreError> {
        let changed = conn(self)
            .await?
            .execute(
                "UPDATE incidents SET control_ts = $3 WHERE id = $1 AND control_ts = $2",
                &[
                    Arg::Int(id.0),
                    Arg::Text(old.as_str()),
                    Arg::Text(new.as_str()),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn mark_step(&self, id: IncidentId, step: DeclarationStep) -> Result<(), StoreError> {
        let mut tx = write(self).await?;
        let Some(row) = tx
            .fetch_optional(
                "SELECT steps FROM incidents WHERE id = $1{for_update}",
                &[Arg::Int(id.0)],
            )
            .await?
        else {
            return Ok(());
        };
        // The stored names as they are: a name a newer build wrote stays.
        let mut steps: Vec<Value> = match row.json("steps")? {
            Value::Array(steps) => steps,
            _ => Vec::new(),
        };
        if steps.iter().any(|s| s.as_str() == Some(step.as_str())) {
            return Ok(());
        }
        steps.push(Value::from(step.as_str()));
        let steps = Value::Array(steps);
        tx.execute(
            "UPDATE incidents SET steps = $2 WHERE id = $1",
            &[Arg::Int(id.0), Arg::Json(steps)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn complete_declaration(&self, id: IncidentId) -> Result<bool, StoreError> {
        // Never without its channel: a declaration whose channel was not
        // recorded stays open for recovery, which finds the channel by name.
        let completed = conn(self)
            .await?
            .execute(
                "UPDATE incidents SET completed_at = {now} \
                 WHERE id = $1 AND channel_id IS NOT NULL",
                &[Arg::Int(id.0)],
            )
            .await?;
        Ok(completed == 1)
    }

    async fn incomplete_declarations(&self) -> Result<Vec<IncidentId>, StoreError> {
        let rows = conn(self)
            .await?
            .fetch_all(
                "SELECT id FROM incidents WHERE completed_at IS NULL ORDER BY created_at, id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| Ok(IncidentId(row.int("id")?)))
            .collect()
    }
}
