//! The Postgres backend: the production store, shared by replicas.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, Row};

use super::{
    ANNOUNCED_KINDS, Assigned, Change, ClaimOutcome, EventId, Incident, IncidentId, MessageLock,
    NewIncident, OwnedMessage, StatuspageLink, Store, StoreError, Unannounced,
};

/// Tags Janus's advisory-lock keys for declarations, so they cannot collide
/// with other advisory locks on the same database.
const DECLARATION_LOCK_TAG: i64 = 1 << 61;
/// The lock held by the replica that runs recovery.
const LEADER_LOCK_KEY: i64 = (1 << 60) | 1;
use crate::domain::ids::{ChannelId, MessageTs, UserId};

/// The incident columns every read selects, in [`incident_from_row`]'s order.
const INCIDENT_COLUMNS: &str = "id, channel_id, channel_name, description, status, severity, \
     created_by, created_at, updated_at, resolved_at, control_ts, digest_ts, intended_name, \
     steps, declaration, completed_at";

/// The schema this binary expects, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long opening a connection may take, and how long a query waits for
/// a pooled one, before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server cancels any statement running longer than this
/// (`statement_timeout`, set on every connection unless the URL's
/// `options` set it): Janus's queries take milliseconds, so a longer one is
/// stuck (a lock held by a wedged session, an overloaded server) and is
/// better reported than waited on. Migrations run without it.
const STATEMENT_TIMEOUT: &str = "15s";

/// A Postgres-backed [`Store`].
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Declaration locks: see [`DeclarationLocks`].
    declarations: Arc<tokio::sync::Mutex<DeclarationLocks>>,
}

/// Declaration locks, all held as session advisory locks on one connection
/// of their own, outside the pool: holding one keeps no transaction open
/// and no pooled connection busy however long the declaration's Slack calls
/// take, and the server releases them all when the process (that
/// connection) dies, so another replica's recovery can finish its work.
/// Session locks are re-entrant within their session, so the keys this
/// process holds are also kept here, to refuse a second taker in it.
#[derive(Debug, Default)]
struct DeclarationLocks {
    conn: Option<sqlx::PgConnection>,
    held: std::collections::HashSet<i64>,
}

/// One declaration lock; released (on its connection) when dropped.
struct DeclarationLock {
    key: i64,
    locks: Arc<tokio::sync::Mutex<DeclarationLocks>>,
}

impl Drop for DeclarationLock {
    fn drop(&mut self) {
        let (key, locks) = (self.key, self.locks.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let mut locks = locks.lock().await;
            locks.held.remove(&key);
            if let Some(conn) = locks.conn.as_mut() {
                let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .execute(conn)
                    .await;
                if unlocked.is_err() {
                    // A broken connection has lost every lock on it anyway.
                    locks.conn = None;
                    locks.held.clear();
                }
            }
        });
    }
}

impl PgStore {
    /// Connects (one connection at once, so an unreachable database is
    /// reported at start-up, not at the first click).
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Self, StoreError> {
        let mut options = PgConnectOptions::from_str(url.expose_secret())
            .map_err(|e| StoreError::InvalidUrl(redact_driver_error(&e.to_string())))?
            // Statement logging at INFO would flood the log with every dedupe insert.
            .log_statements(log::LevelFilter::Debug);
        if !options
            .get_options()
            .is_some_and(|o| o.contains("statement_timeout"))
        {
            options = options.options([("statement_timeout", STATEMENT_TIMEOUT)]);
        }
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let failed = |source| StoreError::Connect {
            target: target.clone(),
            source,
        };
        // One connection of our own first: the pool retries a refused
        // connection until its acquire timeout and then only says it timed
        // out; this says why (refused, bad password, no such database).
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .unwrap_or_else(|_| {
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                )))
            })
            .map_err(failed)?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(failed)?;
        Ok(Self {
            pool,
            declarations: Default::default(),
        })
    }

    /// The pool, for tests and future backends' shared code.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Reads an id column; a malformed one is data corruption, reported as such.
fn id_column<T>(
    row: &PgRow,
    column: &str,
    parse: impl Fn(&str) -> Result<T, crate::domain::ids::InvalidId>,
) -> Result<Option<T>, StoreError> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|v| parse(&v).map_err(|e| StoreError::Query(sqlx::Error::Decode(Box::new(e)))))
        .transpose()
}

fn incident_from_row(row: &PgRow) -> Result<Incident, StoreError> {
    Ok(Incident {
        id: IncidentId(row.try_get("id")?),
        channel_id: id_column(row, "channel_id", ChannelId::parse)?,
        channel_name: row.try_get("channel_name")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        severity: row.try_get("severity")?,
        created_by: id_column(row, "created_by", UserId::parse)?
            .ok_or_else(|| StoreError::Query(sqlx::Error::RowNotFound))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        resolved_at: row.try_get("resolved_at")?,
        control_ts: id_column(row, "control_ts", MessageTs::parse)?,
        digest_ts: id_column(row, "digest_ts", MessageTs::parse)?,
        roles: Vec::new(),
        intended_name: row.try_get("intended_name")?,
        steps: serde_json::from_value(row.try_get("steps")?).unwrap_or_default(),
        declaration: row.try_get("declaration")?,
        completed: row
            .try_get::<Option<chrono::DateTime<chrono::Utc>>, _>("completed_at")?
            .is_some(),
    })
}

impl PgStore {
    /// Fills in the role holders of `incidents` with one query.
    async fn with_roles(&self, mut incidents: Vec<Incident>) -> Result<Vec<Incident>, StoreError> {
        if incidents.is_empty() {
            return Ok(incidents);
        }
        let ids: Vec<i64> = incidents.iter().map(|i| i.id.0).collect();
        let rows = sqlx::query(
            "SELECT incident_id, role, user_id FROM role_assignments \
             WHERE incident_id = ANY($1) ORDER BY assigned_at",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let id: i64 = row.try_get("incident_id")?;
            let role: String = row.try_get("role")?;
            let Some(user) = id_column(&row, "user_id", UserId::parse)? else {
                continue;
            };
            if let Some(incident) = incidents.iter_mut().find(|i| i.id.0 == id) {
                incident.roles.push((role, user));
            }
        }
        Ok(incidents)
    }
}

/// Appends to an incident's history, inside the caller's transaction so the
/// change and its record commit together; `touch` also bumps `updated_at`.
/// Kinds that get a line in the channel start unannounced.
async fn record(
    conn: &mut sqlx::PgConnection,
    id: i64,
    actor: &str,
    kind: &str,
    detail: serde_json::Value,
    touch: bool,
) -> Result<EventId, StoreError> {
    let announced = !ANNOUNCED_KINDS.contains(&kind);
    let event: i64 = sqlx::query_scalar(
        "INSERT INTO incident_events (incident_id, actor, kind, detail, announced_at) \
         VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END) RETURNING id",
    )
    .bind(id)
    .bind(actor)
    .bind(kind)
    .bind(detail)
    .bind(announced)
    .fetch_one(&mut *conn)
    .await?;
    if touch {
        sqlx::query("UPDATE incidents SET updated_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(EventId(event))
}

/// Records a delivery inside the caller's transaction, so the delivery and
/// the change it asks for commit together (or neither does). A delivery
/// already recorded is [`StoreError::Redelivered`]; a concurrent one waits
/// for the first to commit, then is refused the same way.
async fn claim_delivery(conn: &mut sqlx::PgConnection, key: &str) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO processed_envelopes (dedupe_key) VALUES ($1) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(key)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::Redelivered(key.to_owned()))
    }
}

/// sqlx's URL errors can echo the URL; keep only the first clause.
fn redact_driver_error(message: &str) -> String {
    message
        .split(['@', '/'])
        .next()
        .unwrap_or("invalid URL")
        .to_owned()
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let failed = |source| StoreError::Migrate { file: None, source };
        let execute = |e| failed(sqlx::migrate::MigrateError::Execute(e));
        // On a connection of its own, without the statement timeout: a
        // migration on a big table, or the wait for another replica's, may
        // take longer than any query should. Closed afterwards rather than
        // returned to the pool with the timeout off.
        let mut conn = self.pool.acquire().await.map_err(execute)?.detach();
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut conn)
            .await
            .map_err(execute)?;
        let result = MIGRATOR
            .run_direct(None, &mut conn, false)
            .await
            .map_err(failed);
        let _ = conn.close().await;
        result
    }

    async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let applied: Vec<i64> =
            match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
            {
                Ok(versions) => versions,
                // 42P01: no migrations table yet, so nothing is applied.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
                Err(e) => return Err(e.into()),
            };
        Ok(super::not_applied(&MIGRATOR, &applied))
    }

    async fn ping(&self) -> Result<Duration, StoreError> {
        let start = Instant::now();
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(start.elapsed())
    }

    async fn first_delivery(&self, key: &str) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO processed_envelopes (dedupe_key) VALUES ($1) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(key)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn create_incident(&self, new: &NewIncident) -> Result<IncidentId, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (description, status, severity, created_by, declared_in, declaration) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&new.description)
        .bind(&new.status)
        .bind(&new.severity)
        .bind(new.created_by.as_str())
        .bind(new.declared_in.as_ref().map(ChannelId::as_str))
        .bind(&new.declaration)
        .fetch_one(&mut *tx)
        .await?;
        let detail = serde_json::json!({ "status": new.status, "severity": new.severity });
        record(
            &mut tx,
            id,
            new.created_by.as_str(),
            "declared",
            detail,
            false,
        )
        .await?;
        tx.commit().await?;
        Ok(IncidentId(id))
    }

    async fn set_intended_name(&self, id: IncidentId, name: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET intended_name = $2 WHERE id = $1")
            .bind(id.0)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_step(
        &self,
        id: IncidentId,
        step: crate::domain::declaration::DeclarationStep,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET steps = steps || to_jsonb($2::text) \
             WHERE id = $1 AND NOT steps ? $2",
        )
        .bind(id.0)
        .bind(step.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn complete_declaration(&self, id: IncidentId) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET completed_at = now() WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_published(
        &self,
        id: IncidentId,
        updated_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET published_at = $2 \
             WHERE id = $1 AND (published_at IS NULL OR published_at < $2)",
        )
        .bind(id.0)
        .bind(updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn try_become_leader(&self) -> Result<Option<MessageLock>, StoreError> {
        // A session lock on a connection of its own, taken out of the pool:
        // it is released exactly when that connection (the process) ends.
        let mut conn = self.pool.acquire().await?.detach();
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        Ok(leader.then(|| MessageLock::new(tokio::sync::Mutex::new(conn))))
    }

    async fn unpublished_changes(&self, settled: Duration) -> Result<Vec<IncidentId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM incidents WHERE completed_at IS NOT NULL AND channel_id IS NOT NULL \
             AND (published_at IS NULL OR updated_at > published_at) \
             AND updated_at < now() - make_interval(secs => $1) ORDER BY updated_at",
        )
        .bind(settled.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(IncidentId).collect())
    }

    async fn incomplete_declarations(&self) -> Result<Vec<IncidentId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM incidents WHERE completed_at IS NULL ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(IncidentId).collect())
    }

    async fn try_lock_declaration(
        &self,
        id: IncidentId,
    ) -> Result<Option<MessageLock>, StoreError> {
        let key = DECLARATION_LOCK_TAG | id.0;
        let mut locks = self.declarations.lock().await;
        if locks.held.contains(&key) {
            return Ok(None);
        }
        let conn = match &mut locks.conn {
            Some(conn) => conn,
            empty => empty.insert(self.pool.acquire().await?.detach()),
        };
        let locked = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(conn)
            .await;
        match locked {
            Ok(true) => {
                locks.held.insert(key);
                Ok(Some(MessageLock::new(DeclarationLock {
                    key,
                    locks: self.declarations.clone(),
                })))
            }
            Ok(false) => Ok(None),
            Err(e) => {
                // Its locks went with it; the next taker opens another.
                locks.conn = None;
                locks.held.clear();
                Err(e.into())
            }
        }
    }

    async fn discard_incident(&self, id: IncidentId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM incidents WHERE id = $1 AND channel_id IS NULL")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_channel(
        &self,
        id: IncidentId,
        channel: &ChannelId,
        name: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET channel_id = $2, channel_name = $3, updated_at = now() \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(channel.as_str())
        .bind(name)
        .execute(&self.pool)
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
        sqlx::query(sql)
            .bind(id.0)
            .bind(ts.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn incident_by_channel(
        &self,
        channel: &ChannelId,
    ) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE channel_id = $1"
        )))
        .bind(channel.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(self.with_roles(vec![incident_from_row(&row)?]).await?.pop())
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(self.with_roles(vec![incident_from_row(&row)?]).await?.pop())
    }

    async fn open_incidents(&self, limit: u32) -> Result<(Vec<Incident>, u64), StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS}, count(*) OVER () AS total FROM incidents \
             WHERE resolved_at IS NULL AND channel_id IS NOT NULL \
             ORDER BY created_at DESC, id DESC LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let total = match rows.first() {
            Some(row) => row.try_get::<i64, _>("total")? as u64,
            // No rows: none are open, or `limit` is 0 and only the count is wanted.
            None => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM incidents \
                 WHERE resolved_at IS NULL AND channel_id IS NOT NULL",
                )
                .fetch_one(&self.pool)
                .await? as u64
            }
        };
        let incidents = rows
            .iter()
            .map(incident_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((self.with_roles(incidents).await?, total))
    }

    async fn set_status(
        &self,
        id: IncidentId,
        status: &str,
        resolved: bool,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Option<Change<String>>, StoreError> {
        self.change_field(id, "status", status, resolved, actor, delivery)
            .await
    }

    async fn set_severity(
        &self,
        id: IncidentId,
        severity: &str,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Option<Change<String>>, StoreError> {
        self.change_field(id, "severity", severity, false, actor, delivery)
            .await
    }

    async fn unannounced(&self, settled: Duration) -> Result<Vec<Unannounced>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, incident_id, actor, kind, detail FROM incident_events \
             WHERE announced_at IS NULL AND at < now() - make_interval(secs => $1) ORDER BY id",
        )
        .bind(settled.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Unannounced {
                    id: EventId(row.try_get("id")?),
                    incident: IncidentId(row.try_get("incident_id")?),
                    actor: row.try_get("actor")?,
                    kind: row.try_get("kind")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn mark_announced(&self, event: EventId) -> Result<(), StoreError> {
        sqlx::query("UPDATE incident_events SET announced_at = now() WHERE id = $1")
            .bind(event.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn statuspage_link(&self, id: IncidentId) -> Result<Option<StatuspageLink>, StoreError> {
        let row = sqlx::query(
            "SELECT message_ts, statuspage_id, status, touched_components FROM statuspage_incidents \
             WHERE incident_id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let touched: serde_json::Value = row.try_get("touched_components")?;
        Ok(Some(StatuspageLink {
            message_ts: id_column(&row, "message_ts", MessageTs::parse)?,
            statuspage_id: row.try_get("statuspage_id")?,
            status: row.try_get("status")?,
            touched_components: serde_json::from_value(touched).unwrap_or_default(),
        }))
    }

    async fn set_statuspage_message(
        &self,
        id: IncidentId,
        ts: &MessageTs,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO statuspage_incidents (incident_id, message_ts) VALUES ($1, $2) \
             ON CONFLICT (incident_id) DO UPDATE SET message_ts = EXCLUDED.message_ts, \
             updated_at = now()",
        )
        .bind(id.0)
        .bind(ts.as_str())
        .execute(&self.pool)
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
        // Union with what earlier updates touched, without duplicates.
        sqlx::query(
            "INSERT INTO statuspage_incidents (incident_id, statuspage_id, status, touched_components) \
             VALUES ($1, $2, $4, $3) \
             ON CONFLICT (incident_id) DO UPDATE SET statuspage_id = EXCLUDED.statuspage_id, \
             status = EXCLUDED.status, \
             touched_components = (SELECT coalesce(jsonb_agg(DISTINCT c), '[]'::jsonb) FROM \
               jsonb_array_elements(statuspage_incidents.touched_components || EXCLUDED.touched_components) c), \
             updated_at = now()",
        )
        .bind(id.0)
        .bind(statuspage_id)
        .bind(serde_json::json!(touched))
        .bind(status)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_react_trigger(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
        user: &UserId,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO react_triggers (source_channel, source_ts, reacted_by) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(channel.as_str())
        .bind(ts.as_str())
        .bind(user.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn link_react_trigger(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
        id: IncidentId,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE react_triggers SET incident_id = $3 \
             WHERE source_channel = $1 AND source_ts = $2",
        )
        .bind(channel.as_str())
        .bind(ts.as_str())
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_react_trigger(
        &self,
        channel: &ChannelId,
        ts: &MessageTs,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM react_triggers WHERE source_channel = $1 AND source_ts = $2")
            .bind(channel.as_str())
            .bind(ts.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim_role(
        &self,
        id: IncidentId,
        role: &str,
        user: &UserId,
        delivery: &str,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        claim_delivery(&mut tx, delivery).await?;
        // The holder can be released between the insert and the read: then
        // try again, inside the same transaction (the delivery is ours).
        for _ in 0..3 {
            let inserted = sqlx::query(
                "INSERT INTO role_assignments (incident_id, role, user_id, assigned_by) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (incident_id, role) DO NOTHING",
            )
            .bind(id.0)
            .bind(role)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if inserted {
                let detail =
                    serde_json::json!({ "role": role, "holder": user.as_str(), "how": "claimed" });
                let event = record(&mut tx, id.0, user.as_str(), "role", detail, true).await?;
                tx.commit().await?;
                return Ok(ClaimOutcome::Claimed(event));
            }
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT user_id FROM role_assignments WHERE incident_id = $1 AND role = $2",
            )
            .bind(id.0)
            .bind(role)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(holder) = holder.and_then(|h| UserId::parse(&h).ok()) {
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
        let mut tx = self.pool.begin().await?;
        claim_delivery(&mut tx, delivery).await?;
        // Lock the incident row: assignments to one incident are serialised
        // even across replicas, so "previous" is always the real previous.
        sqlx::query("SELECT id FROM incidents WHERE id = $1 FOR UPDATE")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM role_assignments WHERE incident_id = $1 AND role = $2",
        )
        .bind(id.0)
        .bind(role)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO role_assignments (incident_id, role, user_id, assigned_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id, role) \
             DO UPDATE SET user_id = EXCLUDED.user_id, assigned_by = EXCLUDED.assigned_by, \
             assigned_at = now()",
        )
        .bind(id.0)
        .bind(role)
        .bind(user.as_str())
        .bind(actor.as_str())
        .execute(&mut *tx)
        .await?;
        let mut event = None;
        if previous.as_deref() != Some(user.as_str()) {
            let detail = serde_json::json!({
                "role": role, "holder": user.as_str(), "previous": previous, "how": "assigned",
            });
            event = Some(record(&mut tx, id.0, actor.as_str(), "role", detail, true).await?);
        }
        tx.commit().await?;
        Ok(Assigned {
            previous: previous.and_then(|p| UserId::parse(&p).ok()),
            event,
        })
    }
}

impl PgStore {
    /// Changes `status` or `severity` under a row lock and logs it, with
    /// the delivery that asked for it.
    async fn change_field(
        &self,
        id: IncidentId,
        field: &'static str,
        value: &str,
        resolved: bool,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Option<Change<String>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        claim_delivery(&mut tx, delivery).await?;
        let current: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {field} FROM incidents WHERE id = $1 FOR UPDATE"
        )))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        // Nothing to change: the delivery is still recorded as handled.
        let current = match current {
            Some(current) if current != value => current,
            _ => {
                tx.commit().await?;
                return Ok(None);
            }
        };
        let resolved_sql = match (field, resolved) {
            ("status", true) => ", resolved_at = now()",
            ("status", false) => ", resolved_at = NULL",
            _ => "",
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE incidents SET {field} = $2, updated_at = now(){resolved_sql} WHERE id = $1"
        )))
        .bind(id.0)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({ "from": current, "to": value });
        let event = record(&mut tx, id.0, actor.as_str(), field, detail, false).await?;
        tx.commit().await?;
        Ok(Some(Change {
            from: current,
            to: value.to_owned(),
            event,
        }))
    }
}
