//! What the optional integrations keep: react-to-create's claims and the
//! Statuspage incident each incident drives.

use serde_json::Value;

use super::{Arg, Backend, Conn, Read, conn, id_column, write};
use crate::domain::ids::{ChannelId, MessageTs, UserId};
use crate::store::{IncidentId, ReactTriggers, StatuspageLink, StatuspageLinks, StoreError};

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
                "SELECT message_ts, statuspage_id, status, touched_components \
                 FROM statuspage_incidents WHERE incident_id = $1",
                &[Arg::Int(id.0)],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StatuspageLink {
            message_ts: id_column(&row, "message_ts", MessageTs::parse)?,
            statuspage_id: row.maybe_text("statuspage_id")?,
            status: row.maybe_text("status")?,
            touched_components: components(row.json("touched_components")?),
        }))
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
             updated_at = {now}",
            &[
                Arg::Int(id.0),
                Arg::Text(statuspage_id),
                Arg::Text(status),
                Arg::Json(serde_json::json!(all)),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
