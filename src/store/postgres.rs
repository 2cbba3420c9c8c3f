//! The Postgres backend: the production store, shared by replicas.

use std::str::FromStr;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Store, StoreError};

/// How long start-up waits for a first connection before calling the
/// database unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A Postgres-backed [`Store`].
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects (one connection at once, so an unreachable database is
    /// reported at start-up, not at the first click).
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url.expose_secret())
            .map_err(|e| StoreError::InvalidUrl(redact_driver_error(&e.to_string())))?
            // Statement logging at INFO would flood the log with every dedupe insert.
            .log_statements(log::LevelFilter::Debug);
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Connect {
                target,
                reason: e.to_string(),
            })?;
        Ok(Self { pool })
    }

    /// The pool, for tests and future backends' shared code.
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

#[async_trait::async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
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
}
