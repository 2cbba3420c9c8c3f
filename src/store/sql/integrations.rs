//! What the optional integrations keep: react-to-create's claims and the
//! Statuspage incident each incident drives.

use serde_json::Value;

use super::{Arg, Backend, Conn, Read, conn, id_column, record, write};
use crate::domain::ids::{ChannelId, MessageTs, UserId};
use crate::store::{
    IncidentId, PendingCreate, ReactTriggers, StatuspageAction, StatuspageLink, StatuspageLinks,
    StoreError,
};

#[async_trait::async_trait]
impl<B: Backend> ReactTriggers for B {
    async fn claim_react_trigger(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
        user: &UserId,
    ) -> Result<bool, StoreError> {
        let inserted = conn(self)
            .await?
            .execute(
                "INSERT INTO react_triggers (source_channel, source_ts, reacted_by) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[
                    Arg::Text(channel.as_str()),
                    Arg::Text(ts.as_str()),
                    Arg::Text(user.as_str()),
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn link_react_trigger(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
        id: IncidentId,
    ) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "UPDATE react_triggers SET incident_id = $3 \
                 WHERE source_channel = $1 AND source_ts = $2",
                &[
                    Arg::Text(channel.as_str()),
                    Arg::Text(ts.as_str()),
                    Arg::Int(id.0),
                ],
            )
            .await?;
        Ok(())
    }

    async fn release_react_trigger(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
    ) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "DELETE FROM react_triggers WHERE source_channel = $1 AND source_ts = $2",
                &[Arg::Text(channel.as_str()), Arg::Text(ts.as_str())],
            )
            .await?;
        Ok(())
    }
}

/// The components a stored link lists.
fn components(touched: Value) -> Vec<String> {
    serde_json::from_value(touched).unwrap_or_default()
}

#[async_trait::async_trait]
impl<B: Backend> StatuspageLinks for B {
    async fn statuspage_link(&self, id: IncidentId) -> Result<Option<StatuspageLink>, StoreError> {
        let row = conn(self)
            .await?
            .fetch_optional(
                "SELECT message_ts, statuspage_id, status, touched_components, create_key, \
                 create_requested_by FROM statuspage_incidents WHERE incident_id = $1",
                &[Arg::Int(id.0)],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let pending_create = match row.maybe_text("create_key")? {
            Some(key) => Some(PendingCreate {
                key,
                requested_by: id_column(&row, "create_requested_by", UserId::parse)?,
            }),
            None => None,
        };
        Ok(Some(StatuspageLink {
            message_ts: id_column(&row, "message_ts", MessageTs::parse)?,
            statuspage_id: row.maybe_text("statuspage_id")?,
            status: row.maybe_text("status")?,
            touched_components: components(row.json("touched_components")?),
            pending_create,
        }))
    }

    async fn intend_statuspage_create(
        &self,
        id: IncidentId,
        key: &str,
        by: &UserId,
    ) -> Result<PendingCreate, StoreError> {
        let mut tx = write(self).await?;
        // Only the first intent sticks: a concurrent or later attempt gets
        // the key already stored, so both look for the same incident.
        tx.execute(
            "INSERT INTO statuspage_incidents (incident_id, create_key, create_requested_by) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (incident_id) DO UPDATE SET \
             create_key = COALESCE(statuspage_incidents.create_key, EXCLUDED.create_key), \
             create_requested_by = COALESCE(statuspage_incidents.create_requested_by, \
             EXCLUDED.create_requested_by), updated_at = {now}",
            &[Arg::Int(id.0), Arg::Text(key), Arg::Text(by.as_str())],
        )
        .await?;
        let row = tx
            .fetch_optional(
                "SELECT create_key, create_requested_by FROM statuspage_incidents \
                 WHERE incident_id = $1",
                &[Arg::Int(id.0)],
            )
            .await?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))?;
        let pending = PendingCreate {
            key: row
                .maybe_text("create_key")?
                .unwrap_or_else(|| key.to_owned()),
            requested_by: id_column(&row, "create_requested_by", UserId::parse)?,
        };
        tx.commit().await?;
        Ok(pending)
    }

    async fn set_statuspage_message(
        &self,
        id: IncidentId,
        ts: &MessageTs,
    ) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "INSERT INTO statuspage_incidents (incident_id, message_ts) VALUES ($1, $2) \
                 ON CONFLICT (incident_id) DO UPDATE SET message_ts = EXCLUDED.message_ts, \
                 updated_at = {now}",
                &[Arg::Int(id.0), Arg::Text(ts.as_str())],
            )
            .await?;
        Ok(())
    }

    async fn set_statuspage_incident(
        &self,
        id: IncidentId,
        statuspage_id: &str,
        status: &str,
        touched: &[String],
        action: &StatuspageAction<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = write(self).await?;
        // Serialised on the incident (even across replicas), so the union
        // below never loses what a concurrent update touched.
        tx.execute(
            "SELECT id FROM incidents WHERE id = $1{for_update}",
            &[Arg::Int(id.0)],
        )
        .await?;
        let before = tx
            .fetch_optional(
                "SELECT touched_components FROM statuspage_incidents WHERE incident_id = $1",
                &[Arg::Int(id.0)],
            )
            .await?;
        let mut all = match before {
            Some(row) => components(row.json("touched_components")?),
            None => Vec::new(),
        };
        all.extend(touched.iter().cloned());
        all.sort();
        all.dedup();
        tx.execute(
            "INSERT INTO statuspage_incidents \
             (incident_id, statuspage_id, status, touched_components) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (incident_id) DO UPDATE SET statuspage_id = EXCLUDED.statuspage_id, \
             status = EXCLUDED.status, touched_components = EXCLUDED.touched_components, \
             create_key = NULL, create_requested_by = NULL, updated_at = {now}",
            &[
                Arg::Int(id.0),
                Arg::Text(statuspage_id),
                Arg::Text(status),
                Arg::Json(serde_json::json!(all)),
            ],
        )
        .await?;
        // Who spoke to customers, and what they said: the incident's history.
        let detail = serde_json::json!({
            "action": action.action,
            "statuspage_id": statuspage_id,
            "status": status,
            "body": action.body,
            "components": touched,
        });
        record(
            &mut *tx,
            id,
            action.actor.as_str(),
            "statuspage",
            detail,
            false,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
