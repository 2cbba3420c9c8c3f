//! Stakeholder updates (Post update): entries of kind `update` in the
//! incident's history, recorded with the status they set, if any.

use serde_json::{Value, json};

use super::incidents::{Field, change_field_in};
use super::{Arg, Backend, Conn, Read, claim_delivery, conn, corrupt, record, write};
use crate::domain::ids::UserId;
use crate::store::{
    IncidentId, LatestUpdate, NewUpdate, PostedUpdate, StoreError, UPDATE_KIND, Updates,
};

#[async_trait::async_trait]
impl<B: Backend> Updates for B {
    async fn record_update(
        &self,
        id: IncidentId,
        update: &NewUpdate<'_>,
    ) -> Result<PostedUpdate, StoreError> {
        let mut tx = write(self).await?;
        claim_delivery(&mut *tx, update.delivery).await?;
        // The status first, so the channel reads the status line before the
        // update that carries it, and recovery (oldest first) keeps that order.
        let status = match update.status {
            Some((value, resolved)) => {
                let field = Field::Status { resolved };
                change_field_in(&mut *tx, id, field, value, update.actor).await?
            }
            None => None,
        };
        let mut detail = json!({ "text": update.text });
        // Only a status that changed is the update's: choosing the current
        // one changes nothing, and the update says nothing of it.
        if let Some(change) = &status {
            detail["status"] = Value::from(change.to.as_str());
        }
        let event = record(
            &mut *tx,
            id,
            update.actor.as_str(),
            UPDATE_KIND,
            detail,
            true,
        )
        .await?;
        tx.commit().await?;
        Ok(PostedUpdate { event, status })
    }

    async fn latest_update(&self, id: IncidentId) -> Result<Option<LatestUpdate>, StoreError> {
        let mut conn = conn(self).await?;
        let row = conn
            .fetch_optional(
                "SELECT actor, detail, at FROM incident_events \
                 WHERE incident_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1",
                &[Arg::Int(id.0), Arg::Text(UPDATE_KIND)],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let detail = row.json("detail")?;
        let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Some(LatestUpdate {
            actor: UserId::parse(&row.text("actor")?).map_err(corrupt)?,
            text: text("text").unwrap_or_default(),
            status: text("status"),
            at: row.time("at")?,
        }))
    }
}
