//! Reminders: the open incidents' quiet periods, read from what is stored,
//! and the claims replicas take before posting a reminder.

use chrono::{DateTime, Utc};

use super::{Arg, Backend, Conn, Read, conn};
use crate::store::{IncidentId, QuietIncident, ReminderClaim, Reminders, StoreError};

/// Microseconds since the Unix epoch: the claim's key for a quiet period,
/// exact on both backends (both store microseconds).
fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

#[async_trait::async_trait]
impl<B: Backend> Reminders for B {
    async fn quiet_incidents(
        &self,
        resolved_status: &str,
    ) -> Result<(DateTime<Utc>, Vec<QuietIncident>), StoreError> {
        let mut conn = conn(self).await?;
        let now = conn
            .fetch_optional("SELECT {now} AS now", &[])
            .await?
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))?
            .time("now")?;
        // `->>` reads a JSON field in both Postgres (jsonb) and SQLite (text).
        let rows = conn
            .fetch_all(
                "SELECT i.id, i.severity, i.completed_at, \
                 (SELECT max(e.at) FROM incident_events e \
                  WHERE e.incident_id = i.id AND e.kind = 'update') AS last_update, \
                 (SELECT max(e.at) FROM incident_events e \
                  WHERE e.incident_id = i.id AND e.kind = 'status' \
                  AND e.detail ->> 'from' = $1) AS last_reopened, \
                 (SELECT max(r.fired_at) FROM reminders r \
                  WHERE r.incident_id = i.id AND r.kind = 'update') AS last_reminder, \
                 (SELECT count(*) FROM reminders r \
                  WHERE r.incident_id = i.id AND r.kind = 'commander') AS commander_checks \
                 FROM incidents i \
                 WHERE i.resolved_at IS NULL AND i.completed_at IS NOT NULL \
                 AND i.channel_id IS NOT NULL ORDER BY i.id",
                &[Arg::Text(resolved_status)],
            )
            .await?;
        let incidents = rows
            .iter()
            .map(|row| {
                Ok(QuietIncident {
                    id: IncidentId(row.int("id")?),
                    severity: row.text("severity")?,
                    completed_at: row.time("completed_at")?,
                    last_update: row.maybe_time("last_update")?,
                    last_reopened: row.maybe_time("last_reopened")?,
                    last_reminder: row.maybe_time("last_reminder")?,
                    commander_checked: row.int("commander_checks")? > 0,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((now, incidents))
    }

    async fn claim_reminder(&self, claim: &ReminderClaim) -> Result<bool, StoreError> {
        // `{cutoff}` is `{now}` minus `$1` seconds: the due time, by the
        // database's clock. A concurrent claim of the same period waits for
        // this one's commit (the primary key), then inserts nothing.
        let inserted = conn(self)
            .await?
            .execute(
                "INSERT INTO reminders (incident_id, kind, since_micros, due_at, fired_at, posted) \
                 VALUES ($2, $3, $4, {cutoff}, {now}, $5) \
                 ON CONFLICT (incident_id, kind, since_micros) DO NOTHING",
                &[
                    // Whole seconds: SQLite spells the number into a date modifier.
                    Arg::Float(claim.late.as_secs() as f64),
                    Arg::Int(claim.incident.0),
                    Arg::Text(claim.kind.as_str()),
                    Arg::Int(micros(claim.since)),
                    Arg::Bool(claim.posted),
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn release_reminder(&self, claim: &ReminderClaim) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "DELETE FROM reminders WHERE incident_id = $1 AND kind = $2 AND since_micros = $3",
                &[
                    Arg::Int(claim.incident.0),
                    Arg::Text(claim.kind.as_str()),
                    Arg::Int(micros(claim.since)),
                ],
            )
            .await?;
        Ok(())
    }

    async fn resolved_unarchived(&self) -> Result<Vec<(IncidentId, DateTime<Utc>)>, StoreError> {
        let rows = conn(self)
            .await?
            .fetch_all(
                "SELECT id, resolved_at FROM incidents WHERE resolved_at IS NOT NULL \
                 AND archived_at IS NULL AND channel_id IS NOT NULL ORDER BY id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| Ok((IncidentId(row.int("id")?), row.time("resolved_at")?)))
            .collect()
    }

    async fn set_archived(&self, id: IncidentId) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "UPDATE incidents SET archived_at = {now}, updated_at = {now}, \
                 version = version + 1 WHERE id = $1 AND archived_at IS NULL",
                &[Arg::Int(id.0)],
            )
            .await?;
        Ok(())
    }
}
