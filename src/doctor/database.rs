//! The database: reachable (with the TLS `janus run` would use: the same
//! `store::open`), and migrated as far as this binary expects.

use super::{Finding, timed};
use crate::config::Config;

/// The database answers and has every migration this binary carries.
pub(super) async fn check_database(config: &Config) -> Finding {
    const CHECK: &str = "database";
    timed(CHECK, async {
        let at = config.database.redacted_url();
        if let Some(file) = crate::store::sqlite_file(&config.database)
            && !file.exists()
        {
            // Opening would create it: doctor changes nothing.
            return Finding::ok(
                CHECK,
                format!(
                    "SQLite {} does not exist yet; `janus run` creates and migrates it",
                    file.display()
                ),
            );
        }
        let store = match crate::store::open(&config.database, 1).await {
            Ok(store) => store,
            Err(crate::store::StoreError::InUse { path }) => {
                return Finding::ok(
                    CHECK,
                    format!(
                        "SQLite {path} is in use by a running Janus, which migrated it at start"
                    ),
                );
            }
            // The server answered but TLS failed (an untrusted certificate,
            // no TLS offered): the message says which and what to set; the
            // URL and the server are fine.
            Err(
                e @ crate::store::StoreError::Connect {
                    source: sqlx::Error::Tls(_),
                    ..
                },
            ) => return Finding::fail(CHECK, e.to_string()),
            Err(e) => {
                return Finding::fail(
                    CHECK,
                    format!("{e} — check DATABASE_URL and that the server is up"),
                );
            }
        };
        match store.pending_migrations().await {
            Ok(pending) if pending.is_empty() => {
                Finding::ok(CHECK, format!("{at} reachable, schema up to date"))
            }
            Ok(pending) => Finding::fail(
                CHECK,
                format!(
                    "{at} lacks {} migration(s) ({}) — run `janus migrate`",
                    pending.len(),
                    pending.join(", ")
                ),
            ),
            Err(e) => Finding::fail(CHECK, format!("{at}: {e}")),
        }
    })
    .await
}
