//! The Postgres backend: the production store, shared by replicas.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::IpAddr;
use std::path::PathBuf;

use rustls::pki_types::CertificateDer;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgSslMode};
use sqlx::{ConnectOptions, Connection};

use super::{IncidentId, Lease, Leases, Schema, StoreError};
use crate::config::{DatabaseConfig, SslMode};

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
    /// Connects to `url` with the default TLS settings (see
    /// [`connect_options`]): for tests and tools without a configuration.
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(
            &DatabaseConfig::from_url(url.clone(), max_connections),
            max_connections,
        )
        .await
    }

    /// Connects as `config` says, TLS included (one connection at once, so
    /// an unreachable or untrusted database is reported at start-up, not at
    /// the first click).
    pub async fn connect_with(
        config: &DatabaseConfig,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let (options, tls) = connect_options(config)?;
        tls.log();
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
        let mut probe = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .unwrap_or_else(|_| {
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                )))
            })
            .map_err(|e| failed(tls.explain(e)))?;
        tls.check_encrypted(&mut probe).await;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| failed(tls.explain(e)))?;
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

/// The options Janus connects with: the URL's, with the TLS that `config`
/// resolved set explicitly, so sqlx never falls back to its own defaults or
/// to `PGSSLMODE`/`PGSSLROOTCERT` (Janus's configuration is the one place
/// that decides). Without `database.sslmode`, a host that is not loopback
/// gets `verify-full`; a loopback host or a Unix socket keeps `prefer`, so
/// a local database without a certificate keeps working.
///
/// The trusted CAs are the system's plus one in-memory PEM bundle of
/// `tls.ca_file` and `database.ca_file`: sqlx adds its one `sslrootcert` to
/// the system's roots (rather than replacing them), but takes only one.
pub(crate) fn connect_options(
    config: &DatabaseConfig,
) -> Result<(PgConnectOptions, TlsPlan), StoreError> {
    let mut options = PgConnectOptions::from_str(config.url.expose_secret())
        .map_err(|e| StoreError::InvalidUrl(redact_driver_error(&e.to_string())))?
        // Statement logging at INFO would flood the log with every dedupe insert.
        .log_statements(log::LevelFilter::Debug);
    if !options
        .get_options()
        .is_some_and(|o| o.contains("statement_timeout"))
    {
        options = options.options([("statement_timeout", STATEMENT_TIMEOUT)]);
    }
    let local = is_local(&options);
    let mode = config.tls.sslmode.unwrap_or(if local {
        SslMode::Prefer
    } else {
        SslMode::VerifyFull
    });
    let plan = TlsPlan {
        host: options.get_host().to_owned(),
        mode,
        by_default: config.tls.sslmode.is_none(),
        local,
        ca_files: config.tls.ca_files.clone(),
    };
    let options = options
        .ssl_mode(match mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require => PgSslMode::Require,
            SslMode::VerifyCa => PgSslMode::VerifyCa,
            SslMode::VerifyFull => PgSslMode::VerifyFull,
        })
        // Always set, even empty: it replaces any `PGSSLROOTCERT`.
        .ssl_root_cert_from_pem(pem_bundle(&config.tls.extra_roots));
    Ok((options, plan))
}

/// Whether the server is on this machine: a Unix socket (a host that is a
/// directory), `localhost`, or a loopback address. Only the name is looked
/// at, never DNS.
fn is_local(options: &PgConnectOptions) -> bool {
    let host = options.get_host();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    options.get_socket().is_some()
        || host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The TLS a connection uses and why, for the start-up log line and for
/// turning a handshake failure into a sentence an operator can act on.
#[derive(Debug, Clone)]
pub(crate) struct TlsPlan {
    /// The host connected to (a directory for a Unix socket).
    pub host: String,
    /// The mode in force.
    pub mode: SslMode,
    /// Whether `mode` is the default for the host rather than configured.
    pub by_default: bool,
    /// Whether the host is this machine (see [`is_local`]).
    pub local: bool,
    /// The CA files trusted beyond the system's, with the key naming each.
    pub ca_files: Vec<(String, PathBuf)>,
}

impl TlsPlan {
    /// `verify-full (the default for a host that is not loopback)`.
    fn mode_described(&self) -> String {
        match (self.by_default, self.local) {
            (false, _) => format!("database.sslmode = {}", self.mode),
            (true, false) => format!(
                "sslmode {} (the default for a database that is not on this machine)",
                self.mode
            ),
            (true, true) => format!(
                "sslmode {} (the default for a database on this machine)",
                self.mode
            ),
        }
    }

    /// `the system's CAs and tls.ca_file (/etc/…)`.
    fn trust_described(&self) -> String {
        let mut text = "the system's CAs".to_owned();
        for (key, path) in &self.ca_files {
            text.push_str(&format!(" and {key} ({})", path.display()));
        }
        text
    }

    /// Says once, at connect, how the connection is secured.
    fn log(&self) {
        if self.mode.verifies() {
            tracing::info!(
                host = %self.host,
                sslmode = %self.mode,
                trusted = %self.trust_described(),
                "connecting to the database over TLS, verifying its certificate"
            );
        } else {
            tracing::info!(host = %self.host, sslmode = %self.mode, "connecting to the database");
        }
    }

    /// `error`, or — when it is a TLS failure — an error saying which host
    /// was not trusted, with which mode and which CAs, so start-up gives one
    /// clear line and does not wait for a certificate to change by itself.
    /// rustls reports a refused certificate as an I/O error (`InvalidData`
    /// wrapping a `rustls::Error`), which would otherwise read as a network
    /// problem worth waiting out.
    pub(crate) fn explain(&self, error: sqlx::Error) -> sqlx::Error {
        let refusal = match &error {
            sqlx::Error::Io(io) => io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .map(|tls| match tls {
                    rustls::Error::InvalidCertificate(why) => format!(
                        "the database server {} presented a certificate that is not trusted \
                         ({why:?}) with {}; trusted are {}: add the CA that signed the \
                         server's certificate with database.ca_file",
                        self.host,
                        self.mode_described(),
                        self.trust_described()
                    ),
                    other => format!(
                        "TLS with the database server {} failed ({other}) with {}",
                        self.host,
                        self.mode_described()
                    ),
                }),
            sqlx::Error::Tls(inner) if inner.to_string().contains("does not support TLS") => {
                Some(format!(
                    "the database server {} does not offer TLS, and {} requires it",
                    self.host,
                    self.mode_described()
                ))
            }
            _ => None,
        };
        match refusal {
            Some(text) => sqlx::Error::Tls(text.into()),
            None => error,
        }
    }

    /// With `prefer` (or `disable`) towards a server that is not on this
    /// machine, asks the server whether this session is encrypted and warns
    /// when it is not: a plaintext fallback must not go unnoticed. Once per
    /// connect (start-up), not per pooled connection.
    async fn check_encrypted(&self, conn: &mut sqlx::PgConnection) {
        if self.local || !matches!(self.mode, SslMode::Prefer | SslMode::Disable) {
            return;
        }
        let encrypted = if self.mode == SslMode::Disable {
            Ok(Some(false))
        } else {
            sqlx::query_scalar::<_, bool>(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            )
            .fetch_optional(conn)
            .await
        };
        match encrypted {
            // No row (a pooler answering for the server): nothing to say.
            Ok(encrypted) => {
                if let Some(warning) = self.plaintext_warning(encrypted.unwrap_or(true)) {
                    tracing::warn!(host = %self.host, sslmode = %self.mode, "{warning}");
                }
            }
            Err(error) => tracing::debug!(%error, "could not ask the database whether TLS is on"),
        }
    }

    /// The warning for a session that is `encrypted` or not, if it needs
    /// one: plaintext to a server that is not on this machine.
    fn plaintext_warning(&self, encrypted: bool) -> Option<String> {
        if encrypted || self.local {
            return None;
        }
        Some(match self.mode {
            SslMode::Disable => format!(
                "the connection to the database {} is NOT encrypted: database.sslmode is \
                 disable; set it to verify-full (with database.ca_file if the server's CA is \
                 private)",
                self.host
            ),
            _ => format!(
                "the connection to the database {} is NOT encrypted: the server did not \
                 accept TLS, and {} allows plaintext; set database.sslmode = verify-full to \
                 refuse that",
                self.host,
                self.mode_described()
            ),
        })
    }
}

/// `certs` as one PEM text, the form sqlx takes an in-memory root bundle in.
fn pem_bundle(certs: &[CertificateDer<'_>]) -> Vec<u8> {
    let mut pem = String::new();
    for cert in certs {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = base64(cert.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// Standard base64 with padding (RFC 4648), for [`pem_bundle`]: a dozen
/// lines rather than a dependency.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use rustls::pki_types::pem::PemObject;

    use super::*;
    use crate::config::DatabaseTls;

    fn options_for(url: &str, sslmode: Option<SslMode>) -> (PgConnectOptions, TlsPlan) {
        let config = DatabaseConfig {
            tls: DatabaseTls {
                sslmode,
                ..DatabaseTls::default()
            },
            ..DatabaseConfig::from_url(SecretString::from(url), 1)
        };
        connect_options(&config).expect("options")
    }

    #[test]
    fn a_host_that_is_not_loopback_is_verified_by_default() {
        for url in [
            "postgres://janus@db.internal:5432/janus",
            "postgres://janus@10.1.2.3/janus",
            "postgres://janus@[2001:db8::1]/janus",
            // Only the name counts: a name that resolves to loopback is still verified.
            "postgres://janus@db.localhost.example/janus",
        ] {
            let (options, plan) = options_for(url, None);
            assert!(
                matches!(options.get_ssl_mode(), PgSslMode::VerifyFull),
                "{url}"
            );
            assert!(plan.by_default && !plan.local, "{url}");
        }
    }

    #[test]
    fn a_loopback_host_or_a_unix_socket_keeps_prefer_by_default() {
        for url in [
            "postgres://janus@localhost/janus",
            "postgres://janus@127.0.0.1:5432/janus",
            "postgres://janus@[::1]/janus",
            "postgres://janus@%2Fvar%2Frun%2Fpostgresql/janus",
            "postgres:///janus?host=/var/run/postgresql",
        ] {
            let (options, plan) = options_for(url, None);
            assert!(matches!(options.get_ssl_mode(), PgSslMode::Prefer), "{url}");
            assert!(plan.local, "{url}");
        }
    }

    #[test]
    fn a_configured_mode_wins_over_the_default_and_over_the_urls_text() {
        let (options, _) =
            options_for("postgres://janus@db.internal/janus", Some(SslMode::Require));
        assert!(matches!(options.get_ssl_mode(), PgSslMode::Require));
        let (options, _) = options_for(
            "postgres://janus@localhost/janus",
            Some(SslMode::VerifyFull),
        );
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
        // The configuration already took the URL's sslmode into account (or
        // refused a conflict); what it resolved is what is used.
        let (options, _) = options_for(
            "postgres://janus@db.internal/janus?sslmode=disable",
            Some(SslMode::Disable),
        );
        assert!(matches!(options.get_ssl_mode(), PgSslMode::Disable));
    }

    fn test_certs(n: usize) -> Vec<CertificateDer<'static>> {
        (0..n)
            .map(|_| {
                let key = rcgen::KeyPair::generate().unwrap();
                let params = rcgen::CertificateParams::new(vec!["db.internal".to_owned()]).unwrap();
                CertificateDer::from(params.self_signed(&key).unwrap().der().to_vec())
            })
            .collect()
    }

    #[test]
    fn the_pem_bundle_holds_every_extra_root_unchanged() {
        let certs = test_certs(2);
        let pem = pem_bundle(&certs);
        let parsed: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(parsed, certs);
        assert!(pem_bundle(&[]).is_empty());
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn an_untrusted_certificate_is_explained_with_the_host_and_without_the_password() {
        let config = DatabaseConfig {
            tls: DatabaseTls {
                sslmode: Some(SslMode::VerifyFull),
                ca_files: vec![("database.ca_file".into(), "/etc/janus/db-ca.pem".into())],
                extra_roots: Vec::new(),
            },
            ..DatabaseConfig::from_url(
                SecretString::from("postgres://janus:hunter2@db.internal/janus"),
                1,
            )
        };
        let (_, plan) = connect_options(&config).unwrap();
        let refused = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let explained = plan.explain(sqlx::Error::Io(refused));
        assert!(matches!(explained, sqlx::Error::Tls(_)), "{explained:?}");
        let text = explained.to_string();
        assert!(text.contains("db.internal"), "{text}");
        assert!(text.contains("not trusted"), "{text}");
        assert!(text.contains("database.sslmode = verify-full"), "{text}");
        assert!(text.contains("/etc/janus/db-ca.pem"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        // Anything else is left as it was.
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            plan.explain(sqlx::Error::Io(refused)),
            sqlx::Error::Io(_)
        ));
    }

    #[test]
    fn falling_back_to_plaintext_is_warned_about_only_for_a_remote_server() {
        let (_, remote) = options_for("postgres://janus@db.internal/janus", Some(SslMode::Prefer));
        let warning = remote
            .plaintext_warning(false)
            .expect("plaintext to a remote server");
        assert!(
            warning.contains("db.internal is NOT encrypted"),
            "{warning}"
        );
        assert!(warning.contains("database.sslmode = prefer"), "{warning}");
        assert!(remote.plaintext_warning(true).is_none());
        let (_, local) = options_for("postgres://janus@localhost/janus", None);
        assert!(local.plaintext_warning(false).is_none());
        let (_, off) = options_for("postgres://janus@db.internal/janus", Some(SslMode::Disable));
        assert!(off.plaintext_warning(false).is_some());
    }

    #[test]
    fn a_server_without_tls_is_explained_when_the_mode_requires_it() {
        let (_, plan) = options_for("postgres://janus@db.internal/janus", None);
        let text = plan
            .explain(sqlx::Error::Tls("server does not support TLS".into()))
            .to_string();
        assert!(text.contains("db.internal does not offer TLS"), "{text}");
        assert!(
            text.contains("the default for a database that is not on this machine"),
            "{text}"
        );
    }
}
