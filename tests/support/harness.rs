//! Starting Janus against the Slack fake and a database of its own: a
//! SQLite file by default (what a new user gets), Postgres when
//! `JANUS_TEST_STORE=postgres` says so or when a test needs what only
//! Postgres does (replicas, locks across processes, an outage played
//! with a TCP proxy).

use std::path::PathBuf;
use std::time::Duration;

use janus::app::{Options, Running};
use janus::config::Config;
use janus::socket::Tuning;
use sqlx::Connection;

use super::slack_fake::{self, FakeSlack};

/// Where the tests find Postgres. The database named here is only used to
/// create and drop the per-test databases.
pub fn admin_url() -> String {
    std::env::var("JANUS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The backend of the tests that do not need a particular one: SQLite,
/// unless `JANUS_TEST_STORE=postgres` (CI runs the tests both ways).
fn default_is_postgres() -> bool {
    match std::env::var("JANUS_TEST_STORE") {
        Err(_) => false,
        Ok(v) if v.eq_ignore_ascii_case("sqlite") => false,
        Ok(v) if v.eq_ignore_ascii_case("postgres") => true,
        Ok(v) => panic!("JANUS_TEST_STORE={v:?}: expected `sqlite` (the default) or `postgres`"),
    }
}

/// A database of its own for one test, gone when the test ends.
pub struct TestDb {
    pub url: String,
    place: Place,
}

enum Place {
    /// A database on the server of [`admin_url`], dropped at the end.
    Postgres { name: String },
    /// `janus.db` in a temporary directory, removed at the end. The file
    /// does not exist until Janus (or the store) creates it.
    Sqlite { dir: tempfile::TempDir },
}

impl TestDb {
    /// The backend `JANUS_TEST_STORE` picks: SQLite unless it says `postgres`.
    pub async fn create() -> TestDb {
        if default_is_postgres() {
            Self::postgres().await
        } else {
            Self::sqlite()
        }
    }

    /// An empty Postgres database. Panics — loudly, never skips — when
    /// Postgres is not there, with the URL it tried.
    pub async fn postgres() -> TestDb {
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "this test needs PostgreSQL at {admin} (set JANUS_TEST_DATABASE_URL); \
                 connecting failed: {e}"
                )
            });
        let name = format!("janus_test_{}_{}", std::process::id(), fastrand::u64(..));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        TestDb {
            url: format!("{base}/{name}"),
            place: Place::Postgres { name },
        }
    }

    /// A SQLite database in a fresh temporary directory (the file is
    /// created by whoever opens it first).
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestDb {
            url: format!("sqlite://{}", dir.path().join("janus.db").display()),
            place: Place::Sqlite { dir },
        }
    }

    /// The SQLite file, or `None` on Postgres.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match &self.place {
            Place::Sqlite { dir } => Some(dir.path().join("janus.db")),
            Place::Postgres { .. } => None,
        }
    }

    /// Waits (up to 10 s) until `sql` counts `expected`: for effects that
    /// land just after what a test can observe in Slack.
    pub async fn eventually_count(&self, sql: &'static str, expected: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n = self.count(sql).await;
            if n == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{sql}: {n}, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The Postgres database behind this URL, for the tests that need one.
    fn postgres_url(&self, what: &str) -> url::Url {
        match &self.place {
            Place::Postgres { .. } => url::Url::parse(&self.url).expect("database URL"),
            Place::Sqlite { .. } => {
                panic!("{what} needs a Postgres database: use TestDb::postgres()")
            }
        }
    }

    /// This database's URL, but through a proxy listening on 127.0.0.1:`port`.
    pub fn url_via(&self, port: u16) -> String {
        let mut url = self.postgres_url("a database proxy");
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        url.to_string()
    }

    /// `host:port` of the server, for a proxy to forward to.
    pub fn server(&self) -> String {
        let url = self.postgres_url("a database proxy");
        format!(
            "{}:{}",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(5432)
        )
    }

    /// Runs one query returning one `bigint` against this database (for
    /// assertions). `sql` must be valid on both backends.
    pub async fn count(&self, sql: &'static str) -> i64 {
        match &self.place {
            Place::Postgres { .. } => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect(sql)
            }
            Place::Sqlite { .. } => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect(sql)
            }
        }
    }

    /// Waits until a killed Janus no longer holds locks here, so the next
    /// one can take them. On SQLite the OS released them when the process
    /// died; Postgres lets an advisory lock go only once it notices that
    /// the session's connection is gone.
    pub async fn wait_locks_released(&self) {
        if let Place::Postgres { .. } = self.place {
            self.eventually_count(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                0,
            )
            .await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Place::Postgres { name } = &self.place else {
            // The TempDir removes itself.
            return;
        };
        let (admin, name) = (admin_url(), name.clone());
        // Drop runs outside any runtime we may block: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The environment a newcomer would set, pointed at the fake and `db`.
pub fn env_for(slack: &FakeSlack, db: &TestDb) -> Vec<(String, String)> {
    [
        ("SLACK_APP_TOKEN", slack_fake::APP_TOKEN.to_owned()),
        ("SLACK_BOT_TOKEN", slack_fake::BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", slack.api_url()),
        ("SLACK_WORKSPACE_ID", "acme".to_owned()),
        ("DATABASE_URL", db.url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Socket timings short enough for tests, long enough for a busy CI box.
pub fn fast_tuning() -> Tuning {
    Tuning {
        liveness: Duration::from_secs(2),
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(500),
        close_grace: Duration::from_millis(500),
        stable_after: Duration::from_secs(1),
        ..Tuning::default()
    }
}

/// Non-user knobs for tests: [`fast_tuning`], the rest as shipped.
pub fn fast_options() -> Options {
    Options {
        socket: fast_tuning(),
        reminder_tick: janus::app::ReminderTick(Duration::from_millis(100)),
        ..Options::default()
    }
}

/// Janus, the fake and the database of one test.
pub struct TestApp {
    /// Web API deadlines for this app (the defaults unless a test shortens them).
    pub slack_tuning: janus::slack::SlackTuning,
    pub slack: FakeSlack,
    pub db: TestDb,
    pub running: Option<Running>,
    pub sockets: usize,
}

impl TestApp {
    /// Starts everything with `extra` env on top of the defaults, on the
    /// database [`TestDb::create`] picks, and waits until every socket
    /// said hello.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(TestDb::create().await, extra).await
    }

    /// [`TestApp::spawn_with`] on Postgres whatever `JANUS_TEST_STORE`
    /// says: for replicas, and for database outages (played with a TCP
    /// proxy in front of the server).
    pub async fn spawn_on_postgres(extra: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(TestDb::postgres().await, extra).await
    }

    async fn spawn_on(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
        janus::install_crypto_provider();
        let slack = FakeSlack::start().await;
        slack.set_ping_interval(Duration::from_millis(300));
        let mut app = TestApp {
            slack_tuning: Default::default(),
            slack,
            db,
            running: None,
            sockets: 0,
        };
        app.sockets = app.config(extra).slack.sockets.into();
        app.restart_with(extra).await;
        app
    }

    /// A Janus a test started its own way (a start-up it watches, a
    /// database behind a front), wrapped so the usual helpers apply to it.
    pub fn around(slack: FakeSlack, db: TestDb, running: Running, sockets: usize) -> TestApp {
        TestApp {
            slack_tuning: Default::default(),
            slack,
            db,
            running: Some(running),
            sockets,
        }
    }

    /// Starts with the defaults (2 sockets).
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// The config Janus gets, from env pairs exactly as a user would set them.
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let mut env = env_for(&self.slack, &self.db);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::load_from(None, env).expect("test config")
    }

    /// (Re)starts Janus on the same fake and database.
    pub async fn restart_with(&mut self, extra: &[(&str, &str)]) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
        let running = janus::app::start(
            &self.config(extra),
            Options {
                slack: self.slack_tuning,
                ..fast_options()
            },
        )
        .await
        .expect("janus starts");
        assert!(
            running
                .wait_connected(self.sockets, Duration::from_secs(10))
                .await,
            "janus did not open its sockets"
        );
        self.running = Some(running);
    }

    /// Starts a second Janus process's worth of app — its own sockets, bus
    /// and actors — on the same fake and database, like a replica.
    pub async fn spawn_replica(&self) -> Running {
        assert!(
            self.db.sqlite_file().is_none(),
            "replicas share a Postgres database: start with TestApp::spawn_on_postgres"
        );
        let before = self.slack.open_sockets().len();
        let replica = janus::app::start(
            &self.config(&[]),
            Options {
                slack: self.slack_tuning,
                ..fast_options()
            },
        )
        .await
        .expect("the replica starts");
        assert!(
            replica
                .wait_connected(self.sockets, Duration::from_secs(10))
                .await
        );
        self.slack
            .wait_for_sockets(before + self.sockets, Duration::from_secs(10))
            .await;
        replica
    }

    /// Waits until Janus has read every envelope the fake sent (each one is
    /// acked), handled them, and finished every task it started: what it
    /// will do about them is done, so a test may assert that something did
    /// not happen without sleeping.
    pub async fn idle(&self) {
        let running = self.running.as_ref().expect("janus is running");
        self.slack.wait_all_acked(Duration::from_secs(10)).await;
        assert!(
            running.wait_idle(Duration::from_secs(20)).await,
            "janus did not become idle within 20 s; calls seen: {:?}",
            self.slack
                .calls()
                .iter()
                .map(|c| c.method.clone())
                .collect::<Vec<_>>()
        );
    }

    pub async fn stop(&mut self) -> Result<(), janus::app::RunError> {
        match self.running.take() {
            Some(r) => r.stop().await,
            None => Ok(()),
        }
    }
}

/// Every `text` in a block tree, one per line: what a person reads.
pub fn all_text(blocks: &serde_json::Value) -> String {
    fn walk(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(t)) = m.get("text") {
                    out.push_str(t);
                    out.push('\n');
                }
                m.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(blocks, &mut out);
    out
}

/// The text under the bold title `*name*` in a block tree (a digest
/// field such as `*Status*\nIdentified`): one line a person reads, where
/// a word found anywhere in the message could come from elsewhere.
pub fn field(blocks: &serde_json::Value, name: &str) -> Option<String> {
    let title = format!("*{name}*\n");
    all_text(blocks)
        .split(&title)
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .map(str::to_owned)
}

/// The value of the option a select shows (its `initial_option`), found by
/// the select's `action_id` (`janus.status`, `janus.severity`). The
/// control message lists every option's label, so only this says which
/// one is chosen.
pub fn selected(blocks: &serde_json::Value, action_id: &str) -> Option<String> {
    use serde_json::Value;
    match blocks {
        Value::Object(m) => {
            if m.get("action_id").and_then(Value::as_str) == Some(action_id) {
                return m
                    .get("initial_option")
                    .and_then(|o| o["value"].as_str())
                    .map(str::to_owned);
            }
            m.values().find_map(|v| selected(v, action_id))
        }
        Value::Array(a) => a.iter().find_map(|v| selected(v, action_id)),
        _ => None,
    }
}

/// How many control messages (messages with the status select) `channel` holds.
pub fn control_messages(slack: &FakeSlack, channel: &str) -> usize {
    slack
        .messages(channel)
        .iter()
        .filter(|m| {
            m.blocks.as_ref().is_some_and(|b| {
                b.to_string()
                    .contains(janus::domain::block_ids::action::STATUS)
            })
        })
        .count()
}

/// Waits for an ephemeral answer whose text contains `needle`.
pub async fn ephemeral_containing(slack: &FakeSlack, needle: &str) -> super::slack_fake::Ephemeral {
    slack
        .wait_for(needle, Duration::from_secs(10), |s| {
            s.ephemerals()
                .into_iter()
                .find(|e| e.text.as_deref().unwrap_or("").contains(needle))
        })
        .await
}
