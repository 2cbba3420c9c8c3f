//! The real binary with no database configured, as a first-time operator
//! runs it: its incidents go to `janus.db` in the working directory (or in
//! systemd's `STATE_DIRECTORY`), and a second process on that file refuses
//! to start instead of sharing it.

use std::time::Duration;

use crate::cli::{JANUS, start_binary};
use crate::payloads;
use crate::support::slack_fake::{self, FakeSlack};

/// Only what reaching Slack takes: the two tokens and the fake's URL. No
/// database setting at all, no workspace id.
fn slack_only(slack: &FakeSlack) -> Vec<(String, String)> {
    [
        ("SLACK_APP_TOKEN", slack_fake::APP_TOKEN.to_owned()),
        ("SLACK_BOT_TOKEN", slack_fake::BOT_TOKEN.to_owned()),
        ("SLACK_API_URL", slack.api_url()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn fake_slack() -> FakeSlack {
    janus::install_crypto_provider();
    let slack = FakeSlack::start().await;
    slack.add_channel("incidents", true);
    slack.add_user(payloads::ALICE, "alice");
    slack
}

#[tokio::test]
async fn without_a_database_setting_janus_keeps_incidents_in_janus_db_and_a_second_process_is_refused()
 {
    let slack = fake_slack().await;
    let general = slack.add_channel("general", true);
    let dir = tempfile::tempdir().unwrap();

    // Doctor before the first run: all is well, and it creates nothing.
    let (ok, database) = doctor_database_line(&slack, dir.path()).await;
    assert!(ok, "doctor passes before the first run: {database}");
    assert!(
        database.starts_with("ok    database: SQLite ")
            && database.contains("does not exist yet; `janus run` creates and migrates it"),
        "{database}"
    );
    assert!(
        !dir.path().join("janus.db").exists(),
        "doctor created no file"
    );

    let mut first = start_binary(slack_only(&slack), dir.path());
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;
    assert!(dir.path().join("janus.db").is_file(), "janus.db created");

    // Doctor beside the running bot: the file is busy, which is fine.
    let (ok, database) = doctor_database_line(&slack, dir.path()).await;
    assert!(ok, "doctor passes beside a running Janus: {database}");
    assert!(
        database.contains("is in use by a running Janus"),
        "{database}"
    );

    slack
        .send_envelope(slack_fake::envelope(
            "slash_commands",
            payloads::slash_incident(&general, "www down", &slack.response_url()),
            true,
        ))
        .await;
    let channel = slack
        .wait_for("the incident channel", Duration::from_secs(10), |s| {
            s.channels()
                .into_iter()
                .find(|c| c.name.starts_with("inc-") && c.name.ends_with("-www-down"))
        })
        .await;
    slack
        .wait_for("the control message", Duration::from_secs(10), |s| {
            s.channel(&channel.id).filter(|c| !c.pins.is_empty())
        })
        .await;

    let second = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(JANUS)
            .arg("run")
            .env_clear()
            .envs(slack_only(&slack))
            .current_dir(dir.path())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the second process exits by itself")
    .expect("run janus");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "refused: {stderr}");
    // The working directory as the process sees it (temp dirs may sit behind symlinks).
    let file = dir.path().canonicalize().unwrap().join("janus.db");
    for needle in [
        file.display().to_string().as_str(),
        "in use",
        "SQLite serves one process",
        "Postgres",
    ] {
        assert!(stderr.contains(needle), "stderr names {needle:?}: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(slack.open_sockets().len(), 2, "the second never connected");
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first process runs on"
    );
}

#[tokio::test]
async fn with_systemd_state_directory_set_janus_db_goes_there() {
    let slack = fake_slack().await;
    let work = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut env = slack_only(&slack);
    env.push((
        "STATE_DIRECTORY".to_owned(),
        format!("{}:/nonexistent/second", state.path().display()),
    ));

    let _janus = start_binary(env, work.path());
    slack.wait_for_sockets(2, Duration::from_secs(10)).await;
    assert!(
        state.path().join("janus.db").is_file(),
        "in the state directory"
    );
    assert!(
        !work.path().join("janus.db").exists(),
        "not in the working directory"
    );
}

/// Runs `janus doctor` in `dir` with [`slack_only`]'s settings: whether it
/// passed, and its database line.
async fn doctor_database_line(slack: &FakeSlack, dir: &std::path::Path) -> (bool, String) {
    let out = tokio::process::Command::new(JANUS)
        .arg("doctor")
        .env_clear()
        .envs(slack_only(slack))
        .current_dir(dir)
        .output()
        .await
        .expect("run janus doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = stdout
        .lines()
        .find(|l| l.contains("database:"))
        .unwrap_or_else(|| panic!("a database line in {stdout}"))
        .to_owned();
    (
        out.status.success(),
        format!("{line}\n(all of it:\n{stdout})"),
    )
}
