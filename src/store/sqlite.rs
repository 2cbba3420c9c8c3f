//! The SQLite backend: the default store, a file next to the one Janus
//! process that uses it.
//!
//! Replicas need a database they can share, and SQLite is not one: so a
//! process takes an OS lock on `<file>.lock` for as long as its store lives,
//! and a second process on the same file refuses to start instead of sharing
//! it. Everything Postgres does with advisory locks (declaration leases,
//! leadership) is therefore in-process here.
//!
//! Timestamps are text in one fixed-width UTC form,
//! `2026-01-31T12:34:56.123000Z` (SQLite's clock has millisecond
//! resolution; the zeros keep the width of the microseconds earlier builds
//! wrote), so comparing two as text compares them in time. JSON is text.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{ConnectOptions, Sqlite};

use super::{IncidentId, Lease, Leases, Schema, StoreError};

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

/// The SQLite backend of every store trait (see [`super::Store`]), for one
/// process.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file, absolute, for messages.
    path: PathBuf,
    declaration_locks: KeyedLocks,
    /// Held by the recovery leader; a second taker in this process gets `None`.
    leader: Arc<tokio::sync::Mutex<()>>,
    /// The OS lock on `<file>.lock` (none when opened read-only); released when the store is dropped
    /// (or the process dies), never earlier.
    _process_lock: Option<std::fs::File>,
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
        create_private(&path)?;
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
            _process_lock: Some(process_lock),
        })
    }

    /// Opens an existing database to read it beside the process that owns
    /// it (`janus export` while Janus runs): no process lock, no file
    /// created, every connection read-only (SQLite's WAL lets it read while
    /// the owner writes).
    pub async fn open_read_only(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("{e}")))?;
        let given = options.get_filename().to_path_buf();
        let path = std::path::absolute(&given).unwrap_or(given);
        if !path.is_file() {
            return Err(StoreError::Sqlite {
                path: path.display().to_string(),
                reason: "there is no such database file".to_owned(),
            });
        }
        let options = options
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT)
            .log_statements(log::LevelFilter::Debug);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Sqlite {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            pool,
            path,
            declaration_locks: KeyedLocks::default(),
            leader: Arc::default(),
            _process_lock: None,
        })
    }

    /// The database file, absolute.
    pub fn path(&self) -> &Path {
        &self.path
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
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_MODE);
    let file = options.open(&lock_path).map_err(|e| StoreError::Sqlite {
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

/// The mode of the files Janus creates for SQLite: the database holds every
/// incident, private ones included, so only Janus's own user reads it.
/// SQLite gives its `-wal` and `-shm` files the database's mode.
const PRIVATE_MODE: u32 = 0o600;

/// Creates the database file with [`PRIVATE_MODE`] when it is missing
/// (before SQLite would create it with the umask's `0644`). An existing file
/// keeps its mode, which is the operator's to choose, but one that other
/// users can read or write is named in a warning.
fn create_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_MODE)
            .open(path);
        match created {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Ok(metadata) = std::fs::metadata(path) {
                    let mode = metadata.permissions().mode() & 0o777;
                    if let Some(warning) = open_to_others(path, mode) {
                        tracing::warn!(path = %path.display(), mode = %format!("{mode:04o}"), "{warning}");
                    }
                }
            }
            Err(e) => {
                return Err(StoreError::Sqlite {
                    path: path.display().to_string(),
                    reason: format!("cannot create it: {e}"),
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The warning for a database file whose `mode` lets other users read or
/// write it, if it does.
fn open_to_others(path: &Path, mode: u32) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        format!(
            "the SQLite database {} can be read or written by other users (mode {mode:04o}); \
             it holds every incident, private ones included: `chmod 600` it",
            path.display()
        )
    })
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

super::sql::sql_conn!(
    sqlx::SqliteConnection,
    SqliteRow,
    now: "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')",
    cutoff: "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-' || $1 || ' seconds')",
    for_update: ""
);

impl super::sql::Backend for SqliteStore {
    type Db = Sqlite;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const LOCK_DECLARER: Option<&'static str> = None;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Schema for SqliteStore {
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
}

#[async_trait::async_trait]
impl Leases for SqliteStore {
    async fn try_become_leader(&self) -> Result<Option<Lease>, StoreError> {
        // The file lock already makes this the only process on the database,
        // so it leads; the mutex keeps "one leader at a time" true within it.
        Ok(self.leader.clone().try_lock_owned().ok().map(Lease::new))
    }

    async fn try_lease_declaration(&self, id: IncidentId) -> Result<Option<Lease>, StoreError> {
        Ok(self
            .declaration_locks
            .get(id.0)
            .try_lock_owned()
            .ok()
            .map(Lease::new))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn a_new_database_and_its_lock_file_are_readable_by_their_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("janus.db");
        let store = SqliteStore::open(&format!("sqlite://{}", path.display()), 1)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("janus.db.lock")), 0o600);
        let wal = dir.path().join("janus.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
    }

    #[tokio::test]
    async fn an_existing_database_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("janus.db");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}", path.display()), 1)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        assert_eq!(mode(&path), 0o640);
    }

    #[test]
    fn a_file_others_can_read_or_write_is_warned_about_by_name() {
        let path = Path::new("/var/lib/janus/janus.db");
        let warning = open_to_others(path, 0o644).expect("world-readable");
        assert!(warning.contains("/var/lib/janus/janus.db"), "{warning}");
        assert!(warning.contains("0644"), "{warning}");
        assert!(open_to_others(path, 0o660).is_some());
        assert!(open_to_others(path, 0o600).is_none());
        assert!(open_to_others(path, 0o400).is_none());
    }
}
