//! The one implementation of the store's traits, for both backends.
//!
//! sqlx's `Any` driver cannot carry timestamps or JSON, and code generic
//! over sqlx's `Database` drowns in bounds. So the shared code talks to a
//! connection through [`Conn`]: a statement's text and its arguments, as the
//! few value types Janus stores ([`Arg`]), and rows read through [`Read`].
//! Each backend implements those with [`sql_conn!`] and says how to start a
//! write ([`Backend`]); everything else — the control flow of every
//! operation and the mapping from rows to the store's types — is here, once.
//!
//! The SQL is shared too. Where the dialects differ, a statement names the
//! difference with a token the backend replaces: `{now}` (the time, in the
//! database's form), `{cutoff}` (`{now}` minus `$1` seconds) and
//! `{for_update}` (a row lock in Postgres; SQLite locks the whole database
//! for a write transaction instead). Placeholders are `$1`, `$2`… in both.

mod declarations;
mod incidents;
mod integrations;
mod reminders;
mod timeline;
mod updates;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ANNOUNCED_KINDS, EventId, Incident, IncidentId, StoreError};
use crate::domain::ids::{ChannelId, InvalidId, MessageTs, UserId};

/// A value bound to a statement: the types Janus stores.
#[derive(Debug)]
pub(super) enum Arg<'a> {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Json(Value),
}

/// A connection (or a transaction: both dereference to one) as the shared
/// code uses it. `sql` may hold the dialect tokens described above.
#[async_trait::async_trait]
pub(super) trait Conn: Send {
    type Row: Read + Send;

    /// Runs a statement; returns how many rows it changed.
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error>;

    async fn fetch_all(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Self::Row>, sqlx::Error>;

    async fn fetch_optional(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<Self::Row>, sqlx::Error>;
}

/// A row's columns, as the types Janus stores.
pub(super) trait Read {
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn boolean(&self, column: &str) -> Result<bool, sqlx::Error>;
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn maybe_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn time(&self, column: &str) -> Result<DateTime<Utc>, sqlx::Error>;
    fn maybe_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
    fn json(&self, column: &str) -> Result<Value, sqlx::Error>;
    fn maybe_json(&self, column: &str) -> Result<Option<Value>, sqlx::Error>;
}

/// What a backend adds to the shared code: its pool, and how a transaction
/// that will write starts.
pub(super) trait Backend: Send + Sync + 'static {
    type Db: sqlx::Database<Connection: Conn>;

    /// `BEGIN` in Postgres (rows are locked with `{for_update}`); `BEGIN
    /// IMMEDIATE` in SQLite, which takes the write lock first, so that two
    /// such transactions wait for each other (busy timeout) instead of one
    /// failing on a stale snapshot.
    const BEGIN_WRITE: &'static str;

    /// A statement that makes the write transaction it runs in wait for any
    /// other one that counts the declarations of the same declarer (`$1`):
    /// a transaction-scoped advisory lock in Postgres. `None` in SQLite,
    /// whose write transactions already run one at a time.
    const LOCK_DECLARER: Option<&'static str>;

    fn pool(&self) -> &sqlx::Pool<Self::Db>;
}

/// A pooled connection, for statements that stand alone.
async fn conn<B: Backend>(backend: &B) -> Result<sqlx::pool::PoolConnection<B::Db>, StoreError> {
    Ok(backend.pool().acquire().await?)
}

/// A transaction that will write; see [`Backend::BEGIN_WRITE`].
async fn write<B: Backend>(backend: &B) -> Result<sqlx::Transaction<'static, B::Db>, StoreError> {
    Ok(backend.pool().begin_with(B::BEGIN_WRITE).await?)
}

/// Implements [`Conn`] and [`Read`] for one sqlx driver, replacing the
/// dialect tokens with `now`, `cutoff` and `for_update`.
macro_rules! sql_conn {
    ($connection:ty, $row:ty, now: $now:literal, cutoff: $cutoff:literal, for_update: $lock:literal) => {
        impl $crate::store::sql::Read for $row {
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn boolean(&self, column: &str) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn maybe_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn time(&self, column: &str) -> Result<chrono::DateTime<chrono::Utc>, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn maybe_time(
                &self,
                column: &str,
            ) -> Result<Option<chrono::DateTime<chrono::Utc>>, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn json(&self, column: &str) -> Result<serde_json::Value, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
            fn maybe_json(&self, column: &str) -> Result<Option<serde_json::Value>, sqlx::Error> {
                sqlx::Row::try_get(self, column)
            }
        }

        /// The statement with its dialect tokens replaced and its arguments
        /// bound. The text is always one of the store's own statements:
        /// values only ever travel as arguments.
        fn statement<'s>(
            sql: &'s str,
            args: &[$crate::store::sql::Arg<'_>],
        ) -> sqlx::query::Query<
            's,
            <$connection as sqlx::Connection>::Database,
            <<$connection as sqlx::Connection>::Database as sqlx::Database>::Arguments,
        > {
            use $crate::store::sql::Arg;
            let sql = if sql.contains('{') {
                std::borrow::Cow::Owned(
                    sql.replace("{now}", $now)
                        .replace("{cutoff}", $cutoff)
                        .replace("{for_update}", $lock),
                )
            } else {
                std::borrow::Cow::Borrowed(sql)
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.into_owned()));
            for arg in args {
                query = match arg {
                    Arg::Int(v) => query.bind(*v),
                    Arg::Float(v) => query.bind(*v),
                    Arg::Bool(v) => query.bind(*v),
                    Arg::Text(v) => query.bind(*v),
                    Arg::MaybeText(v) => query.bind(*v),
                    Arg::Json(v) => query.bind(v.clone()),
                };
            }
            query
        }

        #[async_trait::async_trait]
        impl $crate::store::sql::Conn for $connection {
            type Row = $row;

            async fn execute(
                &mut self,
                sql: &str,
                args: &[$crate::store::sql::Arg<'_>],
            ) -> Result<u64, sqlx::Error> {
                Ok(statement(sql, args).execute(self).await?.rows_affected())
            }

            async fn fetch_all(
                &mut self,
                sql: &str,
                args: &[$crate::store::sql::Arg<'_>],
            ) -> Result<Vec<$row>, sqlx::Error> {
                statement(sql, args).fetch_all(self).await
            }

            async fn fetch_optional(
                &mut self,
                sql: &str,
                args: &[$crate::store::sql::Arg<'_>],
            ) -> Result<Option<$row>, sqlx::Error> {
                statement(sql, args).fetch_optional(self).await
            }
        }
    };
}
pub(super) use sql_conn;

/// A decoding failure: data this code did not write, reported as such.
fn corrupt(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Query(sqlx::Error::Decode(Box::new(e)))
}

/// Reads an id column; a malformed one is data corruption.
fn id_column<T>(
    row: &impl Read,
    column: &str,
    parse: impl Fn(&str) -> Result<T, InvalidId>,
) -> Result<Option<T>, StoreError> {
    row.maybe_text(column)?
        .map(|v| parse(&v).map_err(corrupt))
        .transpose()
}

/// The incident columns every read selects, as [`incident_from_row`] reads
/// them.
macro_rules! incident_columns {
    () => {
        "id, channel_id, channel_name, description, status, severity, created_by, created_at, \
         updated_at, version, resolved_at, control_ts, digest_ts, intended_name, steps, \
         declaration, completed_at, private, archived_at"
    };
}
use incident_columns;

fn incident_from_row(row: &impl Read) -> Result<Incident, StoreError> {
    Ok(Incident {
        id: IncidentId(row.int("id")?),
        channel_id: id_column(row, "channel_id", ChannelId::parse)?,
        channel_name: row.maybe_text("channel_name")?,
        description: row.text("description")?,
        status: row.text("status")?,
        severity: row.text("severity")?,
        created_by: UserId::parse(&row.text("created_by")?).map_err(corrupt)?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        version: row.int("version")?,
        resolved_at: row.maybe_time("resolved_at")?,
        control_ts: id_column(row, "control_ts", MessageTs::parse)?,
        digest_ts: id_column(row, "digest_ts", MessageTs::parse)?,
        roles: Vec::new(),
        intended_name: row.maybe_text("intended_name")?,
        steps: serde_json::from_value(row.json("steps")?).unwrap_or_default(),
        declaration: row.maybe_json("declaration")?,
        completed: row.maybe_time("completed_at")?.is_some(),
        private: row.boolean("private")?,
        archived_at: row.maybe_time("archived_at")?,
    })
}

/// Fills in the role holders of `incidents`, read by `sql` (which selects
/// `incident_id, role, user_id` with `args`), in the order they were
/// assigned.
async fn with_roles<C: Conn + ?Sized>(
    conn: &mut C,
    mut incidents: Vec<Incident>,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<Vec<Incident>, StoreError> {
    if incidents.is_empty() {
        return Ok(incidents);
    }
    for row in conn.fetch_all(sql, args).await? {
        let id = row.int("incident_id")?;
        let Some(user) = id_column(&row, "user_id", UserId::parse)? else {
            continue;
        };
        if let Some(incident) = incidents.iter_mut().find(|i| i.id.0 == id) {
            incident.roles.push((row.text("role")?, user));
        }
    }
    Ok(incidents)
}

/// Appends to an incident's history, inside the caller's transaction so the
/// change and its record commit together. `shown` marks a change Slack's
/// messages show: it moves the incident's version. Kinds that get a line in
/// the channel start unannounced.
async fn record<C: Conn + ?Sized>(
    conn: &mut C,
    id: IncidentId,
    actor: &str,
    kind: &str,
    detail: Value,
    shown: bool,
) -> Result<EventId, StoreError> {
    let row = conn
        .fetch_optional(
            "INSERT INTO incident_events (incident_id, actor, kind, detail, announced_at) \
             VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN {now} END) RETURNING id",
            &[
                Arg::Int(id.0),
                Arg::Text(actor),
                Arg::Text(kind),
                Arg::Json(detail),
                Arg::Bool(!ANNOUNCED_KINDS.contains(&kind)),
            ],
        )
        .await?
        .ok_or(StoreError::Query(sqlx::Error::RowNotFound))?;
    if shown {
        touch(conn, id).await?;
    }
    Ok(EventId(row.int("id")?))
}

/// Moves the incident's version: Slack's messages must show a change.
async fn touch<C: Conn + ?Sized>(conn: &mut C, id: IncidentId) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE incidents SET updated_at = {now}, version = version + 1 WHERE id = $1",
        &[Arg::Int(id.0)],
    )
    .await?;
    Ok(())
}

/// Records a delivery inside the caller's transaction, so the delivery and
/// the change it asks for commit together (or neither does). A delivery
/// already recorded is [`StoreError::Redelivered`]; a concurrent one waits
/// for the first to commit, then is refused the same way.
async fn claim_delivery<C: Conn + ?Sized>(conn: &mut C, key: &str) -> Result<(), StoreError> {
    if insert_delivery(conn, key).await? {
        Ok(())
    } else {
        Err(StoreError::Redelivered(key.to_owned()))
    }
}

/// `true` when `key` was not recorded yet (and now is).
async fn insert_delivery<C: Conn + ?Sized>(conn: &mut C, key: &str) -> Result<bool, StoreError> {
    let inserted = conn
        .execute(
            "INSERT INTO processed_envelopes (dedupe_key, received_at) VALUES ($1, {now}) \
             ON CONFLICT (dedupe_key) DO NOTHING",
            &[Arg::Text(key)],
        )
        .await?;
    Ok(inserted == 1)
}
