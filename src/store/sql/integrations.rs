//! What the optional integrations keep: react-to-create's claims and the
//! Statuspage incident each incident drives.

use std::time::Duration;

use serde_json::Value;

use super::{Arg, Backend, Conn, Read, conn, id_column, record, write};
use crate::domain::ids::{ChannelId, MessageTs, UserId};
use crate::store::{
    FollowedMove, IncidentId, PendingCreate, ReactTriggers, StatuspageAction, StatuspageLink,
    StatuspageLinks, StoreError,
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
                 create_requested_by, followed_status, notify FROM statuspage_incidents \
                 WHERE incident_id = $1",
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
            followed_status: row.maybe_text("followed_status")?,
            notify: row.boolean("notify")?,
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
        // Its status now is what Statuspage reflects once this is done: a
        // person's own action is never undone by following.
        let followed = tx
            .fetch_optional(
                "SELECT status FROM incidents WHERE id = $1{for_update}",
                &[Arg::Int(id.0)],
            )
            .await?
            .map(|row| row.text("status"))
            .transpose()?;
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
             (incident_id, statuspage_id, status, touched_components, followed_status) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (incident_id) DO UPDATE SET statuspage_id = EXCLUDED.statuspage_id, \
             status = EXCLUDED.status, touched_components = EXCLUDED.touched_components, \
             followed_status = EXCLUDED.followed_status, \
             create_key = NULL, create_requested_by = NULL, updated_at = {now}",
            &[
                Arg::Int(id.0),
                Arg::Text(statuspage_id),
                Arg::Text(status),
                Arg::Json(serde_json::json!(all)),
                Arg::MaybeText(followed.as_deref()),
            ],
        )
        .await?;
        if let Some(notify) = action.notify {
            tx.execute(
                "UPDATE statuspage_incidents SET notify = $2 WHERE incident_id = $1",
                &[Arg::Int(id.0), Arg::Bool(notify)],
            )
            .await?;
        }
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

    async fn set_statuspage_followed(
        &self,
        id: IncidentId,
        followed: &str,
        moved: Option<&FollowedMove<'_>>,
    ) -> Result<(), StoreError> {
        let mut tx = write(self).await?;
        tx.execute(
            "SELECT id FROM incidents WHERE id = $1{for_update}",
            &[Arg::Int(id.0)],
        )
        .await?;
        tx.execute(
            "UPDATE statuspage_incidents SET followed_status = $2, \
             status = COALESCE($3, status), updated_at = {now} WHERE incident_id = $1",
            &[
                Arg::Int(id.0),
                Arg::Text(followed),
                Arg::MaybeText(moved.map(|m| m.status)),
            ],
        )
        .await?;
        if let Some(moved) = moved {
            let statuspage_id = tx
                .fetch_optional(
                    "SELECT statuspage_id FROM statuspage_incidents WHERE incident_id = $1",
                    &[Arg::Int(id.0)],
                )
                .await?
                .map(|row| row.maybe_text("statuspage_id"))
                .transpose()?
                .flatten();
            // Janus spoke to customers on its own: the history says so, and
            // which incident status it followed.
            let detail = serde_json::json!({
                "action": moved.action,
                "statuspage_id": statuspage_id,
                "status": moved.status,
                "body": moved.body,
                "following": followed,
            });
            record(&mut *tx, id, "janus", "statuspage", detail, false).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unfollowed_statuspage(
        &self,
        settled: Duration,
    ) -> Result<Vec<IncidentId>, StoreError> {
        let rows = conn(self)
            .await?
            .fetch_all(
                "SELECT s.incident_id FROM statuspage_incidents s \
                 JOIN incidents i ON i.id = s.incident_id \
                 WHERE s.statuspage_id IS NOT NULL \
                 AND (s.followed_status IS NULL OR s.followed_status <> i.status) \
                 AND i.updated_at < {cutoff} ORDER BY s.incident_id",
                &[Arg::Float(settled.as_secs_f64())],
            )
            .await?;
        rows.iter()
            .map(|row| Ok(IncidentId(row.int("incident_id")?)))
            .collect()
    }
}
