//! The database connection is as trusted as Slack's: Postgres behind TLS
//! (a front on loopback that speaks the `SSLRequest` opening and relays to
//! the real server), with `database.sslmode`, `database.ca_file` and
//! `tls.ca_file` as an operator sets them; and the SQLite file is private.

use std::time::{Duration, Instant};

use janus::app::{Options, StartPatience};
use janus::config::Config;

use crate::cli::JANUS;
use crate::declare::declare;
use crate::payloads::ALICE;
use crate::support::harness::{TestApp, TestDb, env_for, fast_options};
use crate::support::pg_tls::PgTlsFront;
use crate::support::slack_fake::FakeSlack;
use crate::support::tls_front::TestCa;

const WAIT: Duration = Duration::from_secs(10);

/// Postgres behind a TLS front whose certificate `signer` signed, and CA
/// files in a directory of the test's.
struct World {
    slack: FakeSlack,
    db: TestDb,
    front: PgTlsFront,
    /// The CA that signed the front's certificate, as a PEM file.
    signer_pem: std::path::PathBuf,
    /// Another CA, which signed nothing here.
    stranger_pem: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        janus::install_crypto_provider();
        let slack = FakeSlack::start().await;
        let db = TestDb::postgres().await;
        let (signer, stranger) = (TestCa::new(), TestCa::new());
        let front = PgTlsFront::start(&signer, db.server()).await;
        let dir = tempfile::tempdir().unwrap();
        World {
            signer_pem: signer.write_pem(dir.path(), "db-ca.pem"),
            stranger_pem: stranger.write_pem(dir.path(), "other-ca.pem"),
            slack,
            db,
            front,
            _dir: dir,
        }
    }

    /// This test's database, reached through the front, with a password
    /// the server never asks for (trust auth) so a message could leak it.
    fn front_url(&self) -> String {
        let mut url = url::Url::parse(&self.db.url_via(self.front.port())).unwrap();
        url.set_password(Some("hunter2")).unwrap();
        url.to_string()
    }

    /// The environment a newcomer sets, the database through the front,
    /// plus `extra`.
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = env_for(&self.slack, &self.db);
        env.retain(|(k, _)| k != "DATABASE_URL");
        env.push(("DATABASE_URL".into(), self.front_url()));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    fn config(&self, extra: &[(&str, &str)]) -> Config {
        Config::load_from(None, self.env(extra)).expect("test config")
    }
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn verify_full_with_the_database_ca_file_starts_and_declares_through_tls() {
    let world = World::new().await;
    let config = world.config(&[
        ("JANUS_DATABASE__SSLMODE", "verify-full"),
        ("JANUS_DATABASE__CA_FILE", path(&world.signer_pem)),
    ]);
    let running = janus::app::start(&config, fast_options())
        .await
        .expect("janus starts over TLS");
    assert!(running.wait_connected(2, WAIT).await);
    assert!(world.front.sessions() >= 1, "Janus spoke TLS to the front");
    let World {
        slack, db, front, ..
    } = world;
    let app = TestApp::around(slack, db, running, 2);
    let general = app.slack.add_channel("general", true);
    app.slack.add_channel("incidents", true);
    app.slack.add_user(ALICE, "alice");
    declare(&app, &general, "checkout is slow").await;
    app.db
        .eventually_count(
            "SELECT count(*) FROM incidents WHERE channel_id IS NOT NULL",
            1,
        )
        .await;
    assert_eq!(
        front.sessions(),
        front.connections(),
        "every connection Janus opened was TLS"
    );
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_not_signed_by_the_database_ca_file_at_once() {
    let world = World::new().await;
    let config = world.config(&[
        ("JANUS_DATABASE__SSLMODE", "verify-full"),
        ("JANUS_DATABASE__CA_FILE", path(&world.stranger_pem)),
    ]);
    let started = Instant::now();
    let patience = Options {
        start_patience: StartPatience(Duration::from_secs(60)),
        ..fast_options()
    };
    let error = match janus::app::start(&config, patience).await {
        Ok(_) => panic!("started on a database whose certificate is not trusted"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.starts_with(&format!(
            "cannot connect to the database at 127.0.0.1:{}/",
            world.front.port()
        )),
        "{error}"
    );
    assert!(
        error.contains("the database server 127.0.0.1 presented a certificate that is not trusted"),
        "{error}"
    );
    assert!(
        error.contains("other-ca.pem"),
        "names what is trusted: {error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");
    assert_eq!(world.front.connections(), 1, "not retried: {error}");
    assert_eq!(world.front.sessions(), 0);
    assert!(started.elapsed() < WAIT, "{:?}", started.elapsed());
    assert!(world.slack.open_sockets().is_empty());
}

#[tokio::test]
async fn tls_ca_file_alone_makes_the_database_certificate_trusted() {
    let world = World::new().await;
    let config = world.config(&[
        ("JANUS_DATABASE__SSLMODE", "verify-full"),
        ("JANUS_TLS__CA_FILE", path(&world.signer_pem)),
    ]);
    let store = janus::store::open(&config.database, 2)
        .await
        .expect("the front's certificate is trusted through tls.ca_file");
    store.migrate().await.expect("migrate over TLS");
    store.ping().await.expect("a query over TLS");
    assert!(world.front.sessions() >= 1);

    // Without it, the same front is refused.
    let config = world.config(&[("JANUS_DATABASE__SSLMODE", "verify-full")]);
    let error = janus::store::open(&config.database, 2)
        .await
        .err()
        .expect("refused without the CA")
        .to_string();
    assert!(error.contains("not trusted"), "{error}");
}

#[tokio::test]
async fn janus_migrate_and_doctor_use_the_same_tls_settings_as_run() {
    let world = World::new().await;
    let trusted = [
        ("JANUS_DATABASE__SSLMODE", "verify-full"),
        ("JANUS_DATABASE__CA_FILE", path(&world.signer_pem)),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(JANUS)
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(world.env(&trusted))
        .current_dir(dir.path())
        .output()
        .await
        .expect("run janus migrate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(world.front.sessions() >= 1, "migrate spoke TLS");

    let database_line = |report: janus::doctor::Report| {
        report
            .findings
            .into_iter()
            .find(|f| f.check == "database")
            .expect("a database line")
            .to_string()
    };
    let line = database_line(janus::doctor::diagnose(Ok(world.config(&trusted)), &[]).await);
    assert!(line.starts_with("ok "), "{line}");
    assert!(line.contains("schema up to date"), "{line}");

    let untrusted = world.config(&[
        ("JANUS_DATABASE__SSLMODE", "verify-full"),
        ("JANUS_DATABASE__CA_FILE", path(&world.stranger_pem)),
    ]);
    let line = database_line(janus::doctor::diagnose(Ok(untrusted), &[]).await);
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(line.contains("not trusted"), "{line}");
    assert!(line.contains("database.ca_file"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_janus_db_is_readable_by_janus_only() {
    use std::os::unix::fs::PermissionsExt;
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let db = TestDb::sqlite();
    let config = Config::load_from(None, env_for(&slack, &db)).expect("test config");
    let running = janus::app::start(&config, fast_options())
        .await
        .expect("janus starts");
    assert!(running.wait_connected(2, WAIT).await);
    let file = db.sqlite_file().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    let wal = file.with_file_name("janus.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600, "{}", wal.display());
    }
    running.stop().await.expect("clean stop");
}
