//! The SQLite backend: the default store, a file next to the one Janus
//! process that uses it.
//!
//! Replicas need a database they can share, and SQLite is not one: so a
//! process takes an OS lock on `<file>.lock` for as long as its store lives,
//! and a second process on the same file refuses to start instead of sharing
//! it. Everything Postgres does with advisory locks (message and declaration
//! locks, leadership) is therefore in-process here.
//!
//! Timestamps are stored as fixed-width UTC text (see [`stamp`]) written by
//! this code, never by SQLite's clock, so comparing two of them as text
//! compares them in time, to the microsecond as in Postgres. JSON is text.
//! Every transaction that reads before it writes starts with `BEGIN
//! IMMEDIATE`: it takes the write lock first, so two of them wait for each
//! other (busy timeout) instead of one failing on a stale snapshot.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow,
};
use sqlx::{ConnectOptions, Row, Sqlite, Transaction};

use super::{
    ANNOUNCED_KINDS, Assigned, Change, ClaimOutcome, EventId, Incident, IncidentId, MessageLock,
    NewIncident, OwnedMessage, StatuspageLink, Store, StoreError, Unannounced,
};
use crate::domain::ids::{ChannelId, MessageTs, UserId};

/// The incident columns every read selects, in [`incident_from_row`]'s order.
const INCIDENT_COLUMNS: &str = "id, channel_id, channel_name, description, status, severity, \
     created_by, created_at, updated_at, resolved_at, control_ts, digest_ts, intended_name, \
     steps, declaration, completed_at";

/// The schema this binary expects, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write to finish
/// before failing: writes here take milliseconds, so this only bites when
/// something outside Janus (a backup, an `sqlite3` shell) holds the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a query waits for a free pooled connection before failing.
/// Connections are only held for a statement or a short transaction (and
/// [`BUSY_TIMEOUT`] bounds each of those), so a longer wait means something
/// is stuck, and saying so beats hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// A SQLite-backed [`Store`] for one process.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file, absolute, for messages.
    path: PathBuf,
    declaration_locks: KeyedLocks,
    /// Held by the recovery leader; a second taker in this process gets `None`.
    leader: Arc<tokio::sync::Mutex<()>>,
    /// The OS lock on `<file>.lock`; released when the store is dropped
    /// (or the process dies), never earlier.
    _process_lock: std::fs::File,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating the file if missing, but never its directory) the
    /// database `url` names (`sqlite://path`, `sqlite:path`) and takes the
    /// one-process lock on it. Does not migrate.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("{e}")))?;
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::InvalidUrl(
                "an in-memory SQLite database would forget every incident at exit; name a file, \
                 such as sqlite:///var/lib/janus/janus.db"
                    .to_owned(),
            ));
        }
        let given = options.get_filename().to_path_buf();
        let path = std::path::absolute(&given).unwrap_or(given);
        let fail = |reason: String| StoreError::Sqlite {
            path: path.display().to_string(),
            reason,
        };
        let directory = path.parent().unwrap_or(Path::new("/"));
        if !directory.is_dir() {
            return Err(fail(format!(
                "the directory {} does not exist; create it, or point DATABASE_URL elsewhere",
                directory.display()
            )));
        }
        let process_lock = take_process_lock(&path)?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Statement logging at INFO would flood the log with every dedupe insert.
            .log_statements(log::LevelFilter::Debug);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| fail(e.to_string()))?;
        tracing::info!(path = %path.display(), "using the SQLite database (one process only)");
        Ok(Self {
            pool,
            path,
            declaration_locks: KeyedLocks::default(),
            leader: Arc::default(),
            _process_lock: process_lock,
        })
    }

    /// The database file, absolute.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A transaction that holds the write lock from its first statement.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Locks `<path>.lock` for this process, or says who to blame. A sidecar
/// rather than the database itself, so this lock (flock) can never meddle
/// with SQLite's own locks (fcntl) on the file. The sidecar stays behind
/// after exit: deleting it could let two processes lock two different files.
fn take_process_lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| StoreError::Sqlite {
            path: path.display().to_string(),
            reason: format!("cannot create its lock file {}: {e}", lock_path.display()),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Sqlite {
            path: path.display().to_string(),
            reason: format!("cannot lock {}: {e}", lock_path.display()),
        }),
    }
}

/// One async mutex per incident, made on first use. The map is behind a
/// std mutex because it is only held to find or add an entry, never across
/// an await; entries nobody holds or waits for are dropped on the way.
#[derive(Default)]
struct KeyedLocks(std::sync::Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>);

impl KeyedLocks {
    fn get(&self, key: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Only clones made under this std mutex hold an entry, so a count of
        // one means no guard and no waiter: safe to forget.
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
        map.entry(key).or_default().clone()
    }
}

/// The one text form of a timestamp in this database: UTC, microseconds,
/// fixed width (`2026-01-31T12:34:56.123456Z`), so text order is time order.
/// The schema's defaults write the same width.
fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn now() -> String {
    stamp(Utc::now())
}

/// A decoding failure: data this code did not write, reported as such.
fn corrupt(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Query(sqlx::Error::Decode(Box::new(e)))
}

/// Reads an id column; a malformed one is data corruption, reported as such.
fn id_column<T>(
    row: &SqliteRow,
    column: &str,
    parse: impl Fn(&str) -> Result<T, crate::domain::ids::InvalidId>,
) -> Result<Option<T>, StoreError> {
    let raw: Option<String> = row.try_get(column)?;
    raw.map(|v| parse(&v).map_err(corrupt)).transpose()
}

fn incident_from_row(row: &SqliteRow) -> Result<Incident, StoreError> {
    let steps: String = row.try_get("steps")?;
    let declaration: Option<String> = row.try_get("declaration")?;
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
        steps: serde_json::from_str(&steps).unwrap_or_default(),
        declaration: declaration
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(corrupt)?,
        completed: row.try_get::<Option<String>, _>("completed_at")?.is_some(),
    })
}

impl SqliteStore {
    /// Fills in the role holders of `incidents` with one query.
    async fn with_roles(&self, mut incidents: Vec<Incident>) -> Result<Vec<Incident>, StoreError> {
        if incidents.is_empty() {
            return Ok(incidents);
        }
        let ids: Vec<i64> = incidents.iter().map(|i| i.id.0).collect();
        let rows = sqlx::query(
            "SELECT incident_id, role, user_id FROM role_assignments \
             WHERE incident_id IN (SELECT value FROM json_each(?1)) \
             ORDER BY assigned_at, rowid",
        )
        .bind(serde_json::json!(ids).to_string())
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

    /// One incident by a `WHERE` clause on `?1`.
    async fn incident_where(
        &self,
        clause: &'static str,
        bind: impl for<'q> sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + Send + 'static,
    ) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {clause}"
        )))
        .bind(bind)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(self.with_roles(vec![incident_from_row(&row)?]).await?.pop())
    }
}

/// Appends to an incident's history, inside the caller's transaction so the
/// change and its record commit together; `touch` also bumps `updated_at`.
async fn record(
    conn: &mut SqliteConnection,
    id: i64,
    actor: &str,
    kind: &str,
    detail: serde_json::Value,
    touch: bool,
    at: &str,
) -> Result<EventId, StoreError> {
    // Kinds that get a line in the channel start unannounced.
    let announced = (!ANNOUNCED_KINDS.contains(&kind)).then_some(at);
    let event: i64 = sqlx::query_scalar(
        "INSERT INTO incident_events (incident_id, actor, kind, detail, at, announced_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )
    .bind(id)
    .bind(actor)
    .bind(kind)
    .bind(detail.to_string())
    .bind(at)
    .bind(announced)
    .fetch_one(&mut *conn)
    .await?;
    if touch {
        sqlx::query("UPDATE incidents SET updated_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(EventId(event))
}

/// Records a delivery inside the caller's (write) transaction, so the
/// delivery and the change it asks for commit together (or neither does).
/// A delivery already recorded is [`StoreError::Redelivered`].
async fn claim_delivery(conn: &mut SqliteConnection, key: &str) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO processed_envelopes (dedupe_key, received_at) VALUES (?1, ?2) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(key)
    .bind(now())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::Redelivered(key.to_owned()))
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                file: Some(self.path.display().to_string()),
                source,
            })
    }

    async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let table: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await?;
        let applied: Vec<i64> = if table == 0 {
            Vec::new()
        } else {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?
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
            "INSERT INTO processed_envelopes (dedupe_key, received_at) VALUES (?1, ?2) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(key)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn create_incident(&self, new: &NewIncident) -> Result<IncidentId, StoreError> {
        let at = now();
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (description, status, severity, created_by, declared_in, \
             declaration, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id",
        )
        .bind(&new.description)
        .bind(&new.status)
        .bind(&new.severity)
        .bind(new.created_by.as_str())
        .bind(new.declared_in.as_ref().map(ChannelId::as_str))
        .bind(new.declaration.to_string())
        .bind(&at)
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
            &at,
        )
        .await?;
        tx.commit().await?;
        Ok(IncidentId(id))
    }

    async fn set_intended_name(&self, id: IncidentId, name: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET intended_name = ?2 WHERE id = ?1")
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
            "UPDATE incidents SET steps = json_insert(steps, '$[#]', ?2) \
             WHERE id = ?1 AND NOT EXISTS \
             (SELECT 1 FROM json_each(incidents.steps) WHERE json_each.value = ?2)",
        )
        .bind(id.0)
        .bind(step.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn complete_declaration(&self, id: IncidentId) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET completed_at = ?2 WHERE id = ?1")
            .bind(id.0)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_published(
        &self,
        id: IncidentId,
        updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET published_at = ?2 \
             WHERE id = ?1 AND (published_at IS NULL OR published_at < ?2)",
        )
        .bind(id.0)
        .bind(stamp(updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn try_become_leader(&self) -> Result<Option<MessageLock>, StoreError> {
        // The file lock already makes this the only process on the database,
        // so it leads; the mutex keeps "one leader at a time" true within it.
        Ok(self
            .leader
            .clone()
            .try_lock_owned()
            .ok()
            .map(MessageLock::new))
    }

    async fn unpublished_changes(&self, settled: Duration) -> Result<Vec<IncidentId>, StoreError> {
        let cutoff = chrono::Duration::from_std(settled)
            .ok()
            .and_then(|settled| Utc::now().checked_sub_signed(settled));
        // Nothing was changed before the dawn of time.
        let Some(cutoff) = cutoff else {
            return Ok(Vec::new());
        };
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM incidents WHERE completed_at IS NOT NULL AND channel_id IS NOT NULL \
             AND (published_at IS NULL OR updated_at > published_at) \
             AND updated_at < ?1 ORDER BY updated_at, id",
        )
        .bind(stamp(cutoff))
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(IncidentId).collect())
    }

    async fn incomplete_declarations(&self) -> Result<Vec<IncidentId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM incidents WHERE completed_at IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(IncidentId).collect())
    }

    async fn try_lock_declaration(
        &self,
        id: IncidentId,
    ) -> Result<Option<MessageLock>, StoreError> {
        Ok(self
            .declaration_locks
            .get(id.0)
            .try_lock_owned()
            .ok()
            .map(MessageLock::new))
    }

    async fn discard_incident(&self, id: IncidentId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM incidents WHERE id = ?1 AND channel_id IS NULL")
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
            "UPDATE incidents SET channel_id = ?2, channel_name = ?3, updated_at = ?4 \
             WHERE id = ?1",
        )
        .bind(id.0)
        .bind(channel.as_str())
        .bind(name)
        .bind(now())
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
            OwnedMessage::Control => "UPDATE incidents SET control_ts = ?2 WHERE id = ?1",
            OwnedMessage::Digest => "UPDATE incidents SET digest_ts = ?2 WHERE id = ?1",
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
        self.incident_where("channel_id = ?1", channel.as_str().to_owned())
            .await
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        self.incident_where("id = ?1", id.0).await
    }

    async fn open_incidents(&self, limit: u32) -> Result<(Vec<Incident>, u64), StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS}, count(*) OVER () AS total FROM incidents \
             WHERE resolved_at IS NULL AND channel_id IS NOT NULL \
             ORDER BY created_at DESC, id DESC LIMIT ?1"
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
        let cutoff = chrono::Duration::from_std(settled)
            .ok()
            .and_then(|settled| Utc::now().checked_sub_signed(settled));
        let Some(cutoff) = cutoff else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT id, incident_id, actor, kind, detail FROM incident_events \
             WHERE announced_at IS NULL AND at < ?1 ORDER BY id",
        )
        .bind(stamp(cutoff))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(Unannounced {
                    id: EventId(row.try_get("id")?),
                    incident: IncidentId(row.try_get("incident_id")?),
                    actor: row.try_get("actor")?,
                    kind: row.try_get("kind")?,
                    detail: serde_json::from_str(&detail).map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn mark_announced(&self, event: EventId) -> Result<(), StoreError> {
        sqlx::query("UPDATE incident_events SET announced_at = ?2 WHERE id = ?1")
            .bind(event.0)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn statuspage_link(&self, id: IncidentId) -> Result<Option<StatuspageLink>, StoreError> {
        let row = sqlx::query(
            "SELECT message_ts, statuspage_id, status, touched_components FROM statuspage_incidents \
             WHERE incident_id = ?1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let touched: String = row.try_get("touched_components")?;
        Ok(Some(StatuspageLink {
            message_ts: id_column(&row, "message_ts", MessageTs::parse)?,
            statuspage_id: row.try_get("statuspage_id")?,
            status: row.try_get("status")?,
            touched_components: serde_json::from_str(&touched).unwrap_or_default(),
        }))
    }

    async fn set_statuspage_message(
        &self,
        id: IncidentId,
        ts: &MessageTs,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO statuspage_incidents (incident_id, message_ts, updated_at) \
             VALUES (?1, ?2, ?3) \
             ON CONFLICT (incident_id) DO UPDATE SET message_ts = excluded.message_ts, \
             updated_at = excluded.updated_at",
        )
        .bind(id.0)
        .bind(ts.as_str())
        .bind(now())
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
            "INSERT INTO statuspage_incidents \
             (incident_id, statuspage_id, status, touched_components, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (incident_id) DO UPDATE SET statuspage_id = excluded.statuspage_id, \
             status = excluded.status, \
             touched_components = (SELECT json_group_array(value) FROM \
               (SELECT value FROM json_each(statuspage_incidents.touched_components) \
                UNION SELECT value FROM json_each(?4) ORDER BY value)), \
             updated_at = excluded.updated_at",
        )
        .bind(id.0)
        .bind(statuspage_id)
        .bind(status)
        .bind(serde_json::json!(touched).to_string())
        .bind(now())
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
            "INSERT INTO react_triggers (source_channel, source_ts, reacted_by, created_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )
        .bind(channel.as_str())
        .bind(ts.as_str())
        .bind(user.as_str())
        .bind(now())
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
            "UPDATE react_triggers SET incident_id = ?3 \
             WHERE source_channel = ?1 AND source_ts = ?2",
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
        sqlx::query("DELETE FROM react_triggers WHERE source_channel = ?1 AND source_ts = ?2")
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
        // One write transaction: the insert and the read of the holder see
        // the same state, so no retry is needed (Postgres's has one).
        let at = now();
        let mut tx = self.write().await?;
        claim_delivery(&mut tx, delivery).await?;
        let inserted = sqlx::query(
            "INSERT INTO role_assignments (incident_id, role, user_id, assigned_by, assigned_at) \
             VALUES (?1, ?2, ?3, ?3, ?4) ON CONFLICT (incident_id, role) DO NOTHING",
        )
        .bind(id.0)
        .bind(role)
        .bind(user.as_str())
        .bind(&at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            let detail =
                serde_json::json!({ "role": role, "holder": user.as_str(), "how": "claimed" });
            let event = record(&mut tx, id.0, user.as_str(), "role", detail, true, &at).await?;
            tx.commit().await?;
            return Ok(ClaimOutcome::Claimed(event));
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM role_assignments WHERE incident_id = ?1 AND role = ?2",
        )
        .bind(id.0)
        .bind(role)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let holder = holder
            .ok_or(StoreError::Query(sqlx::Error::RowNotFound))
            .and_then(|h| UserId::parse(&h).map_err(corrupt))?;
        Ok(if &holder == user {
            ClaimOutcome::AlreadyYours
        } else {
            ClaimOutcome::HeldBy(holder)
        })
    }

    async fn assign_role(
        &self,
        id: IncidentId,
        role: &str,
        user: &UserId,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Assigned, StoreError> {
        // The write lock serialises assignments, so "previous" is always the
        // real previous.
        let at = now();
        let mut tx = self.write().await?;
        claim_delivery(&mut tx, delivery).await?;
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM role_assignments WHERE incident_id = ?1 AND role = ?2",
        )
        .bind(id.0)
        .bind(role)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO role_assignments (incident_id, role, user_id, assigned_by, assigned_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (incident_id, role) \
             DO UPDATE SET user_id = excluded.user_id, assigned_by = excluded.assigned_by, \
             assigned_at = excluded.assigned_at",
        )
        .bind(id.0)
        .bind(role)
        .bind(user.as_str())
        .bind(actor.as_str())
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        let mut event = None;
        if previous.as_deref() != Some(user.as_str()) {
            let detail = serde_json::json!({
                "role": role, "holder": user.as_str(), "previous": previous, "how": "assigned",
            });
            event = Some(record(&mut tx, id.0, actor.as_str(), "role", detail, true, &at).await?);
        }
        tx.commit().await?;
        Ok(Assigned {
            previous: previous.and_then(|p| UserId::parse(&p).ok()),
            event,
        })
    }
}

impl SqliteStore {
    /// Changes `status` or `severity` under the write lock and logs it.
    async fn change_field(
        &self,
        id: IncidentId,
        field: &'static str,
        value: &str,
        resolved: bool,
        actor: &UserId,
        delivery: &str,
    ) -> Result<Option<Change<String>>, StoreError> {
        let at = now();
        let mut tx = self.write().await?;
        claim_delivery(&mut tx, delivery).await?;
        let current: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {field} FROM incidents WHERE id = ?1"
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
            ("status", true) => ", resolved_at = ?3",
            ("status", false) => ", resolved_at = NULL",
            _ => "",
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE incidents SET {field} = ?2, updated_at = ?3{resolved_sql} WHERE id = ?1"
        )))
        .bind(id.0)
        .bind(value)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({ "from": current, "to": value });
        let event = record(&mut tx, id.0, actor.as_str(), field, detail, false, &at).await?;
        tx.commit().await?;
        Ok(Some(Change {
            from: current,
            to: value.to_owned(),
            event,
        }))
    }
}
