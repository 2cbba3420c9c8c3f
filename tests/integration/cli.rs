//! The real binary, as an operator runs it: exit codes, one-line errors,
//! and logs that never contain a token.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::payloads::{self, BOT};
use crate::support::harness::{TestDb, env_for};
use crate::support::slack_fake::{self, FakeSlack};

pub(crate) const JANUS: &str = env!("CARGO_BIN_EXE_janus");

/// Runs `janus <args>` with exactly `env` (nothing inherited but PATH), in
/// an empty working directory so no config/janus.toml is picked up.
fn janus(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    janus_in(dir.path(), args, env)
}

/// [`janus`] in the working directory `dir`, for files it reads from there (`.env`).
fn janus_in(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(String, String)],
) -> std::process::Output {
    Command::new(JANUS)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .output()
        .expect("run janus")
}

fn offline_env() -> Vec<(String, String)> {
    [
        ("SLACK_APP_TOKEN", slack_fake::APP_TOKEN),
        ("SLACK_BOT_TOKEN", slack_fake::BOT_TOKEN),
        ("SLACK_WORKSPACE_ID", "acme"),
        ("DATABASE_URL", "postgres://janus@127.0.0.1:1/janus"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn assert_one_line_error(out: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail; stderr: {stderr}");
    assert!(
        stderr.contains(needle),
        "stderr should name {needle:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    assert!(
        !stderr.contains("stack backtrace"),
        "no backtrace: {stderr}"
    );
    let errors = stderr.lines().filter(|l| l.contains("error")).count();
    assert_eq!(errors, 1, "one error line: {stderr}");
}

#[test]
fn check_accepts_the_built_in_templates() {
    let out = janus(&["check"], &offline_env());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_names_a_broken_template_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("help.json.hbs"),
        r#"[{"type": "section", "text": {"type": "mrkdwn", "text": "{{command}}"}},]"#,
    )
    .unwrap();
    let mut env = offline_env();
    env.push((
        "TEMPLATES_DIRECTORY".into(),
        dir.path().to_string_lossy().into_owned(),
    ));
    let out = janus(&["check"], &env);
    assert_one_line_error(&out, "help.json.hbs");
}

#[test]
fn a_missing_templates_directory_stops_start_up_naming_the_path() {
    let mut env = offline_env();
    env.push((
        "TEMPLATES_DIRECTORY".into(),
        "/nonexistent/janus-templates".into(),
    ));
    let out = janus(&["run"], &env);
    assert_one_line_error(&out, "/nonexistent/janus-templates");
}

#[test]
fn a_missing_token_stops_start_up_naming_it() {
    let env: Vec<_> = offline_env()
        .into_iter()
        .filter(|(k, _)| k != "SLACK_BOT_TOKEN")
        .collect();
    let out = janus(&["run"], &env);
    assert_one_line_error(&out, "SLACK_BOT_TOKEN");
}

/// A database that is not there is waited for, not given up on at once:
/// the real binary keeps running and says on each try what failed and when
/// the next try is, naming the database but never its password.
#[tokio::test]
async fn an_unreachable_database_is_retried_naming_it_and_never_its_password() {
    use tokio::io::AsyncBufReadExt;
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let mut env = offline_env();
    env.retain(|(k, _)| k != "DATABASE_URL");
    env.push((
        "DATABASE_URL".into(),
        "postgres://janus:s3cret-db-pw@127.0.0.1:1/janus".into(),
    ));
    env.push(("SLACK_API_URL".into(), slack.api_url()));
    env.push(("PATH".into(), std::env::var("PATH").unwrap_or_default()));
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(JANUS)
        .arg("run")
        .env_clear()
        .envs(env)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn janus");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let retries = tokio::time::timeout(Duration::from_secs(20), async {
        let mut retries = 0;
        while let Ok(Some(line)) = lines.next_line().await {
            retries += usize::from(line.contains("the database is not available yet"));
            seen.push(line);
            if retries == 2 {
                break;
            }
        }
        retries
    })
    .await;
    let log = seen.join("\n");
    assert_eq!(retries, Ok(2), "two tries logged: {log}");
    assert!(child.try_wait().unwrap().is_none(), "still running: {log}");
    assert!(
        log.contains("127.0.0.1:1/janus"),
        "names the database: {log}"
    );
    assert!(log.contains("trying again in"), "says when: {log}");
    assert!(log.contains("refused"), "says what failed: {log}");
    assert!(!log.contains("s3cret-db-pw"), "never the password: {log}");
    child.kill().await.unwrap();
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::create());
    let mut env = offline_env();
    env.retain(|(k, _)| k != "DATABASE_URL");
    env.push(("DATABASE_URL".into(), db.url.clone()));
    let out = janus(&["migrate"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = rt.block_on(db.count("SELECT count(*) FROM processed_envelopes"));
    assert_eq!(n, 0);
    drop(db);
}

/// Logs for shippers: with `JANUS_LOG_FORMAT=json` every line is one JSON
/// object; `RUST_LOG` filters as its directives say.
#[test]
fn json_logs_are_one_object_per_line_and_rust_log_filters_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = offline_env();
    env.retain(|(k, _)| k != "DATABASE_URL");
    let file = dir.path().join("janus.db");
    env.push((
        "DATABASE_URL".into(),
        format!("sqlite://{}", file.display()),
    ));
    env.push(("JANUS_LOG_FORMAT".into(), "json".into()));
    let out = janus(&["migrate"], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    let migrated = lines
        .iter()
        .find(|l| l["fields"]["message"] == "database migrated")
        .unwrap_or_else(|| panic!("a `database migrated` line: {stderr}"));
    assert_eq!(migrated["level"], "INFO");

    env.push(("RUST_LOG".into(), "warn".into()));
    let out = janus(&["migrate"], &env);
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("database migrated"),
        "RUST_LOG=warn hides INFO lines"
    );
}

/// The whole pipe through the real binary at TRACE level: sockets open,
/// help is answered, an incident is declared with Statuspage on (so its key
/// is used), SIGTERM stops it cleanly, and no token or key is in the logs.
#[tokio::test]
async fn the_binary_serves_declares_stops_on_sigterm_and_never_logs_a_secret() {
    use crate::support::statuspage_fake::{API_KEY, FakeStatuspage, PAGE_ID};
    let World {
        slack,
        db,
        general,
        dir,
        ..
    } = world().await;
    let page = FakeStatuspage::start().await;
    let mut env = env_for(&slack, &db);
    env.extend(
        [
            ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
            ("STATUSPAGE_API_KEY", API_KEY),
            ("STATUSPAGE_PAGE_ID", PAGE_ID),
            ("STATUSPAGE_API_URL", &page.base_url()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let (mut child, logs) = start_traced(env, dir.path());
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;

    let payload = payloads::app_mention(&general, &format!("<@{BOT}> help"), "Ev0BIN001", None);
    let envelope = slack_fake::envelope("events_api", payload, false);
    let id = slack_fake::envelope_id_of(&envelope);
    slack.send_envelope(envelope).await;
    slack.wait_ack(&id, Duration::from_secs(5)).await;
    slack
        .wait_for_call("chat.postMessage", Duration::from_secs(10))
        .await;

    // Janus answers on it: a credential like the tokens.
    let response_url = slack.response_url();
    let declare = slack_fake::envelope(
        "slash_commands",
        payloads::slash_incident(&general, "www down", &response_url),
        true,
    );
    slack.send_envelope(declare).await;
    // The Statuspage prompt warms the component cache: the key is used.
    slack
        .wait_for("the declarer's answer", Duration::from_secs(10), |s| {
            s.ephemerals().into_iter().next()
        })
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while page.requests().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Statuspage never called"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, logs) = stop_traced(&mut child, logs).await;
    assert!(
        status.success(),
        "exit 0 on SIGTERM; logs:\n{}",
        tail(&logs)
    );
    assert!(
        logs.len() > 10_000,
        "trace logging was on: {} bytes",
        logs.len()
    );
    for secret in [
        slack_fake::APP_TOKEN,
        slack_fake::BOT_TOKEN,
        API_KEY,
        &response_url,
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
    assert!(logs.contains("incident declared"), "the scenario ran");
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal (journald, files)"
    );
    // Part of a token is as bad as all of it.
    assert!(!logs.contains("xoxb-"), "bot token prefix in logs");
    assert!(!logs.contains("xapp-"), "app token prefix in logs");
}

/// Payloads Janus cannot type, envelopes and frames it does not know and a
/// frame that is not JSON are all logged with a snippet, to be recognised;
/// at TRACE everything is logged. None of them puts the verification
/// `token`, a `response_url` or a `trigger_id` they carry into the log, in
/// plain text or hex (the websocket library's frame dumps).
#[tokio::test]
async fn payloads_that_do_not_type_are_logged_without_their_token_or_response_url() {
    const TOKEN: &str = "verification-token-3f9c1e77";
    const HOOK: &str = "https://hooks.slack.com/commands/T0FAKE/1234/secret-hook-77ab";
    const TRIGGER: &str = "trigger-id-5d2a90c4";
    let World { slack, db, dir, .. } = world().await;
    let (mut child, logs) = start_traced(env_for(&slack, &db), dir.path());
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;

    // Each from our app and workspace, so it is read (another's is ignored
    // unread).
    let secrets = serde_json::json!({
        "token": TOKEN,
        "response_url": HOOK,
        "trigger_id": TRIGGER,
        "api_app_id": "A0FAKE",
        "team_id": "T0FAKE",
    });
    let with_secrets = |mut payload: serde_json::Value| {
        for (k, v) in secrets.as_object().unwrap() {
            payload[k] = v.clone();
        }
        payload
    };
    let envelopes = [
        // An event whose `event` is not one.
        slack_fake::envelope(
            "events_api",
            with_secrets(serde_json::json!({
                "type": "event_callback", "event_id": "Ev0SECRET01", "event": "not an event",
            })),
            false,
        ),
        // A slash command without its fields, and a response URL that is
        // not one (serde quotes the value it cannot read).
        slack_fake::envelope(
            "slash_commands",
            serde_json::json!({ "token": TOKEN, "response_url": "secret-hook-77ab", "text": 1,
                "api_app_id": "A0FAKE", "team_id": "T0FAKE" }),
            true,
        ),
        // A click without a user or channel.
        slack_fake::envelope(
            "interactive",
            with_secrets(serde_json::json!({ "type": "block_actions", "actions": [] })),
            false,
        ),
        // An envelope type Janus does not know, secrets nested deep.
        slack_fake::envelope(
            "mystery_kind",
            serde_json::json!({ "outer": { "response_urls": [{ "response_url": HOOK }],
                "inner": [with_secrets(serde_json::json!({ "kept": "visible-part" }))] },
                "api_app_id": "A0FAKE", "team_id": "T0FAKE" }),
            false,
        ),
    ];
    let ids: Vec<String> = envelopes.iter().map(slack_fake::envelope_id_of).collect();
    let mut envelopes = envelopes.into_iter();
    let socket = slack.send_envelope(envelopes.next().unwrap()).await;
    // A frame without envelope_id, and one that is not JSON at all.
    let unknown = with_secrets(serde_json::json!({ "type": "mystery_frame" }));
    slack.send_text(socket, &unknown.to_string()).await;
    let garbage = format!(r#"{{"type":"broken_frame","token":"{TOKEN}","response_url":"{HOOK}""#);
    slack.send_text(socket, &garbage).await;
    for envelope in envelopes {
        slack.send_frame(socket, envelope).await;
    }
    // One socket reads in order: with every ack back, every frame was read.
    for id in &ids {
        slack.wait_ack(id, Duration::from_secs(5)).await;
    }

    // SIGTERM drains the bus: every payload above has been handled (logged).
    let (status, logs) = stop_traced(&mut child, logs).await;
    assert!(status.success(), "exit 0; logs:\n{}", tail(&logs));
    // Each was logged, with enough of it to recognise.
    for seen in [
        "events_api payload",
        "slash command payload",
        "no user or channel",
        "mystery_kind",
        "visible-part",
        "mystery_frame",
        "broken_frame",
    ] {
        assert!(
            logs.contains(seen),
            "{seen:?} was not logged:\n{}",
            tail(&logs)
        );
    }
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for secret in [TOKEN, "secret-hook-77ab", TRIGGER] {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            lines.is_empty(),
            "{secret} leaked into the logs: {lines:#?}"
        );
        assert!(
            !logs.contains(&hex(secret)),
            "{secret} leaked into the logs in hex"
        );
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<_> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[tokio::test]
async fn a_refused_bot_token_stops_start_up_naming_it() {
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    slack.set_bot_token_valid(false);
    let db = TestDb::create().await;
    let config = janus::config::Config::load_from(None, env_for(&slack, &db)).unwrap();
    let started = std::time::Instant::now();
    let err = janus::app::start(&config, Default::default())
        .await
        .err()
        .expect("start-up fails");
    assert!(err.to_string().contains("SLACK_BOT_TOKEN"), "{err}");
    // No waiting fixes a refused token: at once, not after the patience.
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    assert_eq!(slack.calls_to("auth.test").len(), 1, "asked once");
    assert!(slack.open_sockets().is_empty(), "no socket opened");
}

/// The app is created from this file: it must ask for Socket Mode and the
/// command, and name no request URL.
#[test]
fn the_slack_manifest_turns_socket_mode_on_and_names_no_request_url() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/slack_manifest.yaml"))
            .expect("slack_manifest.yaml");
    assert!(manifest.contains("socket_mode_enabled: true"));
    assert!(manifest.contains("is_enabled: true"), "interactivity on");
    assert!(
        !manifest.contains("request_url") && !manifest.contains("url:"),
        "no request URLs"
    );
    assert!(manifest.contains("command: /incident"));
    // The events and scopes, exactly: `janus::slack::scopes`' tests.
}

/// The systemd unit restarts Janus however often it fails (a long outage
/// must not leave it dead), and gives start-up time to wait out a short
/// one before it must say it is ready.
#[test]
fn the_systemd_unit_restarts_forever_and_outwaits_the_start_up_patience() {
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/janus.service"))
            .expect("deploy/janus.service");
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key}= in the unit"))
            .trim()
            .to_owned()
    };
    assert_eq!(value("StartLimitIntervalSec"), "0", "never gives up");
    assert_eq!(value("Restart"), "on-failure");
    let start = value("TimeoutStartSec");
    let start: u64 = start
        .strip_suffix('s')
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("TimeoutStartSec in seconds: {start}"));
    let patience = janus::app::StartPatience::default().0;
    assert!(
        Duration::from_secs(start) >= patience + Duration::from_secs(10),
        "TimeoutStartSec={start}s leaves the sockets no time after {patience:?} of waiting"
    );
}

/// What a binary-level test runs against: the Slack fake with #general,
/// #incidents and Alice, a fresh database, and a working directory.
struct World {
    slack: FakeSlack,
    db: TestDb,
    general: String,
    digest: String,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    world_on(TestDb::create().await).await
}

async fn world_on(db: TestDb) -> World {
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    let general = slack.add_channel("general", true);
    let digest = slack.add_channel("incidents", true);
    slack.add_user(crate::payloads::ALICE, "alice");
    World {
        slack,
        db,
        general,
        digest,
        dir: tempfile::tempdir().unwrap(),
    }
}

/// SIGTERM to a Janus [`start_traced`] started; its exit status and its
/// whole log once it has exited (within 15 s).
async fn stop_traced(
    child: &mut tokio::process::Child,
    logs: tokio::task::JoinHandle<std::io::Result<Vec<u8>>>,
) -> (std::process::ExitStatus, String) {
    let pid = child.id().expect("pid");
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("janus exits after SIGTERM")
        .unwrap();
    let logs = logs.await.unwrap().unwrap();
    (status, String::from_utf8_lossy(&logs).into_owned())
}

/// `janus run` with `env` and the log at TRACE, every line kept (read as
/// it comes: a full pipe would stall Janus); the log is there once Janus
/// has exited.
fn start_traced(
    env: Vec<(String, String)>,
    dir: &std::path::Path,
) -> (
    tokio::process::Child,
    tokio::task::JoinHandle<std::io::Result<Vec<u8>>>,
) {
    let mut child = tokio::process::Command::new(JANUS)
        .arg("run")
        .env_clear()
        .envs(env)
        .env("RUST_LOG", "trace")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn janus");
    let mut stderr = child.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        let mut buf = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut buf)
            .await
            .map(|_| buf)
    });
    (child, logs)
}

/// Starts the real binary with `env`, its logs drained (a full pipe would
/// stall it).
pub(crate) fn start_binary(
    env: Vec<(String, String)>,
    dir: &std::path::Path,
) -> tokio::process::Child {
    let mut child = tokio::process::Command::new(JANUS)
        .arg("run")
        .env_clear()
        .envs(env)
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn janus");
    let mut stderr = child.stderr.take().unwrap();
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut sink).await;
    });
    child
}

/// Declares, kills Janus with SIGKILL once the `nth` call of `method` has
/// reached Slack (held there by `faults`, queued in order), starts it again,
/// and checks the incident was finished with every step done exactly once.
async fn killed_during(method: &str, faults: Vec<crate::support::slack_fake::Fault>, nth: usize) {
    let World {
        slack,
        db,
        general,
        digest,
        dir,
    } = world().await;

    let mut first = start_binary(env_for(&slack, &db), dir.path());
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;
    for fault in faults {
        slack.inject(method, fault);
    }
    let declare = slack_fake::envelope(
        "slash_commands",
        payloads::slash_incident(&general, "db failover", &slack.response_url()),
        true,
    );
    slack.send_envelope(declare).await;
    slack
        .wait_for_calls(method, nth, Duration::from_secs(10))
        .await;
    first.start_kill().unwrap(); // SIGKILL: no shutdown, no cleanup
    first.wait().await.unwrap();
    db.wait_locks_released().await;

    let _second = start_binary(env_for(&slack, &db), dir.path());
    db.eventually_count(
        "SELECT count(*) FROM incidents WHERE completed_at IS NOT NULL",
        1,
    )
    .await;
    let incident_channels: Vec<_> = slack
        .channels()
        .into_iter()
        .filter(|c| c.name.starts_with("inc-"))
        .collect();
    assert_eq!(
        incident_channels.len(),
        1,
        "one channel: {incident_channels:?}"
    );
    let channel = &incident_channels[0];
    assert_eq!(
        crate::support::harness::control_messages(&slack, &channel.id),
        1,
        "one control message"
    );
    assert_eq!(
        slack.channel(&channel.id).unwrap().pins.len(),
        1,
        "pinned once"
    );
    assert_eq!(slack.messages(&digest).len(), 1, "one digest message");
    assert!(
        channel.members.iter().any(|m| m == crate::payloads::ALICE),
        "the declarer is in the channel"
    );
    slack
        .wait_for("the declarer is answered", Duration::from_secs(10), |s| {
            s.ephemerals().into_iter().next()
        })
        .await;
}

#[tokio::test]
async fn a_declaration_killed_after_slack_created_the_channel_is_finished_with_that_channel() {
    use crate::support::slack_fake::Fault;
    killed_during(
        "conversations.create",
        vec![Fault::ApplyThenDelay(Duration::from_secs(30))],
        1,
    )
    .await;
}

#[tokio::test]
async fn a_declaration_killed_after_the_control_message_was_posted_is_finished_without_a_second() {
    use crate::support::slack_fake::Fault;
    killed_during(
        "chat.postMessage",
        vec![Fault::ApplyThenDelay(Duration::from_secs(30))],
        1,
    )
    .await;
}

#[tokio::test]
async fn a_declaration_killed_after_the_digest_was_posted_is_finished_without_a_second() {
    use crate::support::slack_fake::Fault;
    // The first postMessage (control) goes through; the second (digest) is
    // applied, but its answer never reaches Janus.
    let hold = Fault::ApplyThenDelay(Duration::from_secs(30));
    killed_during(
        "chat.postMessage",
        vec![Fault::Delay(Duration::ZERO), hold],
        2,
    )
    .await;
}

#[tokio::test]
async fn a_declaration_killed_while_pinning_is_finished_with_one_pin() {
    use crate::support::slack_fake::Fault;
    killed_during("pins.add", vec![Fault::Delay(Duration::from_secs(30))], 1).await;
}

/// Starts the binary with `env` and declares one incident through it;
/// returns the running binary and the incident's channel.
async fn binary_with_an_incident(
    slack: &FakeSlack,
    db: &TestDb,
    general: &str,
    env: Vec<(String, String)>,
    dir: &std::path::Path,
) -> (tokio::process::Child, crate::support::slack_fake::Channel) {
    let binary = start_binary(env, dir);
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;
    slack
        .send_envelope(slack_fake::envelope(
            "slash_commands",
            payloads::slash_incident(general, "db failover", &slack.response_url()),
            true,
        ))
        .await;
    db.eventually_count(
        "SELECT count(*) FROM incidents WHERE completed_at IS NOT NULL",
        1,
    )
    .await;
    let channel = slack
        .channels()
        .into_iter()
        .find(|c| c.name.starts_with("inc-"))
        .unwrap();
    (binary, channel)
}

/// A crash between a change and its Slack update: on restart the control
/// and digest messages are brought up to what the database holds.
#[tokio::test]
async fn a_change_whose_update_a_crash_cut_short_is_shown_after_restart() {
    use crate::support::slack_fake::Fault;
    let World {
        slack,
        db,
        general,
        digest,
        dir,
    } = world().await;

    let (mut first, channel) =
        binary_with_an_incident(&slack, &db, &general, env_for(&slack, &db), dir.path()).await;
    // The update after the change never gets through before the crash.
    slack.inject("chat.update", Fault::Delay(Duration::from_secs(60)));
    let click = payloads::block_action(
        &channel.id,
        crate::payloads::ALICE,
        &channel.pins[0],
        payloads::select("janus.status", "monitoring"),
        &slack.response_url(),
    );
    slack
        .send_envelope(slack_fake::envelope("interactive", click, false))
        .await;
    slack
        .wait_for_call("chat.update", Duration::from_secs(10))
        .await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let digest_status = |slack: &FakeSlack| {
        let message = slack.messages(&digest).into_iter().next()?;
        crate::support::harness::field(message.blocks.as_ref()?, "Status")
    };
    assert_eq!(
        digest_status(&slack).as_deref(),
        Some("Investigating"),
        "not shown before the restart"
    );

    let _second = start_binary(env_for(&slack, &db), dir.path());
    slack
        .wait_for("the digest catches up", Duration::from_secs(10), |s| {
            (digest_status(s).as_deref() == Some("Monitoring")).then_some(())
        })
        .await;
}

/// Two replicas: the one declaring dies mid-way while the other runs on;
/// the survivor (elected to run recovery once the dead one's database
/// lock is gone) finishes the declaration without a restart.
#[tokio::test]
async fn a_replica_that_dies_mid_declaration_has_it_finished_by_the_survivor() {
    use crate::support::slack_fake::Fault;
    let World {
        slack,
        db,
        general,
        digest,
        dir,
    } = world_on(TestDb::postgres().await).await;
    let env = || {
        let mut env = env_for(&slack, &db);
        env.push(("JANUS_RECOVERY_INTERVAL".into(), "1".into()));
        env
    };

    let mut dying = start_binary(env(), dir.path());
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;
    slack.inject("pins.add", Fault::Delay(Duration::from_secs(60)));
    slack
        .send_envelope(slack_fake::envelope(
            "slash_commands",
            payloads::slash_incident(&general, "db failover", &slack.response_url()),
            true,
        ))
        .await;
    slack
        .wait_for_call("pins.add", Duration::from_secs(10))
        .await;
    // The survivor runs in this process, so that the test can wait for its
    // start-up recovery to be over (it must skip the declaration the other
    // replica still holds) rather than guess how long it takes.
    let config = janus::config::Config::load_from(None, env()).expect("config");
    let survivor = janus::app::start(&config, crate::support::harness::fast_options())
        .await
        .expect("the survivor starts");
    assert!(survivor.wait_connected(2, Duration::from_secs(10)).await);
    assert!(survivor.wait_idle(Duration::from_secs(20)).await);
    assert_eq!(
        db.count("SELECT count(*) FROM incidents WHERE completed_at IS NOT NULL")
            .await,
        0,
        "still in flight on the dying replica"
    );
    dying.start_kill().unwrap();
    dying.wait().await.unwrap();

    db.eventually_count(
        "SELECT count(*) FROM incidents WHERE completed_at IS NOT NULL",
        1,
    )
    .await;
    assert_eq!(slack.messages(&digest).len(), 1, "one digest message");
    let channels = slack
        .channels()
        .into_iter()
        .filter(|c| c.name.starts_with("inc-"))
        .count();
    assert_eq!(channels, 1);
    survivor.stop().await.expect("the survivor stops cleanly");
}

#[tokio::test]
async fn a_react_declaration_killed_after_quoting_the_message_quotes_it_once() {
    use crate::support::slack_fake::Fault;
    let World {
        slack,
        db,
        general,
        dir,
        ..
    } = world().await;
    slack.add_user(crate::payloads::BOB, "bob");
    let env = || {
        let mut env = env_for(&slack, &db);
        env.push((
            "INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED".into(),
            "true".into(),
        ));
        env.push((
            "INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME".into(),
            "fire".into(),
        ));
        env
    };
    let ts = slack.post_as_user(&general, crate::payloads::ALICE, "checkout is down");

    let mut first = start_binary(env(), dir.path());
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;
    // postMessage 1 is the control message, 2 the quoted origin: applied,
    // but its answer never reaches Janus.
    slack.inject("chat.postMessage", Fault::Delay(Duration::ZERO));
    slack.inject(
        "chat.postMessage",
        Fault::ApplyThenDelay(Duration::from_secs(30)),
    );
    let reaction =
        payloads::reaction_added(&general, &ts, crate::payloads::BOB, "fire", "Ev0KILL001");
    slack
        .send_envelope(slack_fake::envelope("events_api", reaction, false))
        .await;
    slack
        .wait_for_calls("chat.postMessage", 2, Duration::from_secs(10))
        .await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();

    db.wait_locks_released().await;
    let _second = start_binary(env(), dir.path());
    db.eventually_count(
        "SELECT count(*) FROM incidents WHERE completed_at IS NOT NULL",
        1,
    )
    .await;
    let channel = slack
        .channels()
        .into_iter()
        .find(|c| c.name.contains("-auto-"))
        .expect("the auto incident channel");
    let quotes = slack
        .messages(&channel.id)
        .iter()
        .filter(|m| {
            m.blocks
                .as_ref()
                .is_some_and(|b| b.to_string().contains("Declared from"))
        })
        .count();
    assert_eq!(quotes, 1, "the message is quoted once");
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "should succeed; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn templates_render_prints_block_kit_builder_json_without_tokens() {
    let message: serde_json::Value =
        serde_json::from_str(&stdout(&janus(&["templates", "render", "digest"], &[])))
            .expect("a message renders as JSON");
    let blocks = message["blocks"].as_array().expect("{\"blocks\": [...]}");
    assert!(!blocks.is_empty());
    // The sample's hostile description arrives escaped.
    let text = message.to_string();
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    assert!(!text.contains("<!channel>"), "{text}");

    let modal: serde_json::Value = serde_json::from_str(&stdout(&janus(
        &["templates", "render", "declare_modal"],
        &[],
    )))
    .expect("a modal renders as JSON");
    assert_eq!(modal["type"], "modal", "a modal is the view itself");
}

#[test]
fn templates_render_uses_the_configured_directory_and_names_unknown_templates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("help.json.hbs"),
        r#"[{"type": "section", "text": {"type": "mrkdwn", "text": "Our own help for {{command}}"}}]"#,
    )
    .unwrap();
    let mut env = offline_env();
    env.push((
        "TEMPLATES_DIRECTORY".into(),
        dir.path().to_string_lossy().into_owned(),
    ));
    let out = stdout(&janus(&["templates", "render", "help"], &env));
    assert!(out.contains("Our own help for /incident"), "{out}");

    let out = janus(&["templates", "render", "nope"], &[]);
    assert_one_line_error(&out, "no template named \"nope\"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("digest, declared"));
}

#[test]
fn templates_export_writes_every_template_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("tpl");
    let target_arg = target.to_string_lossy().into_owned();
    let out = stdout(&janus(&["templates", "export", &target_arg], &[]));
    let every = janus::render::BUILTIN.len();
    assert!(out.contains(&format!("wrote {every} templates")), "{out}");
    let digest = std::fs::read_to_string(target.join("digest.json.hbs")).unwrap();
    assert_eq!(digest, include_str!("../../templates/digest.json.hbs"));

    // The export is a valid TEMPLATES_DIRECTORY as it stands.
    let out = janus(
        &["templates", "render", "control", "--dir", &target_arg],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An operator's edit survives a second export unless --force.
    std::fs::write(target.join("digest.json.hbs"), "edited").unwrap();
    let out = janus(&["templates", "export", &target_arg], &[]);
    assert_one_line_error(&out, "already exists");
    assert_eq!(
        std::fs::read_to_string(target.join("digest.json.hbs")).unwrap(),
        "edited"
    );
    stdout(&janus(
        &["templates", "export", "--force", &target_arg],
        &[],
    ));
    assert_eq!(
        std::fs::read_to_string(target.join("digest.json.hbs")).unwrap(),
        digest
    );
}

/// Under systemd (`Type=notify`): READY=1 only once a socket is open, the
/// watchdog pinged at half its interval, a status line with the socket
/// count, and STOPPING=1 on SIGTERM — over the real notify datagram socket.
#[tokio::test]
async fn under_systemd_janus_is_ready_once_connected_feeds_the_watchdog_and_says_stopping() {
    let World { slack, db, dir, .. } = world().await;
    // Slack refuses the first handshakes: ready must wait for a real socket.
    slack.reject_next_handshakes(2);
    let path = dir.path().join("notify.sock");
    let notify = tokio::net::UnixDatagram::bind(&path).expect("bind the notify socket");
    let mut env = env_for(&slack, &db);
    env.push(("NOTIFY_SOCKET".into(), path.to_string_lossy().into_owned()));
    env.push(("WATCHDOG_USEC".into(), "200000".into()));
    let mut child = start_binary(env, dir.path());

    let mut buf = vec![0u8; 4096];
    let mut next = async || -> String {
        let n = tokio::time::timeout(Duration::from_secs(20), notify.recv(&mut buf))
            .await
            .expect("a notification within 20 s")
            .expect("recv");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut watchdog_pings = 0;
    let ready = loop {
        let message = next().await;
        if message.contains("WATCHDOG=1") {
            watchdog_pings += 1;
        }
        if message.contains("READY=1") {
            break message;
        }
    };
    assert!(
        !slack.open_sockets().is_empty() && slack.rejected_handshakes().len() == 2,
        "READY=1 came before a socket was open"
    );
    assert!(
        ready.contains("STATUS=") && ready.contains("of 2 Socket Mode connections open"),
        "{ready}"
    );
    let mut statuses = vec![ready];
    while watchdog_pings < 3 || !statuses.iter().any(|s| s.contains("STATUS=2 of 2")) {
        let message = next().await;
        if message.contains("WATCHDOG=1") {
            watchdog_pings += 1;
        } else {
            statuses.push(message);
        }
    }

    let pid = child.id().expect("pid");
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    loop {
        let message = next().await;
        if message.contains("STOPPING=1") {
            break;
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("janus exits after SIGTERM")
        .unwrap();
    assert!(status.success());
}

/// No container engine runs here, so check what can be checked offline:
/// the image is built in stages, runs as non-root with the state volume
/// where the SQLite default goes, and local secrets stay out of its build
/// context.
#[test]
fn the_container_image_builds_in_stages_and_runs_as_non_root() {
    let read = |name: &str| {
        std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))).expect(name)
    };
    let image = read("Containerfile");
    let stages: Vec<&str> = image.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "a build stage and a run stage: {stages:?}");
    assert!(stages[1].contains("distroless"), "small final image");
    assert!(image.contains("cargo build --release --locked"));
    let user = image
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(!user.contains("root") || user.contains("nonroot"), "{user}");
    assert!(!user.ends_with(" 0") && !user.contains(" 0:"), "{user}");
    assert!(image.contains("ENV STATE_DIRECTORY=/var/lib/janus"));
    assert!(image.contains("VOLUME [\"/var/lib/janus\"]"));

    let ignored = read(".dockerignore");
    for entry in ["target", ".env", "secrets", "janus.db"] {
        assert!(
            ignored.lines().any(|l| l == entry),
            "{entry} must stay out of the build context"
        );
    }
}

/// compose.yaml, read as YAML (no container runtime needed): both services
/// run read-only, without capabilities or privilege gain; every secret is a
/// compose secret file, none an environment value; and the variables name
/// what the binary reads — the Janus service's environment, with its
/// secret files in place, loads as a Postgres configuration with the tokens
/// from those files.
#[test]
fn compose_runs_read_only_without_capabilities_and_hands_janus_its_secrets_as_files() {
    use secrecy::ExposeSecret;
    use serde_json::Value;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/compose.yaml"))
        .expect("compose.yaml");
    let compose: Value = serde_yaml_ng::from_str(&text).expect("compose.yaml is YAML");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let defined = compose["secrets"].as_object().expect("top-level secrets");
    for (name, secret) in defined {
        let file = secret["file"].as_str().unwrap_or_default();
        assert_eq!(file, format!("./secrets/{name}"), "secret {name}");
    }

    for name in ["janus", "postgres"] {
        let service = &compose["services"][name];
        assert_eq!(service["read_only"], true, "{name}: read-only root");
        assert_eq!(
            strings(&service["cap_drop"]),
            ["ALL"],
            "{name}: no capabilities"
        );
        assert!(service.get("cap_add").is_none(), "{name}: none added back");
        assert!(
            strings(&service["security_opt"]).contains(&"no-new-privileges:true".to_owned()),
            "{name}: no privilege gain"
        );
        assert!(
            !strings(&service["tmpfs"]).is_empty(),
            "{name}: somewhere to write"
        );
        assert!(
            service.get("env_file").is_none(),
            "{name}: no .env of plain values"
        );
        let env = service["environment"]
            .as_object()
            .expect("a map of variables");
        let mounted = strings(&service["secrets"]);
        for (var, value) in env {
            let value = value.as_str().expect("string values");
            assert!(
                !value.starts_with("xapp-") && !value.starts_with("xoxb-"),
                "{name}: a token in {var}"
            );
            if var.ends_with("_FILE") {
                let secret = value
                    .strip_prefix("/run/secrets/")
                    .expect("a compose secret");
                assert!(
                    mounted.iter().any(|m| m == secret),
                    "{name} mounts {secret}"
                );
                assert!(defined.contains_key(secret), "{secret} is defined");
            }
        }
        for plain in [
            "SLACK_APP_TOKEN",
            "SLACK_BOT_TOKEN",
            "DATABASE_PASSWORD",
            "DATABASE_URL",
            "POSTGRES_PASSWORD",
        ] {
            assert!(!env.contains_key(plain), "{name}: {plain} as a plain value");
        }
    }
    let postgres = &compose["services"]["postgres"];
    assert_eq!(
        postgres["user"], "postgres",
        "no root entrypoint, so no capabilities"
    );
    assert_eq!(
        postgres["environment"]["POSTGRES_PASSWORD_FILE"],
        "/run/secrets/postgres_password"
    );
    assert!(text.contains("pg_isready"));
    assert_eq!(
        compose["services"]["janus"]["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );

    // What the binary makes of the Janus service's environment, each
    // /run/secrets/NAME standing in a temporary folder.
    let dir = tempfile::tempdir().unwrap();
    let samples = [
        ("slack_app_token", "xapp-fake-compose-token"),
        ("slack_bot_token", "xoxb-1-compose"),
        ("postgres_password", "pw-from-a-file"),
    ];
    for (name, value) in samples {
        assert!(defined.contains_key(name), "{name} is defined");
        std::fs::write(dir.path().join(name), format!("{value}\n")).unwrap();
    }
    let env: Vec<(String, String)> = compose["services"]["janus"]["environment"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().unwrap();
            let v = match v.strip_prefix("/run/secrets/") {
                Some(name) => dir.path().join(name).display().to_string(),
                None => v.to_owned(),
            };
            (k.clone(), v)
        })
        .collect();
    let config = janus::config::Config::load_from(None, env).expect("the binary reads it");
    assert_eq!(config.slack.app_token.expose_secret(), samples[0].1);
    assert_eq!(config.slack.bot_token.expose_secret(), samples[1].1);
    let url = config.database.url.expose_secret();
    assert!(
        url.starts_with("postgres://janus:"),
        "Postgres, as user janus"
    );
    assert!(
        url.contains("pw-from-a-file@postgres:5432/janus"),
        "the password file is read"
    );
    // The Postgres beside it has no certificate: without this, a host that
    // is not this machine gets `verify-full` and Janus would not start.
    assert_eq!(
        config.database.tls.sslmode,
        Some(janus::config::SslMode::Disable)
    );
}

/// A crash after a click's change committed but before its line reached
/// the channel: after the restart the line is posted once, and Slack's
/// redelivery of the same click changes nothing (the delivery was stored
/// with the change, in one transaction).
#[tokio::test]
async fn a_click_killed_before_its_line_was_posted_is_announced_once_and_its_redelivery_ignored() {
    use crate::support::slack_fake::Fault;
    let World {
        slack,
        db,
        general,
        digest: _,
        dir,
    } = world().await;
    let mut env = env_for(&slack, &db);
    env.push(("JANUS_RECOVERY_INTERVAL".into(), "1".into()));

    let (mut first, channel) =
        binary_with_an_incident(&slack, &db, &general, env.clone(), dir.path()).await;
    let lines_before = slack.messages(&channel.id).len();
    // The change's line never gets through before the crash.
    slack.inject("chat.postMessage", Fault::Hang);
    let click = slack_fake::envelope(
        "interactive",
        payloads::block_action(
            &channel.id,
            crate::payloads::ALICE,
            &channel.pins[0],
            payloads::select("janus.status", "monitoring"),
            &slack.response_url(),
        ),
        false,
    );
    slack.send_envelope(click.clone()).await;
    let posts = slack.calls_to("chat.postMessage").len();
    slack
        .wait_for_calls("chat.postMessage", posts + 1, Duration::from_secs(10))
        .await;
    first.start_kill().unwrap(); // SIGKILL: no shutdown, no cleanup
    first.wait().await.unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM incidents WHERE status = 'monitoring'")
            .await,
        1,
        "the change committed before the crash"
    );
    assert_eq!(
        slack.messages(&channel.id).len(),
        lines_before,
        "no line yet"
    );

    let _second = start_binary(env, dir.path());
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;
    // Slack delivers the click again (as it does an event whose ack it missed).
    let mut again = click;
    again["retry_attempt"] = 1.into();
    again["retry_reason"] = "timeout".into();
    let id = slack_fake::envelope_id_of(&again);
    slack.send_envelope(again).await;
    slack.wait_ack(&id, Duration::from_secs(10)).await;

    let line_of = |m: &crate::support::slack_fake::Message| {
        crate::support::harness::all_text(m.blocks.as_ref().unwrap_or(&serde_json::Value::Null))
            .contains("changed the status from *Investigating* to *Monitoring*")
    };
    slack
        .wait_for(
            "the line, after the restart",
            Duration::from_secs(20),
            |s| s.messages(&channel.id).iter().any(line_of).then_some(()),
        )
        .await;
    db.eventually_count(
        "SELECT count(*) FROM incident_events WHERE announced_at IS NULL",
        0,
    )
    .await;
    assert_eq!(
        slack
            .messages(&channel.id)
            .iter()
            .filter(|m| line_of(m))
            .count(),
        1,
        "the line is posted once"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM incident_events WHERE kind = 'status'")
            .await,
        1,
        "the redelivery changed nothing"
    );
}

// --- coming from the Python janus -------------------------------------------------------------

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `.env` lines for the offline environment: Python names, one exported, one quoted.
fn offline_dotenv() -> String {
    format!(
        "# as the Python janus had it\nSLACK_APP_TOKEN={}\nexport SLACK_BOT_TOKEN=\"{}\"\n\
         SLACK_WORKSPACE_ID=acme  # the workspace\nDATABASE_URL='postgres://janus@127.0.0.1:1/janus'\n",
        slack_fake::APP_TOKEN,
        slack_fake::BOT_TOKEN,
    )
}

#[test]
fn check_reads_the_dot_env_file_of_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    // Without the file, the tokens are missing.
    assert_one_line_error(&janus_in(dir.path(), &["check"], &[]), "SLACK_APP_TOKEN");
    std::fs::write(dir.path().join(".env"), offline_dotenv()).unwrap();
    let out = janus_in(dir.path(), &["check"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_real_variable_wins_over_the_dot_env_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}INCIDENTS_DIGEST_CHANNEL=Not A Channel\n",
        offline_dotenv()
    );
    std::fs::write(dir.path().join(".env"), text).unwrap();
    let out = janus_in(dir.path(), &["check"], &[]);
    assert_one_line_error(
        &out,
        "(from .env file .env line 6 (INCIDENTS_DIGEST_CHANNEL))",
    );
    let fixed = janus_in(
        dir.path(),
        &["check"],
        &pairs(&[("INCIDENTS_DIGEST_CHANNEL", "war-room")]),
    );
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
}

#[test]
fn a_bad_dot_env_line_stops_start_up_naming_the_file_and_line_but_not_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}SLACK_SIGNING_SECRET=\"s3cret-signing\n",
        offline_dotenv()
    );
    std::fs::write(dir.path().join(".env"), text).unwrap();
    let out = janus_in(dir.path(), &["run"], &[]);
    assert_one_line_error(
        &out,
        ".env file .env, line 6: SLACK_SIGNING_SECRET's value opens",
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret"));
}

#[test]
fn env_file_names_another_file_and_a_missing_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("janus.env"), offline_dotenv()).unwrap();
    // A `.env` that would fail is not read when another file is named.
    std::fs::write(dir.path().join(".env"), "this is not dotenv\n").unwrap();
    let out = janus_in(dir.path(), &["check", "--env-file", "janus.env"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let by_variable = janus_in(
        dir.path(),
        &["check"],
        &pairs(&[("JANUS_ENV_FILE", "janus.env")]),
    );
    assert!(by_variable.status.success());
    let missing = janus_in(dir.path(), &["run", "--env-file", "prod.env"], &[]);
    assert_one_line_error(&missing, ".env file prod.env does not exist");
}

#[test]
fn janus_config_in_the_dot_env_file_names_the_toml_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("janus.toml"), "[slack]\nsockets = 20\n").unwrap();
    let text = format!("{}JANUS_CONFIG=janus.toml\n", offline_dotenv());
    std::fs::write(dir.path().join(".env"), text).unwrap();
    let out = janus_in(dir.path(), &["check"], &[]);
    assert_one_line_error(&out, "`slack.sockets` (from TOML file janus.toml)");
}

#[test]
fn check_names_what_replaced_each_python_janus_template_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(templates.join("slack")).unwrap();
    std::fs::write(templates.join("incident_resolution_message.json"), "{}").unwrap();
    std::fs::write(templates.join("slack/incident_user_role_dm.json"), "{}").unwrap();
    std::fs::write(templates.join("role_definitions.json"), "{}").unwrap();
    let mut env = offline_env();
    env.push(("TEMPLATES_DIRECTORY".into(), "templates".into()));
    let out = janus_in(dir.path(), &["check"], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning, not a refusal: {stderr}");
    for (file, replaced_by) in [
        (
            "templates/incident_resolution_message.json",
            "the `resolved` template",
        ),
        (
            "templates/slack/incident_user_role_dm.json",
            "the `role_dm` template",
        ),
        ("templates/role_definitions.json", "set `incident.roles`"),
    ] {
        let line = stderr
            .lines()
            .find(|line| line.contains(file))
            .unwrap_or_else(|| panic!("no line for {file}: {stderr}"));
        assert!(line.starts_with("janus: warning: "), "{line}");
        assert!(line.contains(replaced_by), "{line}");
    }
    assert!(stderr.contains("janus templates export DIR"), "{stderr}");
}

/// `janus run` with nothing in its environment but PATH: everything comes from `.env`, which
/// connects it, and neither token reaches the log, even at TRACE.
#[tokio::test]
async fn run_takes_its_settings_from_dot_env_and_never_logs_them() {
    let World { slack, db, dir, .. } = world().await;
    let lines: String = env_for(&slack, &db)
        .into_iter()
        .map(|(name, value)| format!("{name}='{value}'\n"))
        .collect();
    std::fs::write(dir.path().join(".env"), lines).unwrap();
    let env = pairs(&[("PATH", &std::env::var("PATH").unwrap_or_default())]);
    let (mut child, logs) = start_traced(env, dir.path());
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;
    let (status, logs) = stop_traced(&mut child, logs).await;
    assert!(status.success(), "{}", tail(&logs));
    assert!(logs.contains("read the .env file"), "{}", tail(&logs));
    for secret in [
        slack_fake::APP_TOKEN,
        slack_fake::BOT_TOKEN,
        "xoxb-",
        "xapp-",
    ] {
        assert!(
            !logs.contains(secret),
            "a token from .env leaked into the logs"
        );
    }
}
