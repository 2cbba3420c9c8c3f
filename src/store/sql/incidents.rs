//! Incidents as people change them, and what Slack has been shown of them.

use std::time::Duration;

use super::{
    Arg, Backend, Conn, Read, claim_delivery, conn, corrupt, incident_columns, incident_from_row,
    record, with_roles, write,
};
use crate::domain::ids::{ChannelId, UserId};
use crate::store::{
    Assigned, Change, ClaimOutcome, EventId, Incident, IncidentId, Incidents, Publications,
    StoreError, Unannounced,
};

/// The open incidents `open_incidents` lists, newest first.
macro_rules! open_incidents {
    () => {
        "FROM incidents WHERE resolved_at IS NULL AND channel_id IS NOT NULL \
         ORDER BY created_at DESC, id DESC LIMIT $1"
    };
}

/// One incident by a `WHERE` clause on `$1`, with its role holders.
async fn incident_where<B: Backend>(
    backend: &B,
    sql: &str,
    key: Arg<'_>,
) -> Result<Option<Incident>, StoreError> {
    let mut conn = conn(backend).await?;
    let Some(row) = conn.fetch_optional(sql, std::slice::from_ref(&key)).await? else {
        return Ok(None);
    };
    let incident = incident_from_row(&row)?;
    let id = Arg::Int(incident.id.0);
    let roles = "SELECT incident_id, role, user_id FROM role_assignments \
                 WHERE incident_id = $1 ORDER BY assigned_at, role";
    Ok(with_roles(&mut *conn, vec![incident], roles, &[id])
        .await?
        .pop())
}

#[async_trait::async_trait]
impl<B: Backend> Incidents for B {
    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        let sql = concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE id = $1"
        );
        incident_where(self, sql, Arg::Int(id.0)).await
    }

    async fn incident_by_channel(
        &self,
        channel: &ChannelId,
    ) -> Result<Option<Incident>, StoreError> {
        let sql = concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE channel_id = $1"
        );
        incident_where(self, sql, Arg::Text(channel.as_str())).await
    }

    async fn open_incidents(&self, limit: u32) -> Result<(Vec<Incident>, u64), StoreError> {
        let mut conn = conn(self).await?;
        let limit = Arg::Int(i64::from(limit));
        let rows = conn
            .fetch_all(
                concat!(
                    "SELECT ",
                    incident_columns!(),
                    ", count(*) OVER () AS total ",
                    open_incidents!()
                ),
                std::slice::from_ref(&limit),
            )
            .await?;
        let total = match rows.first() {
            Some(row) => row.int("total")?,
            // No rows: none are open, or `limit` is 0 and only the count is wanted.
            None => conn
                .fetch_optional(
                    "SELECT count(*) AS total FROM incidents \
                     WHERE resolved_at IS NULL AND channel_id IS NOT NULL",
                    &[],
                )
                .await?
                .map(|row| row.int("total"))
                .transpose()?
                .unwrap_or(0),
        };
        let incidents = rows
            .iter()
            .map(incident_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let roles = concat!(
            "SELECT incident_id, role, user_id FROM role_assignments WHERE incident_id IN \
             (SELECT id ",
            open_incidents!(),
            ") ORDER BY assigned_at, role"
        );
        let incidents = with_roles(&mut *conn, incidents, roles, &[limit]).await?;
        Ok((incidents, u64::try_from(total).unwrap_or(0)))
    }

    async fn set_status(
        &self,
        id: IncidentId,
        status: &str,
        resolved: bool,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Option<Change<String>>, StoreError> {
        let field = Field::Status { resolved };
        change_field(self, id, field, status, actor, delivery).await
    }

    async fn set_severity(
        &self,
        id: IncidentId,
        severity: &str,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Option<Change<String>>, StoreError> {
        change_field(self, id, Field::Severity, severity, actor, delivery).await
    }

    async fn claim_role(
        &self,
        id: IncidentId,
        role: &str,
        user: &UserId,
        delivery: &str,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut tx = write(self).await?;
        claim_delivery(&mut *tx, delivery).await?;
        let args = [Arg::Int(id.0), Arg::Text(role), Arg::Text(user.as_str())];
        // In Postgres the holder can be released between the insert and the
        // read: then try again, inside the same transaction (the delivery is
        // ours). SQLite's write lock makes the first round final.
        for _ in 0..3 {
            let inserted = tx
                .execute(
                    "INSERT INTO role_assignments (incident_id, role, user_id, assigned_by) \
                     VALUES ($1, $2, $3, $3) ON CONFLICT (incident_id, role) DO NOTHING",
                    &args,
                )
                .await?
                == 1;
            if inserted {
                let detail =
                    serde_json::json!({ "role": role, "holder": user.as_str(), "how": "claimed" });
                let event = record(&mut *tx, id, user.as_str(), "role", detail, true).await?;
                tx.commit().await?;
                return Ok(ClaimOutcome::Claimed(event));
            }
            if let Some(holder) = holder(&mut *tx, id, role).await? {
                tx.commit().await?;
                return Ok(if &holder == user {
                    ClaimOutcome::AlreadyYours
                } else {
                    ClaimOutcome::HeldBy(holder)
                });
            }
        }
        Err(StoreError::Query(sqlx::Error::RowNotFound))
    }

    async fn assign_role(
        &self,
        id: IncidentId,
        role: &str,
        user: &UserId,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Assigned, StoreError> {
        let mut tx = write(self).await?;
        let previous = locked_holder(&mut *tx, id, role, delivery).await?;
        tx.execute(
            "INSERT INTO role_assignments (incident_id, role, user_id, assigned_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id, role) \
             DO UPDATE SET user_id = EXCLUDED.user_id, assigned_by = EXCLUDED.assigned_by, \
             assigned_at = {now}",
            &[
                Arg::Int(id.0),
                Arg::Text(role),
                Arg::Text(user.as_str()),
                Arg::Text(actor.as_str()),
            ],
        )
        .await?;
        let mut event = None;
        if previous.as_ref() != Some(user) {
            let detail = serde_json::json!({
                "role": role,
                "holder": user.as_str(),
                "previous": previous.as_ref().map(UserId::as_str),
                "how": "assigned",
            });
            event = Some(record(&mut *tx, id, actor.as_str(), "role", detail, true).await?);
        }
        tx.commit().await?;
        Ok(Assigned { previous, event })
    }

    async fn release_role(
        &self,
        id: IncidentId,
        role: &str,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Assigned, StoreError> {
        let mut tx = write(self).await?;
        let previous = locked_holder(&mut *tx, id, role, delivery).await?;
        let mut event = None;
        if let Some(held_by) = &previous {
            tx.execute(
                "DELETE FROM role_assignments WHERE incident_id = $1 AND role = $2",
                &[Arg::Int(id.0), Arg::Text(role)],
            )
            .await?;
            let detail = serde_json::json!({
                "role": role,
                "holder": null,
                "previous": held_by.as_str(),
                "how": "released",
            });
            event = Some(record(&mut *tx, id, actor.as_str(), "role", detail, true).await?);
        }
        tx.commit().await?;
        Ok(Assigned { previous, event })
    }
}

/// Records the delivery and locks the incident, then reads the holder of
/// `role`: assignments and releases of one incident are serialised, even
/// across replicas, so the holder read is the real previous one.
async fn locked_holder<C: Conn + ?Sized>(
    conn: &mut C,
    id: IncidentId,
    role: &str,
    delivery: &str,
) -> Result<Option<UserId>, StoreError> {
    claim_delivery(&mut *conn, delivery).await?;
    conn.execute(
        "SELECT id FROM incidents WHERE id = $1{for_update}",
        &[Arg::Int(id.0)],
    )
    .await?;
    holder(conn, id, role).await
}

/// The holder of `role`, if any.
async fn holder<C: Conn + ?Sized>(
    conn: &mut C,
    id: IncidentId,
    role: &str,
) -> Result<Option<UserId>, StoreError> {
    let row = conn
        .fetch_optional(
            "SELECT user_id FROM role_assignments WHERE incident_id = $1 AND role = $2",
            &[Arg::Int(id.0), Arg::Text(role)],
        )
        .await?;
    row.map(|row| UserId::parse(&row.text("user_id")?).map_err(corrupt))
        .transpose()
}

/// The fields a click changes.
#[derive(Clone, Copy)]
pub(super) enum Field {
    Status { resolved: bool },
    Severity,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Status { .. } => "status",
            Field::Severity => "severity",
        }
    }
}

/// Changes `status` or `severity` under a lock on the incident and logs it,
/// with the delivery that asked for it.
async fn change_field<B: Backend>(
    backend: &B,
    id: IncidentId,
    field: Field,
    value: &str,
    actor: &UserId,
    delivery: &str,
) -> Result<Option<Change<String>>, StoreError> {
    let mut tx = write(backend).await?;
    claim_delivery(&mut *tx, delivery).await?;
    let change = change_field_in(&mut *tx, id, field, value, actor).await?;
    // Nothing to change: the delivery is still recorded as handled.
    tx.commit().await?;
    Ok(change)
}

/// [`change_field`] inside the caller's write transaction (which recorded
/// the delivery): an update's status goes through here too, so it is the
/// same change with the same history entry as the select's.
pub(super) async fn change_field_in<C: Conn + ?Sized>(
    tx: &mut C,
    id: IncidentId,
    field: Field,
    value: &str,
    actor: &UserId,
) -> Result<Option<Change<String>>, StoreError> {
    let (read, update) = match field {
        Field::Status { resolved: true } => (
            "SELECT status AS value FROM incidents WHERE id = $1{for_update}",
            "UPDATE incidents SET status = $2, resolved_at = {now}, updated_at = {now}, \
             version = version + 1 WHERE id = $1",
        ),
        Field::Status { resolved: false } => (
            "SELECT status AS value FROM incidents WHERE id = $1{for_update}",
            "UPDATE incidents SET status = $2, resolved_at = NULL, updated_at = {now}, \
             version = version + 1 WHERE id = $1",
        ),
        Field::Severity => (
            "SELECT severity AS value FROM incidents WHERE id = $1{for_update}",
            "UPDATE incidents SET severity = $2, updated_at = {now}, version = version + 1 \
             WHERE id = $1",
        ),
    };
    let current = tx
        .fetch_optional(read, &[Arg::Int(id.0)])
        .await?
        .map(|row| row.text("value"))
        .transpose()?;
    let current = match current {
        Some(current) if current != value => current,
        _ => return Ok(None),
    };
    // The update moves the version itself: one statement, so that in
    // SQLite (whose clock is read per statement) `resolved_at` and
    // `updated_at` are the same instant, as in Postgres.
    tx.execute(update, &[Arg::Int(id.0), Arg::Text(value)])
        .await?;
    let detail = serde_json::json!({ "from": current, "to": value });
    let event = record(tx, id, actor.as_str(), field.name(), detail, false).await?;
    Ok(Some(Change {
        from: current,
        to: value.to_owned(),
        event,
    }))
}

#[async_trait::async_trait]
impl<B: Backend> Publications for B {
    async fn mark_published(&self, id: IncidentId, version: i64) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "UPDATE incidents SET published_version = $2 WHERE id = $1 \
                 AND (published_version IS NULL OR published_version < $2)",
                &[Arg::Int(id.0), Arg::Int(version)],
            )
            .await?;
        Ok(())
    }

    async fn unpublished_changes(&self, settled: Duration) -> Result<Vec<IncidentId>, StoreError> {
        let rows = conn(self)
            .await?
            .fetch_all(
                "SELECT id FROM incidents \
                 WHERE completed_at IS NOT NULL AND channel_id IS NOT NULL \
                 AND (published_version IS NULL OR version > published_version) \
                 AND updated_at < {cutoff} ORDER BY updated_at, id",
                &[Arg::Float(settled.as_secs_f64())],
            )
            .await?;
        rows.iter()
            .map(|row| Ok(IncidentId(row.int("id")?)))
            .collect()
    }

    async fn unannounced(&self, settled: Duration) -> Result<Vec<Unannounced>, StoreError> {
        let rows = conn(self)
            .await?
            .fetch_all(
                "SELECT id, incident_id, actor, kind, detail FROM incident_events \
                 WHERE announced_at IS NULL AND at < {cutoff} ORDER BY id",
                &[Arg::Float(settled.as_secs_f64())],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Unannounced {
                    id: EventId(row.int("id")?),
                    incident: IncidentId(row.int("incident_id")?),
                    actor: row.text("actor")?,
                    kind: row.text("kind")?,
                    detail: row.json("detail")?,
                })
            })
            .collect()
    }

    async fn mark_announced(&self, event: EventId) -> Result<(), StoreError> {
        conn(self)
            .await?
            .execute(
                "UPDATE incident_events SET announced_at = {now} WHERE id = $1",
                &[Arg::Int(event.0)],
            )
            .await?;
        Ok(())
    }
}
