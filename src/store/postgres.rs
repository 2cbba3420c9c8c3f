//! The Postgres backend: the production store, shared by replicas.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection};

use super::{IncidentId, Lease, Leases, Schema, StoreError};

/// Tags Janus's advisory-lock keys for declarations, so they cannot collide
/// with other advisory locks on the same database.
const DECLARATION_LOCK_TAG: i64 = 1 << 61;
/// The lock held by the replica that runs recovery.
const LEADER_LOCK_KEY: i64 = (1 << 60) | 1;

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

/// The Postgres backend of every store trait (see [`super::Store`]).
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

    /// The pool, for tests that inspect its connections' settings.
    pub fn pool(&self) -> &PgPool {
        &self.pool
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

super::sql::sql_conn!(
    sqlx::PgConnection,
    PgRow,
    now: "now()",
    cutoff: "now() - make_interval(secs => $1)",
    for_update: " FOR UPDATE"
);

impl super::sql::Backend for PgStore {
    type Db = sqlx::Postgres;
    const BEGIN_WRITE: &'static str = "BEGIN";
    // The two-key form: its key space is apart from the leases' one-key locks.
    const LOCK_DECLARER: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(1784, hashtext($1))");

    fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Schema for PgStore {
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
}

#[async_trait::async_trait]
impl Leases for PgStore {
    async fn try_become_leader(&self) -> Result<Option<Lease>, StoreError> {
        // A session lock on a connection of its own, taken out of the pool:
        // it is released exactly when that connection (the process) ends.
        let mut conn = self.pool.acquire().await?.detach();
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        Ok(leader.then(|| Lease::new(tokio::sync::Mutex::new(conn))))
    }

    async fn try_lease_declaration(&self, id: IncidentId) -> Result<Option<Lease>, StoreError> {
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
                Ok(Some(Lease::new(DeclarationLock {
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
}
