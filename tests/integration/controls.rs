//! The pinned control message: roles, status, severity — as the people in
//! the incident channel and the digest channel see them.

use std::time::Duration;

use serde_json::Value;

use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE, BOB};
use crate::support::harness::{TestApp, all_text, ephemeral_containing};
use crate::support::slack_fake::{self, Channel};

const WAIT: Duration = Duration::from_secs(10);

/// A declared incident: its channel and the digest channel.
async fn incident(extra: &[(&str, &str)]) -> (TestApp, Channel, String) {
    let (app, general, digest) = workspace(extra).await;
    declare(&app, &general, "www down").await;
    let channel = created_channel(&app, 0);
    (app, channel, digest)
}

/// `user` clicks `action` on the control message; waits for the ack.
async fn click(app: &TestApp, channel: &Channel, user: &str, action: Value) {
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

fn control_text(app: &TestApp, channel: &Channel) -> String {
    let control = app.slack.message(&channel.id, &channel.pins[0]).unwrap();
    all_text(control.blocks.as_ref().unwrap())
}

fn digest_text(app: &TestApp, digest: &str) -> String {
    all_text(app.slack.messages(digest)[0].blocks.as_ref().unwrap())
}

/// Waits until `check` holds for the fake's state.
async fn until(app: &TestApp, what: &str, check: impl Fn(&TestApp) -> bool) {
    app.slack
        .wait_for(what, WAIT, |_| check(app).then_some(()))
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
    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.status", "identified"),
    )
    .await;
    until(&app, "digest says Identified", |app| {
        digest_text(app, &digest).contains("Identified")
    })
    .await;
    click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.status", "resolved"),
    )
    .await;
    until(&app, "digest says Resolved", |app| {
        digest_text(app, &digest).contains("Resolved")
    })
    .await;
    let channel_text: String = app
        .slack
        .messages(&channel.id)
        .iter()
        .map(|m| all_text(m.blocks.as_ref().unwrap()))
        .collect();
    assert!(
        channel_text.contains("Identified") && channel_text.contains("Resolved"),
        "{channel_text}"
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
        let d = digest_text(app, &digest);
        d.contains("Investigating") && !d.contains("Resolved")
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
    until(&app, "final state shown", |app| {
        let d = digest_text(app, &digest);
        let c = control_text(app, &channel);
        d.contains("Monitoring")
            && d.contains("SEV1")
            && c.contains("Monitoring")
            && c.contains("SEV1")
    })
    .await;
    // One burst, one digest update (Slack's chat.update budget is small).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.slack.messages(&digest)[0].updated, 1, "one digest update");
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
