//! `janus doctor`, run as an operator runs it: the real binary against the
//! Slack fake, the providers fake, the Statuspage fake and a database of its
//! own. Each misconfiguration must show as its own `FAIL` line saying what
//! to do, make the exit code non-zero, and leave the other checks alone;
//! no token, key or password may appear in anything it prints.

use crate::support::closed_port::ClosedPort;
use crate::support::harness::{TestDb, env_for};
use crate::support::providers_fake::ProvidersFake;
use crate::support::slack_fake::{self, FakeSlack};
use crate::support::statuspage_fake::{self, FakeStatuspage};

const JANUS: &str = env!("CARGO_BIN_EXE_janus");
const DIGEST: &str = "incidents";
const GROUP: &str = "sre-oncall";

/// Everything doctor checks, healthy: the digest channel (public, the bot
/// not yet in it), the user group, two providers, a Statuspage page and a
/// migrated database.
struct World {
    slack: FakeSlack,
    db: TestDb,
    providers: ProvidersFake,
    page: FakeStatuspage,
}

impl World {
    async fn new() -> World {
        Self::with_digest(|slack| {
            slack.add_channel(DIGEST, false);
        })
        .await
    }

    /// Like [`World::new`], with the digest channel set up by `digest`
    /// (or not at all).
    async fn with_digest(digest: impl FnOnce(&FakeSlack)) -> World {
        janus::install_crypto_provider();
        let slack = FakeSlack::start().await;
        digest(&slack);
        slack.add_usergroup(GROUP, "SRE On-call", &[]);
        let db = TestDb::create().await;
        migrate(&slack, &db).await;
        World {
            slack,
            db,
            providers: ProvidersFake::start().await,
            page: FakeStatuspage::start().await,
        }
    }

    /// The environment of a deployment using every integration.
    fn env(&self) -> Vec<(String, String)> {
        let base = self.providers.base_url();
        let mut env = env_for(&self.slack, &self.db);
        for (k, v) in [
            ("INCIDENTS_DIGEST_CHANNEL", DIGEST),
            ("INCIDENT_AUTO_GROUP_INVITE_ENABLED", "true"),
            ("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME", GROUP),
            ("INCIDENT_EXTERNAL_PROVIDERS_ENABLED", "true"),
            ("INCIDENT_EXTERNAL_PROVIDERS_LIST", "github,heroku"),
            ("JANUS_PROVIDERS__GITHUB__URL", &base),
            ("JANUS_PROVIDERS__HEROKU__URL", &base),
            ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
            ("STATUSPAGE_API_KEY", statuspage_fake::API_KEY),
            ("STATUSPAGE_PAGE_ID", statuspage_fake::PAGE_ID),
            ("STATUSPAGE_API_URL", &self.page.base_url()),
            ("JANUS_STATUSPAGE__ALLOW_EVERYONE", "true"),
        ] {
            env.push((k.to_owned(), v.to_owned()));
        }
        env
    }

    /// [`World::env`] with `key` set to `value` instead.
    fn env_with(&self, key: &str, value: &str) -> Vec<(String, String)> {
        let mut env = self.env();
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value.to_owned()));
        env
    }
}

async fn migrate(slack: &FakeSlack, db: &TestDb) {
    let config = janus::config::Config::load_from(None, env_for(slack, db)).expect("config");
    let store = janus::store::open(&config.database, 1)
        .await
        .expect("open the test database");
    store.migrate().await.expect("migrate the test database");
}

/// What one `janus doctor` run printed.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The line of `check` (`ok    bot token: …` for `bot token`).
    fn line(&self, check: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| {
                l.get(6..)
                    .is_some_and(|rest| rest.starts_with(&format!("{check}:")))
            })
            .unwrap_or_else(|| panic!("no line for {check:?} in:\n{}", self.stdout))
    }

    fn failed(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("FAIL  "))
            .map(|l| l.split(':').next().unwrap_or(l))
            .collect()
    }

    /// Doctor failed, because of `check` and nothing else, with a line
    /// containing every one of `needles`.
    fn assert_fails_only(&self, check: &str, needles: &[&str]) {
        assert!(!self.success, "doctor should fail:\n{}", self.stdout);
        assert_eq!(
            self.failed(),
            [check],
            "only {check} fails:\n{}",
            self.stdout
        );
        let line = self.line(check);
        assert!(line.starts_with("FAIL  "), "{line}");
        for needle in needles {
            assert!(line.contains(needle), "{line:?} should contain {needle:?}");
        }
        assert!(
            self.stderr.contains("janus: error: doctor: 1 of"),
            "a one-line summary on stderr: {}",
            self.stderr
        );
    }
}

/// Runs `janus doctor` with exactly `env` (nothing inherited but PATH), in
/// an empty directory so no config/janus.toml is read, and checks that no
/// secret — ours or one in `env` — appears in what it printed.
async fn doctor(env: &[(String, String)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(JANUS)
        .arg("doctor")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir.path())
        .output()
        .await
        .expect("run janus doctor");
    let run = Run {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let secrets = env
        .iter()
        .filter(|(k, _)| k.ends_with("_TOKEN") || k.ends_with("_KEY"))
        .map(|(_, v)| v.as_str())
        .chain([
            slack_fake::APP_TOKEN,
            slack_fake::BOT_TOKEN,
            statuspage_fake::API_KEY,
            "xoxb-",
            "xapp-",
        ]);
    for secret in secrets {
        for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(secret),
                "a secret leaked into {name}:\n{text}"
            );
        }
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

#[tokio::test]
async fn doctor_passes_every_check_of_a_healthy_deployment() {
    let world = World::new().await;
    let run = doctor(&world.env()).await;
    assert!(
        run.success,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let checks: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| {
            assert!(l.starts_with("ok    "), "every line ok: {l}");
            l[6..].split(':').next().unwrap()
        })
        .collect();
    assert_eq!(
        checks,
        [
            "config",
            "templates",
            "bot token",
            "app token",
            "scopes",
            "digest channel",
            "auto-invite group",
            "provider github",
            "provider heroku",
            "statuspage",
            "statuspage publishers",
            "database",
        ]
    );
    assert_eq!(
        run.line("bot token"),
        format!(
            "ok    bot token: accepted for team Fake ({}) as @incident-desk ({})",
            slack_fake::TEAM_ID,
            slack_fake::BOT_USER_ID
        )
    );
    assert!(run.line("digest channel").contains("#incidents"));
    assert!(run.line("auto-invite group").contains("@sre-oncall"));
    // Live, not guessed: each service was asked, and nothing was changed.
    assert_eq!(world.slack.calls_to("apps.connections.open").len(), 1);
    assert!(world.slack.open_sockets().is_empty(), "no websocket opened");
    assert!(world.slack.calls_to("conversations.join").is_empty());
    assert!(world.slack.calls_to("chat.postMessage").is_empty());
    assert!(!world.providers.requests().is_empty());
    assert!(!world.page.requests().is_empty());
}

#[tokio::test]
async fn features_that_are_off_are_skipped_and_do_not_fail_doctor() {
    let world = World::new().await;
    let mut env = env_for(&world.slack, &world.db);
    env.push(("INCIDENTS_DIGEST_CHANNEL".into(), DIGEST.into()));
    let run = doctor(&env).await;
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    for check in ["auto-invite group", "providers", "statuspage"] {
        assert_eq!(run.line(check), format!("skip  {check}: not configured"));
    }
}

#[tokio::test]
async fn a_config_that_does_not_load_is_the_one_failed_line() {
    let world = World::new().await;
    let env: Vec<_> = world
        .env()
        .into_iter()
        .filter(|(k, _)| k != "SLACK_BOT_TOKEN")
        .collect();
    let run = doctor(&env).await;
    run.assert_fails_only("config", &["SLACK_BOT_TOKEN"]);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
}

#[tokio::test]
async fn a_refused_bot_token_fails_and_skips_what_needs_it() {
    let world = World::new().await;
    world.slack.set_bot_token_valid(false);
    let run = doctor(&world.env()).await;
    run.assert_fails_only("bot token", &["invalid_auth", "SLACK_BOT_TOKEN"]);
    for check in ["scopes", "digest channel", "auto-invite group"] {
        assert!(run.line(check).starts_with("skip  "), "{}", run.line(check));
    }
}

#[tokio::test]
async fn a_refused_app_token_fails_naming_it() {
    let world = World::new().await;
    world.slack.set_app_token_valid(false);
    let run = doctor(&world.env()).await;
    run.assert_fails_only(
        "app token",
        &["invalid_auth", "SLACK_APP_TOKEN", "starts with xapp"],
    );
}

#[tokio::test]
async fn missing_scopes_are_named_with_the_way_to_fix_them() {
    let world = World::new().await;
    let granted: Vec<&str> = janus::doctor::REQUIRED_BOT_SCOPES
        .iter()
        .copied()
        .filter(|s| !matches!(*s, "pins:write" | "bookmarks:write"))
        .collect();
    world.slack.set_bot_scopes(&granted);
    let run = doctor(&world.env()).await;
    run.assert_fails_only("scopes", &[]);
    assert!(
        run.line("scopes").starts_with(
            "FAIL  scopes: missing bookmarks:write, pins:write — reinstall the app from \
             slack_manifest.yaml"
        ),
        "{}",
        run.line("scopes")
    );
}

#[tokio::test]
async fn a_missing_digest_channel_fails_naming_it() {
    let world = World::with_digest(|_| {}).await;
    let run = doctor(&world.env()).await;
    run.assert_fails_only(
        "digest channel",
        &["no channel #incidents", "INCIDENTS_DIGEST_CHANNEL"],
    );
}

#[tokio::test]
async fn a_private_digest_channel_without_the_bot_asks_for_an_invite() {
    let world = World::with_digest(|slack| {
        slack.add_private_channel(DIGEST, false);
    })
    .await;
    let run = doctor(&world.env()).await;
    run.assert_fails_only("digest channel", &["/invite @incident-desk in #incidents"]);
}

#[tokio::test]
async fn a_private_digest_channel_with_the_bot_in_it_passes() {
    let world = World::with_digest(|slack| {
        slack.add_private_channel(DIGEST, true);
    })
    .await;
    let run = doctor(&world.env()).await;
    assert!(run.success, "{}", run.stdout);
    assert!(
        run.line("digest channel").ends_with("the bot is a member"),
        "{}",
        run.line("digest channel")
    );
}

#[tokio::test]
async fn a_missing_auto_invite_group_fails_naming_it() {
    let world = World::new().await;
    let run = doctor(&world.env_with("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME", "dba-oncall")).await;
    run.assert_fails_only(
        "auto-invite group",
        &["\"dba-oncall\"", "INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME"],
    );
}

#[tokio::test]
async fn an_auto_invite_group_name_matching_two_groups_fails_naming_their_ids() {
    let world = World::new().await;
    let other = world
        .slack
        .add_usergroup("sre-oncall-new", GROUP, &["U0MALLORY1"]);
    let run = doctor(&world.env()).await;
    run.assert_fails_only(
        "auto-invite group",
        &[
            "INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME",
            &other,
            "configure the id",
        ],
    );
}

#[tokio::test]
async fn an_unreachable_provider_fails_naming_it_and_its_url() {
    let world = World::new().await;
    let closed = ClosedPort::new();
    let dead = closed.url();
    let run = doctor(&world.env_with("JANUS_PROVIDERS__HEROKU__URL", &dead)).await;
    run.assert_fails_only(
        "provider heroku",
        &[
            "could not connect",
            &format!("{dead}/api/v4/current-status"),
            "JANUS_PROVIDERS__HEROKU__URL",
        ],
    );
}

#[tokio::test]
async fn a_refused_statuspage_key_fails_naming_it() {
    let world = World::new().await;
    let run = doctor(&world.env_with("STATUSPAGE_API_KEY", "spk-wrong-key-0123456789")).await;
    run.assert_fails_only("statuspage", &["HTTP 401", "STATUSPAGE_API_KEY"]);
}

#[tokio::test]
async fn statuspage_with_nobody_allowed_to_publish_fails_naming_both_settings() {
    let world = World::new().await;
    let mut env = world.env();
    env.retain(|(k, _)| k != "JANUS_STATUSPAGE__ALLOW_EVERYONE");
    let run = doctor(&env).await;
    run.assert_fails_only(
        "statuspage publishers",
        &[
            "nobody may",
            "JANUS_STATUSPAGE__ALLOWED_GROUP",
            "JANUS_STATUSPAGE__ALLOW_EVERYONE",
        ],
    );
}

#[tokio::test]
async fn a_statuspage_group_found_in_slack_passes_naming_its_id() {
    let world = World::new().await;
    let run = doctor(
        &world
            .env_with("JANUS_STATUSPAGE__ALLOW_EVERYONE", "false")
            .into_iter()
            .chain([(
                "JANUS_STATUSPAGE__ALLOWED_GROUP".to_owned(),
                format!("@{GROUP}"),
            )])
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(run.success, "{}", run.stdout);
    let line = run.line("statuspage publishers");
    assert!(line.contains("members of @sre-oncall (S"), "{line}");
}

#[tokio::test]
async fn an_unmigrated_database_fails_asking_to_run_migrate() {
    let world = World::new().await;
    let fresh = TestDb::create().await;
    if let Some(file) = fresh.sqlite_file() {
        // A SQLite file that is missing is fine (`janus run` creates it);
        // one that exists with no schema is what is unmigrated there.
        std::fs::File::create(file).unwrap();
    }
    let run = doctor(&world.env_with("DATABASE_URL", &fresh.url)).await;
    run.assert_fails_only("database", &["migration", "run `janus migrate`"]);
}

#[tokio::test]
async fn an_unreachable_database_fails_without_showing_its_password() {
    let world = World::new().await;
    let closed = ClosedPort::new();
    let port = closed.port;
    let url = format!("postgres://janus:doctor-db-password@127.0.0.1:{port}/janus");
    let run = doctor(&world.env_with("DATABASE_URL", &url)).await;
    run.assert_fails_only("database", &[&format!("127.0.0.1:{port}"), "DATABASE_URL"]);
    assert!(!run.stdout.contains("doctor-db-password"), "{}", run.stdout);
    assert!(!run.stderr.contains("doctor-db-password"), "{}", run.stderr);
}

#[tokio::test]
async fn doctor_checks_the_path_through_the_proxy_and_hides_its_password() {
    use crate::support::connect_proxy::{ConnectProxy, Mode};
    let world = World::new().await;
    // `alice:doctor-proxy-pw`
    let proxy = ConnectProxy::start(Mode::RequireAuth(
        "Basic YWxpY2U6ZG9jdG9yLXByb3h5LXB3".to_owned(),
    ))
    .await;
    let url = proxy.url_with("alice", "doctor-proxy-pw");
    let run = doctor(&world.env_with("HTTP_PROXY", &url)).await;
    assert!(
        run.success,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let authority = proxy.url().trim_start_matches("http://").to_owned();
    let line = run.line("proxy");
    assert!(line.starts_with("ok    "), "{line}");
    assert!(
        line.contains(&authority) && line.contains("reaches 127.0.0.1"),
        "{line}"
    );
    let (api, _) = world.slack.targets();
    assert!(proxy.saw(&api), "{:?}", proxy.targets());
    let page = world.page.base_url();
    let page = url::Url::parse(&page).unwrap();
    assert!(
        proxy.saw(&format!("127.0.0.1:{}", page.port().unwrap())),
        "Statuspage through the proxy: {:?}",
        proxy.targets()
    );
    assert!(!run.stdout.contains("doctor-proxy-pw"), "{}", run.stdout);
    assert!(!run.stderr.contains("doctor-proxy-pw"), "{}", run.stderr);

    proxy.set_mode(Mode::Refuse);
    let run = doctor(&world.env_with("HTTP_PROXY", &url)).await;
    assert!(!run.success);
    let line = run.line("proxy");
    assert!(line.starts_with("FAIL  "), "{line}");
    assert!(line.contains(&authority) && line.contains("403"), "{line}");
    assert!(!run.stdout.contains("doctor-proxy-pw"), "{}", run.stdout);
}
