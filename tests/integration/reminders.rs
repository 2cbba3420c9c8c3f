//! Reminders in the incident channel: an update overdue for the severity's
//! interval, and a commander role nobody claimed — each posted once, across
//! restarts and replicas, and never for a resolved incident.
//!
//! "Janus was down while it fell due" is played by moving the incident's
//! declaration back in the database rather than by waiting: the due times
//! come from what is stored, so this is exactly what a long stop leaves.

use std::time::Duration;

use sqlx::Connection;

use crate::controls::click;
use crate::declare::{created_channel, declare, workspace, workspace_on_postgres};
use crate::payloads::{self, ALICE, BOB};
use crate::support::harness::{TestApp, TestDb, all_text};
use crate::support::slack_fake::Channel;

const WAIT: Duration = Duration::from_secs(15);

/// What the update reminder says, and the commander nudge.
const OVERDUE: &str = "No update has been posted";
const UNCLAIMED: &str = "Nobody has claimed";

/// The texts of the messages in `channel` that contain `needle`.
fn lines(app: &TestApp, channel: &Channel, needle: &str) -> Vec<String> {
    app.slack
        .messages(&channel.id)
        .iter()
        .filter_map(|m| m.blocks.as_ref().map(all_text))
        .filter(|text| text.contains(needle))
        .collect()
}

/// Waits until `channel` has a message containing `needle`; returns it.
async fn posted(app: &TestApp, channel: &Channel, needle: &str) -> String {
    app.slack
        .wait_for(&format!("{needle:?} in {}", channel.name), WAIT, |_| {
            lines(app, channel, needle).into_iter().next()
        })
        .await
}

/// Runs one statement that changes rows, on either backend.
async fn execute(db: &TestDb, postgres: &str, sqlite: &str) {
    if db.sqlite_file().is_some() {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite.to_owned()))
            .execute(&mut conn)
            .await
            .expect(sqlite);
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(postgres.to_owned()))
            .execute(&mut conn)
            .await
            .expect(postgres);
    }
}

/// Moves every declaration two hours back: what a Janus stopped for two
/// hours finds when it starts.
async fn two_hours_pass(db: &TestDb) {
    execute(
        db,
        "UPDATE incidents SET completed_at = completed_at - interval '2 hours'",
        "UPDATE incidents SET completed_at = \
         strftime('%Y-%m-%dT%H:%M:%f000Z', completed_at, '-2 hours')",
    )
    .await;
}

/// Declares `text` from `general` and returns the new channel (the `n`th).
async fn incident(app: &TestApp, general: &str, text: &str, n: usize) -> Channel {
    declare(app, general, text).await;
    created_channel(app, n)
}

/// `user` claims the commander role of `channel`'s incident; waits until it is stored.
async fn claim_commander(app: &TestApp, channel: &Channel, user: &str, holders: i64) {
    click(app, channel, user, payloads::claim("incident_commander")).await;
    app.db
        .eventually_count(
            "SELECT count(*) FROM role_assignments WHERE role = 'incident_commander'",
            holders,
        )
        .await;
}

#[tokio::test]
async fn an_update_reminder_comes_after_its_interval_not_before_and_mentions_the_commander() {
    let env = [
        ("JANUS_REMINDERS__UPDATE_EVERY", "2"),
        ("JANUS_REMINDERS__UNCLAIMED_COMMANDER_AFTER", "0"),
    ];
    let (app, general, _) = workspace(&env).await;
    let led = incident(&app, &general, "www down", 0).await;
    assert!(
        lines(&app, &led, OVERDUE).is_empty(),
        "no reminder right after the declaration"
    );
    claim_commander(&app, &led, BOB, 1).await;
    let unled = incident(&app, &general, "api slow", 1).await;
    assert!(lines(&app, &unled, OVERDUE).is_empty());

    let reminder = posted(&app, &led, OVERDUE).await;
    assert!(reminder.contains(&format!("<@{BOB}>")), "{reminder}");
    assert!(!reminder.contains("<!here>"), "{reminder}");
    let reminder = posted(&app, &unled, OVERDUE).await;
    assert!(reminder.contains("<!here>"), "{reminder}");
    assert!(reminder.contains("claim it"), "{reminder}");
}

#[tokio::test]
async fn a_reminder_that_fell_due_while_janus_was_down_is_posted_once_after_start() {
    let env = [
        ("JANUS_REMINDERS__UPDATE_EVERY", "3600"),
        ("JANUS_REMINDERS__UNCLAIMED_COMMANDER_AFTER", "0"),
    ];
    let (mut app, general, _) = workspace(&env).await;
    let channel = incident(&app, &general, "www down", 0).await;
    claim_commander(&app, &channel, ALICE, 1).await;
    app.idle().await;
    assert!(lines(&app, &channel, OVERDUE).is_empty());

    app.stop().await.unwrap();
    two_hours_pass(&app.db).await;
    app.restart_with(&env).await;
    // The start's first round counts as work in flight.
    app.idle().await;
    let reminders = lines(&app, &channel, OVERDUE);
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(reminders[0].contains("2 hours"), "{}", reminders[0]);
    assert!(
        reminders[0].contains(&format!("<@{ALICE}>")),
        "{}",
        reminders[0]
    );

    // Another start finds it taken: the next one is an hour after it.
    app.restart_with(&env).await;
    app.idle().await;
    assert_eq!(lines(&app, &channel, OVERDUE).len(), 1);
}

#[tokio::test]
async fn with_two_replicas_a_due_reminder_and_a_commander_nudge_are_each_posted_once() {
    // The defaults: sev1 every 30 minutes, the commander after 10.
    let (app, general, _) = workspace_on_postgres(&[]).await;
    let channel = incident(&app, &general, "www down", 0).await;
    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.severity", "sev1"),
    )
    .await;
    app.db
        .eventually_count("SELECT count(*) FROM incidents WHERE severity = 'sev1'", 1)
        .await;
    let replica = app.spawn_replica().await;
    app.idle().await;
    assert!(replica.wait_idle(WAIT).await);
    assert!(lines(&app, &channel, OVERDUE).is_empty());
    assert!(lines(&app, &channel, UNCLAIMED).is_empty());

    // Both replicas find both due at their next round.
    two_hours_pass(&app.db).await;
    posted(&app, &channel, OVERDUE).await;
    posted(&app, &channel, UNCLAIMED).await;
    app.idle().await;
    assert!(replica.wait_idle(WAIT).await);
    assert_eq!(lines(&app, &channel, OVERDUE).len(), 1);
    assert_eq!(lines(&app, &channel, UNCLAIMED).len(), 1);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM reminders WHERE posted")
            .await,
        2
    );
    replica.stop().await.unwrap();
}

#[tokio::test]
async fn a_commander_role_nobody_claimed_is_pointed_out_once_and_not_when_claimed_in_time() {
    let env = [
        ("JANUS_REMINDERS__UPDATE_EVERY", "0"),
        ("JANUS_REMINDERS__UNCLAIMED_COMMANDER_AFTER", "2"),
    ];
    let (mut app, general, _) = workspace(&env).await;
    let claimed = incident(&app, &general, "www down", 0).await;
    claim_commander(&app, &claimed, BOB, 1).await;
    let unclaimed = incident(&app, &general, "api slow", 1).await;
    assert!(lines(&app, &unclaimed, UNCLAIMED).is_empty());

    let nudge = posted(&app, &unclaimed, UNCLAIMED).await;
    assert!(nudge.contains("<!here>"), "{nudge}");
    assert!(nudge.contains("Incident commander"), "{nudge}");
    app.idle().await;
    // The claimed incident fell due first, and was settled without a word.
    assert!(lines(&app, &claimed, UNCLAIMED).is_empty());
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM reminders WHERE kind = 'commander' AND NOT posted")
            .await,
        1
    );

    // Once: not again in later rounds, nor after a restart.
    app.restart_with(&env).await;
    app.idle().await;
    assert_eq!(lines(&app, &unclaimed, UNCLAIMED).len(), 1);
}

#[tokio::test]
async fn resolving_cancels_pending_reminders_and_reopening_plans_them_again() {
    let env = [
        ("JANUS_REMINDERS__UPDATE_EVERY", "3600"),
        ("JANUS_REMINDERS__UNCLAIMED_COMMANDER_AFTER", "600"),
    ];
    let (app, general, _) = workspace(&env).await;
    let resolved = incident(&app, &general, "www down", 0).await;
    let open = incident(&app, &general, "api slow", 1).await;
    click(
        &app,
        &resolved,
        ALICE,
        payloads::select("janus.status", "resolved"),
    )
    .await;
    app.db
        .eventually_count(
            "SELECT count(*) FROM incidents WHERE resolved_at IS NOT NULL",
            1,
        )
        .await;

    // Both incidents' reminders are overdue: only the open one's are posted.
    two_hours_pass(&app.db).await;
    posted(&app, &open, OVERDUE).await;
    posted(&app, &open, UNCLAIMED).await;
    app.idle().await;
    assert!(lines(&app, &resolved, OVERDUE).is_empty());
    assert!(lines(&app, &resolved, UNCLAIMED).is_empty());

    // Reopened: the quiet period starts again now, so no update is overdue
    // yet; the commander check it never had is made.
    click(
        &app,
        &resolved,
        ALICE,
        payloads::select("janus.status", "identified"),
    )
    .await;
    app.db
        .eventually_count(
            "SELECT count(*) FROM incidents WHERE resolved_at IS NOT NULL",
            0,
        )
        .await;
    posted(&app, &resolved, UNCLAIMED).await;
    app.idle().await;
    assert!(lines(&app, &resolved, OVERDUE).is_empty());
}

#[tokio::test]
async fn a_severity_change_plans_with_the_new_severitys_interval() {
    // Set per severity from the environment: only sev1 has reminders.
    let env = [
        ("JANUS_REMINDERS__UPDATE_EVERY__SEV1", "2"),
        ("JANUS_REMINDERS__UNCLAIMED_COMMANDER_AFTER", "0"),
    ];
    let (app, general, _) = workspace(&env).await;
    let channel = incident(&app, &general, "www down", 0).await;
    assert!(lines(&app, &channel, OVERDUE).is_empty());
    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.severity", "sev1"),
    )
    .await;
    let reminder = posted(&app, &channel, OVERDUE).await;
    assert!(reminder.contains("<!here>"), "{reminder}");
}

/// Moves every resolution `minutes` back.
async fn resolved_earlier(db: &TestDb, minutes: u32) {
    execute(
        db,
        &format!(
            "UPDATE incidents SET resolved_at = resolved_at - interval '{minutes} minutes' \
             WHERE resolved_at IS NOT NULL"
        ),
        &format!(
            "UPDATE incidents SET resolved_at = \
             strftime('%Y-%m-%dT%H:%M:%f000Z', resolved_at, '-{minutes} minutes') \
             WHERE resolved_at IS NOT NULL"
        ),
    )
    .await;
}

fn archived(app: &TestApp, channel: &Channel) -> bool {
    app.slack.channel(&channel.id).unwrap().is_archived
}

#[tokio::test]
async fn a_resolved_incidents_channel_is_archived_after_the_delay_with_notice_an_hour_before() {
    let (mut app, general, digest) = workspace(&[("JANUS_INCIDENT__ARCHIVE_AFTER", "7200")]).await;
    let channel = incident(&app, &general, "checkout down", 0).await;
    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.status", "resolved"),
    )
    .await;
    app.idle().await;
    assert!(!archived(&app, &channel), "not before the delay");
    assert!(lines(&app, &channel, "will be archived").is_empty());

    // 90 minutes later: the notice, not yet the archive.
    resolved_earlier(&app.db, 90).await;
    let notice = posted(&app, &channel, "will be archived").await;
    assert!(notice.contains("about 1 hour"), "{notice}");
    app.idle().await;
    assert!(!archived(&app, &channel));

    // Past the delay: archived, and the digest says so.
    resolved_earlier(&app.db, 60).await;
    app.slack
        .wait_for("the channel archived", WAIT, |s| {
            s.channel(&channel.id).filter(|c| c.is_archived)
        })
        .await;
    app.idle().await;
    let entry = all_text(app.slack.messages(&digest)[0].blocks.as_ref().unwrap());
    assert!(entry.contains("channel is archived"), "{entry}");

    // Once: a restart archives nothing again, notices nothing again.
    app.stop().await.expect("a clean stop");
    app.restart_with(&[("JANUS_INCIDENT__ARCHIVE_AFTER", "7200")])
        .await;
    app.idle().await;
    assert_eq!(app.slack.calls_to("conversations.archive").len(), 1);
    assert_eq!(lines(&app, &channel, "will be archived").len(), 1);
}

#[tokio::test]
async fn reopening_before_the_delay_cancels_the_archiving() {
    let (mut app, general, _) = workspace(&[("JANUS_INCIDENT__ARCHIVE_AFTER", "600")]).await;
    let channel = incident(&app, &general, "checkout down", 0).await;
    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.status", "resolved"),
    )
    .await;
    app.idle().await;
    click(
        &app,
        &channel,
        BOB,
        payloads::select("janus.status", "investigating"),
    )
    .await;
    app.idle().await;
    // However long it stays open, nothing is archived.
    two_hours_pass(&app.db).await;
    app.stop().await.expect("a clean stop");
    app.restart_with(&[("JANUS_INCIDENT__ARCHIVE_AFTER", "600")])
        .await;
    app.idle().await;
    assert!(!archived(&app, &channel));
    assert!(app.slack.calls_to("conversations.archive").is_empty());

    // Resolved again, the delay starts from the new resolution.
    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.status", "resolved"),
    )
    .await;
    app.idle().await;
    resolved_earlier(&app.db, 11).await;
    app.slack
        .wait_for("the channel archived", WAIT, |s| {
            s.channel(&channel.id).filter(|c| c.is_archived)
        })
        .await;
}
