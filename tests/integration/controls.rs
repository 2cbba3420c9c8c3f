//! The pinned control message: roles, status, severity — as the people in
//! the incident channel and the digest channel see them.

use std::time::Duration;

use serde_json::Value;

use crate::declare::{created_channel, declare, workspace, workspace_on_postgres};
use crate::payloads::{self, ALICE, BOB};
use crate::support::harness::{TestApp, all_text, ephemeral_containing, field, selected};
use crate::support::slack_fake::{self, Channel};

const WAIT: Duration = Duration::from_secs(10);

/// A declared incident: its channel and the digest channel.
async fn incident(extra: &[(&str, &str)]) -> (TestApp, Channel, String) {
    declared(workspace(extra).await).await
}

/// [`incident`] on Postgres, for replicas and database outages.
async fn incident_on_postgres() -> (TestApp, Channel, String) {
    declared(workspace_on_postgres(&[]).await).await
}

async fn declared((app, general, digest): (TestApp, String, String)) -> (TestApp, Channel, String) {
    declare(&app, &general, "www down").await;
    let channel = created_channel(&app, 0);
    (app, channel, digest)
}

/// `user` clicks `action` on the control message; waits for the ack.
pub async fn click(app: &TestApp, channel: &Channel, user: &str, action: Value) {
    let payload = payloads::block_action(
        &channel.id,
        user,
        &channel.pins[0],
        action,
        &app.slack.response_url(),
    );
    let envelope = slack_fake::envelope("interactive", payload, false);
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
}

pub fn control_text(app: &TestApp, channel: &Channel) -> String {
    let control = app.slack.message(&channel.id, &channel.pins[0]).unwrap();
    all_text(control.blocks.as_ref().unwrap())
}

/// The value a select of the control message shows (`janus.status`,
/// `janus.severity`).
pub fn control_choice(app: &TestApp, channel: &Channel, action_id: &str) -> Option<String> {
    let control = app.slack.message(&channel.id, &channel.pins[0])?;
    selected(control.blocks.as_ref()?, action_id)
}

pub fn digest_text(app: &TestApp, digest: &str) -> String {
    all_text(app.slack.messages(digest)[0].blocks.as_ref().unwrap())
}

/// What the first digest message shows under `name` (`Status`, `Severity`).
pub fn digest_field(app: &TestApp, digest: &str, name: &str) -> Option<String> {
    field(app.slack.messages(digest).first()?.blocks.as_ref()?, name)
}

/// The texts of the channel's messages other than the control message:
/// the lines Janus posted there.
fn channel_lines(app: &TestApp, channel: &Channel) -> Vec<String> {
    app.slack
        .messages(&channel.id)
        .iter()
        .filter(|m| m.ts != channel.pins[0])
        .filter_map(|m| m.blocks.as_ref().map(all_text))
        .collect()
}

/// Waits until `check` holds for the fake's state.
async fn until(app: &TestApp, what: &str, check: impl Fn(&TestApp) -> bool) {
    app.slack
        .wait_for(what, WAIT, |_| check(app).then_some(()))
        .await;
}

/// Alice picks `value` in the status select; waits for the ack only.
async fn choose_status(app: &TestApp, channel: &Channel, value: &str) {
    click(app, channel, ALICE, payloads::select("janus.status", value)).await;
}

/// Alice sets the status to `value`; waits until the digest's status
/// reads `shown`.
async fn set_status(app: &TestApp, channel: &Channel, digest: &str, value: &str, shown: &str) {
    choose_status(app, channel, value).await;
    until(app, &format!("the digest says {shown}"), |app| {
        digest_field(app, digest, "Status").as_deref() == Some(shown)
    })
    .await;
}

#[tokio::test]
async fn claiming_a_role_shows_the_holder_announces_it_dms_the_duties_and_updates_the_digest() {
    let (app, channel, digest) = incident(&[]).await;
    click(&app, &channel, BOB, payloads::claim("incident_commander")).await;

    until(&app, "control shows Bob", |app| {
        control_text(app, &channel).contains(&format!("<@{BOB}>"))
    })
    .await;
    until(&app, "digest shows Bob", |app| {
        digest_text(app, &digest).contains(&format!("<@{BOB}>"))
    })
    .await;
    let lines: Vec<String> = app
        .slack
        .messages(&channel.id)
        .iter()
        .map(|m| all_text(m.blocks.as_ref().unwrap()))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("<@{BOB}>")) && l.contains("Incident commander")),
        "a line in the channel: {lines:?}"
    );
    let dm = app.slack.dm_channel(BOB).expect("a DM with Bob");
    let dm_text = all_text(app.slack.messages(&dm)[0].blocks.as_ref().unwrap());
    assert!(dm_text.contains("Incident commander"), "{dm_text}");
    assert!(dm_text.contains(&format!("<#{}>", channel.id)), "{dm_text}");
    assert!(
        app.slack
            .channel(&channel.id)
            .unwrap()
            .members
            .iter()
            .any(|m| m == BOB),
        "the holder is in the channel"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE kind = 'role'")
            .await,
        1
    );
}

#[tokio::test]
async fn releasing_a_role_frees_it_everywhere_and_tells_its_holder() {
    let (app, channel, digest) = incident(&[]).await;
    click(&app, &channel, BOB, payloads::claim("incident_commander")).await;
    app.idle().await;
    assert!(control_text(&app, &channel).contains(&format!("<@{BOB}>")));
    let dms_before = app
        .slack
        .messages(&app.slack.dm_channel(BOB).unwrap())
        .len();

    // Alice releases Bob; the control message offered Release for the
    // held role, not Claim.
    let pinned = app.slack.message(&channel.id, &channel.pins[0]).unwrap();
    let ids = pinned.blocks.as_ref().unwrap().to_string();
    assert!(ids.contains("janus.release.incident_commander"), "{ids}");
    assert!(!ids.contains("janus.claim.incident_commander"), "{ids}");
    click(
        &app,
        &channel,
        ALICE,
        payloads::button("janus.release.incident_commander"),
    )
    .await;
    app.idle().await;

    let control = control_text(&app, &channel);
    assert!(!control.contains(&format!("<@{BOB}>")), "{control}");
    assert!(
        control.contains("*Incident commander*\n_unassigned_"),
        "{control}"
    );
    let pinned = app.slack.message(&channel.id, &channel.pins[0]).unwrap();
    assert!(
        pinned
            .blocks
            .as_ref()
            .unwrap()
            .to_string()
            .contains("janus.claim.incident_commander"),
        "free to claim again"
    );
    assert!(!digest_text(&app, &digest).contains(&format!("<@{BOB}>")));
    let line = channel_lines(&app, &channel)
        .into_iter()
        .find(|l| l.contains("released"))
        .expect("a line in the channel");
    assert!(
        line.contains(&format!("<@{ALICE}> released <@{BOB}>")),
        "{line}"
    );
    let dms = app.slack.messages(&app.slack.dm_channel(BOB).unwrap());
    assert_eq!(dms.len(), dms_before + 1, "Bob is told");
    let told = all_text(dms.last().unwrap().blocks.as_ref().unwrap());
    assert!(told.contains("Incident commander"), "{told}");
    assert!(told.contains(&format!("<#{}>", channel.id)), "{told}");
    assert_eq!(
        app.db.count("SELECT count(*) FROM role_assignments").await,
        0
    );

    // Releasing a free role changes nothing and says so.
    click(
        &app,
        &channel,
        ALICE,
        payloads::button("janus.release.incident_commander"),
    )
    .await;
    ephemeral_containing(&app.slack, "Nobody is the Incident commander").await;
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE kind = 'role'")
            .await,
        2,
        "the claim and the release"
    );
}

#[tokio::test]
async fn claiming_a_role_you_hold_changes_nothing_and_says_so() {
    let (app, channel, _) = incident(&[]).await;
    click(&app, &channel, BOB, payloads::claim("technical_lead")).await;
    app.slack.wait_for_call("conversations.open", WAIT).await;
    click(&app, &channel, BOB, payloads::claim("technical_lead")).await;
    let note = ephemeral_containing(&app.slack, "already the Technical lead").await;
    assert!(note.text.unwrap().starts_with("You are already"));
    assert_eq!(
        app.slack.calls_to("conversations.open").len(),
        1,
        "one DM only"
    );
}

#[tokio::test]
async fn of_two_simultaneous_claims_one_wins_and_the_other_is_told() {
    let (app, channel, _) = incident(&[]).await;
    let (a, b) = tokio::join!(
        click(&app, &channel, ALICE, payloads::claim("incident_commander")),
        click(&app, &channel, BOB, payloads::claim("incident_commander")),
    );
    let _ = (a, b);
    let told = ephemeral_containing(&app.slack, "is already the Incident commander").await;
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM role_assignments WHERE role = 'incident_commander'")
            .await,
        1
    );
    assert!(told.text.unwrap().contains("Assign"));
}

#[tokio::test]
async fn assigning_replaces_the_holder_and_says_whom_it_replaced() {
    let (app, channel, digest) = incident(&[]).await;
    click(
        &app,
        &channel,
        ALICE,
        payloads::claim("communications_liaison"),
    )
    .await;
    until(&app, "Alice holds it", |app| {
        digest_text(app, &digest).contains(&format!("<@{ALICE}>"))
    })
    .await;
    click(
        &app,
        &channel,
        ALICE,
        payloads::assign("communications_liaison", BOB),
    )
    .await;
    until(&app, "Bob holds it", |app| {
        digest_text(app, &digest).contains(&format!("<@{BOB}>"))
            && control_text(app, &channel).contains(&format!("<@{BOB}>"))
    })
    .await;
    let lines: Vec<String> = app
        .slack
        .messages(&channel.id)
        .iter()
        .map(|m| all_text(m.blocks.as_ref().unwrap()))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains(&format!("<@{BOB}>"))
            && l.contains(&format!("<@{ALICE}>"))
            && l.contains("Communications liaison")),
        "the line names the new and the previous holder: {lines:?}"
    );
}

#[tokio::test]
async fn resolving_is_announced_and_shown_in_the_digest_and_reopening_works() {
    let (app, channel, digest) = incident(&[]).await;
    set_status(&app, &channel, &digest, "identified", "Identified").await;
    set_status(&app, &channel, &digest, "resolved", "✅ Resolved").await;
    app.idle().await;
    let lines = channel_lines(&app, &channel);
    for said in [
        "changed the status from *Investigating* to *Identified*",
        "changed the status from *Identified* to *Resolved*",
        "marked this incident *resolved*",
    ] {
        assert!(lines.iter().any(|l| l.contains(said)), "{said}: {lines:?}");
    }
    assert_eq!(
        control_choice(&app, &channel, "janus.status").as_deref(),
        Some("resolved")
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE resolved_at IS NOT NULL")
            .await,
        1
    );

    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.status", "investigating"),
    )
    .await;
    until(&app, "reopened", |app| {
        digest_field(app, &digest, "Status").as_deref() == Some("Investigating")
            && !digest_text(app, &digest).contains("Resolved")
            && control_choice(app, &channel, "janus.status").as_deref() == Some("investigating")
    })
    .await;
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE resolved_at IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn a_deleted_digest_message_is_posted_again_at_the_next_change() {
    let (app, channel, digest) = incident(&[]).await;
    let first = app.slack.messages(&digest)[0].ts.clone();
    app.slack.delete_message(&digest, &first);
    choose_status(&app, &channel, "identified").await;
    until(&app, "a new digest message saying Identified", |app| {
        app.slack.messages(&digest).len() == 1
            && digest_field(app, &digest, "Status").as_deref() == Some("Identified")
    })
    .await;
    let second = app.slack.messages(&digest)[0].ts.clone();
    assert_ne!(second, first);
    // Recorded: the next change updates it rather than posting a third.
    set_status(&app, &channel, &digest, "monitoring", "Monitoring").await;
    assert_eq!(app.slack.messages(&digest).len(), 1);
    assert_eq!(app.slack.messages(&digest)[0].ts, second);
}

#[tokio::test]
async fn a_digest_channel_archived_and_replaced_is_found_again_without_a_restart() {
    let (app, channel, old_digest) = incident(&[]).await;
    let general = app.slack.channel_named("general").unwrap().id;
    app.slack.archive_channel(&old_digest);
    let new_digest = app.slack.add_channel("incidents", true);

    // A new incident's digest goes to the channel that has the name now,
    // and its declarer is told of no problem.
    let answer = declare(&app, &general, "db slow").await;
    let said = all_text(answer.blocks.as_ref().unwrap());
    assert!(!said.contains("digest"), "{said}");
    assert_eq!(app.slack.messages(&new_digest).len(), 1);

    // The first incident's next change shows there too.
    choose_status(&app, &channel, "identified").await;
    until(&app, "both incidents in the new digest channel", |app| {
        app.slack.messages(&new_digest).len() == 2
    })
    .await;
    let statuses: Vec<Option<String>> = app
        .slack
        .messages(&new_digest)
        .iter()
        .map(|m| field(m.blocks.as_ref().unwrap(), "Status"))
        .collect();
    assert!(
        statuses.contains(&Some("Identified".to_owned())),
        "{statuses:?}"
    );
    assert_eq!(app.slack.messages(&old_digest).len(), 1);
}

#[tokio::test]
async fn two_quick_changes_end_in_the_last_one_everywhere() {
    let (app, channel, digest) = incident(&[]).await;
    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.status", "identified"),
    )
    .await;
    click(
        &app,
        &channel,
        BOB,
        payloads::select("janus.status", "monitoring"),
    )
    .await;
    click(
        &app,
        &channel,
        BOB,
        payloads::select("janus.severity", "sev1"),
    )
    .await;
    app.idle().await;
    assert_eq!(
        digest_field(&app, &digest, "Status").as_deref(),
        Some("Monitoring")
    );
    assert_eq!(
        digest_field(&app, &digest, "Severity").as_deref(),
        Some("SEV1")
    );
    assert_eq!(
        control_choice(&app, &channel, "janus.status").as_deref(),
        Some("monitoring")
    );
    assert_eq!(
        control_choice(&app, &channel, "janus.severity").as_deref(),
        Some("sev1")
    );
    // One burst, one digest update (Slack's chat.update budget is small).
    assert_eq!(
        app.slack.messages(&digest)[0].updated,
        1,
        "one digest update"
    );
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM incidents WHERE status = 'monitoring' AND severity = 'sev1'"
            )
            .await,
        1
    );
}

#[tokio::test]
async fn controls_of_an_incident_still_work_after_a_restart() {
    let (mut app, channel, digest) = incident(&[]).await;
    app.restart_with(&[]).await;
    click(&app, &channel, BOB, payloads::claim("technical_lead")).await;
    until(&app, "digest shows Bob", |app| {
        digest_text(app, &digest).contains(&format!("<@{BOB}>"))
    })
    .await;
}

#[tokio::test]
async fn a_click_on_a_message_of_no_incident_is_answered_and_changes_nothing() {
    let (app, channel, _) = incident(&[]).await;
    let general = app.slack.channel_named("general").unwrap();
    let stray = Channel {
        id: general.id.clone(),
        pins: channel.pins.clone(),
        ..channel.clone()
    };
    click(&app, &stray, BOB, payloads::claim("incident_commander")).await;
    ephemeral_containing(&app.slack, "does not belong to an incident").await;
    assert_eq!(
        app.db.count("SELECT count(*) FROM role_assignments").await,
        0
    );
}

#[tokio::test]
async fn two_replicas_on_one_database_handle_each_click_once_and_show_the_final_state() {
    let (app, channel, digest) = incident_on_postgres().await;
    let replica = app.spawn_replica().await;
    // Slack spreads envelopes over every open socket: both processes work.
    let statuses = [
        "identified",
        "monitoring",
        "investigating",
        "identified",
        "monitoring",
        "identified",
    ];
    for status in statuses {
        click(
            &app,
            &channel,
            ALICE,
            payloads::select("janus.status", status),
        )
        .await;
    }
    let acked_by: std::collections::HashSet<_> =
        app.slack.acks().iter().map(|a| a.socket).collect();
    assert!(
        acked_by.len() >= 3,
        "clicks reached several sockets: {acked_by:?}"
    );

    // Whatever order the two processes applied them in, once both are
    // done Slack shows what the database holds.
    app.idle().await;
    assert!(replica.wait_idle(WAIT).await, "the replica became idle");
    let names = ["investigating", "identified", "monitoring", "resolved"];
    let labels = ["Investigating", "Identified", "Monitoring", "✅ Resolved"];
    let db = app
        .db
        .count("SELECT CAST(CASE status WHEN 'investigating' THEN 0 WHEN 'identified' THEN 1 WHEN 'monitoring' THEN 2 ELSE 3 END AS BIGINT) FROM incidents")
        .await as usize;
    assert_eq!(
        digest_field(&app, &digest, "Status").as_deref(),
        Some(labels[db]),
        "the digest agrees with the database"
    );
    assert_eq!(
        control_choice(&app, &channel, "janus.status").as_deref(),
        Some(names[db]),
        "the control message agrees with the database"
    );
    let lines = app
        .slack
        .messages(&channel.id)
        .iter()
        .filter(|m| all_text(m.blocks.as_ref().unwrap()).contains("changed the status"))
        .count();
    assert!(
        lines <= statuses.len(),
        "no click handled twice: {lines} lines"
    );
    replica.stop().await.expect("the replica stops cleanly");
}

#[tokio::test]
async fn a_database_outage_delays_a_click_tells_the_clicker_and_applies_it_afterwards() {
    use crate::support::db_proxy::DbProxy;
    let (mut app, channel, digest) = incident_on_postgres().await;
    let proxy = DbProxy::start(app.db.server()).await;
    let through = app.db.url_via(proxy.port());
    app.restart_with(&[("DATABASE_URL", &through)]).await;

    proxy.go_down();
    click(
        &app,
        &channel,
        BOB,
        payloads::select("janus.status", "identified"),
    )
    .await;
    // Acked (click() waited for it) and the clicker hears why nothing moves yet.
    ephemeral_containing(&app.slack, "retrying").await;
    assert_eq!(
        digest_field(&app, &digest, "Status").as_deref(),
        Some("Investigating"),
        "Slack shows nothing the database does not hold"
    );

    proxy.come_back();
    until(&app, "applied once the database is back", |app| {
        digest_field(app, &digest, "Status").as_deref() == Some("Identified")
    })
    .await;
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE status = 'identified'")
            .await,
        1
    );
    assert_eq!(
        app.running.as_ref().unwrap().connected(),
        app.sockets,
        "still connected"
    );
}

#[tokio::test]
async fn metrics_count_the_time_to_the_first_commander_and_to_resolution_by_severity() {
    let (app, channel, _) = incident(&[("JANUS_HEALTH__LISTEN", "0")]).await;
    click(&app, &channel, BOB, payloads::claim("incident_commander")).await;
    app.idle().await;
    // A commander after a release is not the first.
    click(
        &app,
        &channel,
        BOB,
        payloads::button("janus.release.incident_commander"),
    )
    .await;
    app.idle().await;
    click(&app, &channel, ALICE, payloads::claim("incident_commander")).await;
    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.status", "resolved"),
    )
    .await;
    app.idle().await;

    let metrics = crate::health::get(&app, "/metrics").await.body;
    let value = |line: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {line} in:\n{metrics}"))
    };
    assert_eq!(
        value("janus_incident_time_to_commander_seconds_count{severity=\"sev4\"}"),
        1.0
    );
    assert_eq!(
        value("janus_incident_time_to_resolve_seconds_count{severity=\"sev4\"}"),
        1.0
    );
    assert_eq!(
        value("janus_incident_time_to_commander_seconds_bucket{severity=\"sev4\",le=\"60\"}"),
        1.0,
        "claimed within a minute"
    );
}
