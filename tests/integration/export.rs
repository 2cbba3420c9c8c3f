//! `janus export`: the postmortem draft, from the database alone.

use std::process::Command;

use crate::cli::JANUS;
use crate::declare::{created_channel, declare, workspace};
use crate::payloads::ALICE;
use crate::support::slack_fake;

/// The golden draft; `JANUS_UPDATE_GOLDEN=1 cargo test export::` rewrites it.
const GOLDEN: &str = "tests/fixtures/export/postmortem.md";

/// One incident's life, at fixed times: declared 15:30 UTC, Bob commander
/// at 15:31, identified 15:42:10 with an update, Carol assigned technical
/// lead then released, a message marked, sev2 at 15:50, resolved 16:42.
const STORY: &str = r#"
INSERT INTO incidents (id, channel_id, channel_name, declared_in, description, status, severity,
    created_by, created_at, updated_at, resolved_at, completed_at)
VALUES (7, 'C0INC00007', 'inc-202611271630-checkout-returns-500s', 'C0GENERAL1',
    'checkout returns 500s | for EU users', 'resolved', 'sev2', 'U0ALICE01',
    '2026-11-27T15:30:00.000000Z', '2026-11-27T16:42:00.000000Z', '2026-11-27T16:42:00.000000Z',
    '2026-11-27T15:30:05.000000Z');
INSERT INTO role_assignments (incident_id, role, user_id, assigned_by, assigned_at)
VALUES (7, 'incident_commander', 'U0BOB0001', 'U0BOB0001', '2026-11-27T15:31:00.000000Z');
INSERT INTO incident_events (incident_id, actor, kind, detail, at) VALUES
 (7, 'U0ALICE01', 'declared', '{"status":"investigating","severity":"sev4"}', '2026-11-27T15:30:00.000000Z'),
 (7, 'U0BOB0001', 'role', '{"role":"incident_commander","holder":"U0BOB0001","how":"claimed"}', '2026-11-27T15:31:00.000000Z'),
 (7, 'U0BOB0001', 'status', '{"from":"investigating","to":"identified"}', '2026-11-27T15:42:10.000000Z'),
 (7, 'U0BOB0001', 'update', '{"text":"Bad deploy of payments-api;\nrolling back","status":"identified"}', '2026-11-27T15:42:10.000000Z'),
 (7, 'U0BOB0001', 'role', '{"role":"technical_lead","holder":"U0CAROL01","previous":null,"how":"assigned"}', '2026-11-27T15:44:00.000000Z'),
 (7, 'U0BOB0001', 'severity', '{"from":"sev4","to":"sev2"}', '2026-11-27T15:50:00.000000Z'),
 (7, 'U0CAROL01', 'role', '{"role":"technical_lead","holder":null,"previous":"U0CAROL01","how":"released"}', '2026-11-27T16:20:00.000000Z'),
 (7, 'U0BOB0001', 'status', '{"from":"identified","to":"monitoring"}', '2026-11-27T16:05:00.000000Z'),
 (7, 'U0BOB0001', 'status', '{"from":"monitoring","to":"resolved"}', '2026-11-27T16:42:00.000000Z');
INSERT INTO timeline_marks (incident_id, message_ts, author, text, permalink, marked_by)
VALUES (7, '1795794600.000100', 'U0CAROL01', 'rollback done: error rate back to 0.1% #win',
    'https://acme.slack.com/archives/C0INC00007/p1795794600000100', 'U0BOB0001');
"#;

/// A migrated SQLite database holding [`STORY`]; its URL.
async fn story_database(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}", dir.join("janus.db").display());
    {
        let store = janus::store::open(
            &janus::config::DatabaseConfig::from_url(url.clone().into(), 1),
            1,
        )
        .await
        .unwrap();
        store.migrate().await.unwrap();
    }
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::raw_sql(STORY).execute(&pool).await.unwrap();
    pool.close().await;
    url
}

fn export(url: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(JANUS)
        .arg("export")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SLACK_APP_TOKEN", slack_fake::APP_TOKEN)
        .env("SLACK_BOT_TOKEN", slack_fake::BOT_TOKEN)
        .env("DATABASE_URL", url)
        .env("JANUS_INCIDENT__TIMEZONE", "Europe/Berlin")
        .current_dir(dir.path())
        .output()
        .expect("janus export runs")
}

#[tokio::test]
async fn the_postmortem_draft_of_an_incident_matches_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = story_database(dir.path()).await;
    let out = export(&url, &["#inc-202611271630-checkout-returns-500s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let draft = String::from_utf8(out.stdout).unwrap();
    if std::env::var_os("JANUS_UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &draft).unwrap();
    }
    let golden = std::fs::read_to_string(GOLDEN).expect("the golden file");
    assert_eq!(
        draft, golden,
        "the draft changed; if on purpose, rerun with JANUS_UPDATE_GOLDEN=1"
    );

    // What the golden file shows, spelled out: times in Berlin (UTC+1),
    // durations, the Mermaid block, a pipe in a table cell escaped.
    for part in [
        "| Declared | 2026-11-27 16:30:00 by U0ALICE01 |",
        "| Time to resolve | 1 h 12 min |",
        "| Identified | 2026-11-27 16:42:10 | 2026-11-27 17:05:00 | 22 min 50 s |",
        "Time to each status: Identified after 12 min 10 s; Monitoring after 35 min; Resolved after 1 h 12 min.",
        "| Technical lead | U0CAROL01 | 2026-11-27 16:44:00 | 2026-11-27 17:20:00 |",
        "```mermaid\ngantt",
        "> checkout returns 500s | for EU users",
        "U0CAROL01 stepped down as Technical lead",
        "Bad deploy of payments-api; rolling back",
        "([link](https://acme.slack.com/archives/C0INC00007/p1795794600000100))",
    ] {
        assert!(draft.contains(part), "{part:?} in:\n{draft}");
    }
}

#[tokio::test]
async fn the_draft_is_also_json_and_an_unknown_incident_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let url = story_database(dir.path()).await;
    for key in ["7", "C0INC00007"] {
        let out = export(&url, &[key, "--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let draft: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(draft["id"], 7);
        assert_eq!(draft["time_to_resolve_seconds"], 4320);
        assert_eq!(draft["statuses"].as_array().unwrap().len(), 4);
        assert_eq!(draft["roles"][1]["to"]["local"], "2026-11-27 17:20:00");
        assert_eq!(draft["marked"][0]["author"], "U0CAROL01");
        assert_eq!(draft["updates"][0]["status"]["label"], "Identified");
    }
    let out = export(&url, &["inc-nothing"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("no incident is named \"inc-nothing\""),
        "{said}"
    );
}

#[tokio::test]
async fn export_reads_the_database_while_janus_runs_on_it() {
    let (app, general, _) = workspace(&[]).await;
    app.slack.add_user(ALICE, "alice");
    declare(&app, &general, "cdn errors").await;
    let channel = created_channel(&app, 0);
    // SQLite by default (whose file the running Janus holds), or the
    // Postgres database of a `JANUS_TEST_STORE=postgres` run.
    let url = crate::support::harness::env_for(&app.slack, &app.db)
        .into_iter()
        .find(|(k, _)| k == "DATABASE_URL")
        .map(|(_, v)| v)
        .expect("a database URL");
    let out = export(&url, &[&channel.name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let draft = String::from_utf8(out.stdout).unwrap();
    assert!(
        draft.contains(&format!("# Postmortem draft: {}", channel.name)),
        "{draft}"
    );
    assert!(draft.contains("> cdn errors"), "{draft}");
}
