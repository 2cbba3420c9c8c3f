//! Persistence. The [`Store`] trait is what the rest of Janus sees; each
//! backend implements it with its own SQL (sqlx's `Any` driver cannot carry
//! timestamps or JSON, so one generic implementation is not an option).

mod postgres;

use std::time::Duration;

pub use postgres::PgStore;

/// A store failure. The connection string is never part of the message
/// beyond host, port and database name.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused us.
    #[error("cannot connect to the database at {target}: {reason}")]
    Connect {
        /// `host:port/database`, without credentials.
        target: String,
        /// What the driver said.
        reason: String,
    },
    /// The connection string does not parse.
    #[error("the database URL is not valid: {0}")]
    InvalidUrl(String),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// What Janus keeps. Object-safe so a second backend can follow.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations (safe to run from several replicas at once).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Round-trips a trivial query; returns how long it took.
    async fn ping(&self) -> Result<Duration, StoreError>;

    /// Records that the delivery `key` is being handled. `true` the first
    /// time the key is seen, `false` for every redelivery afterwards.
    async fn first_delivery(&self, key: &str) -> Result<bool, StoreError>;
}
