//! The pinned control message stays there while the incident is open: a
//! deleted one comes back at the next change, an unpinned one is pinned
//! again at once, and `@janus control` does both on demand.

use std::time::Duration;

use crate::controls::click;
use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE, BOB, BOT};
use crate::support::harness::{TestApp, control_messages, ephemeral_containing, selected};
use crate::support::slack_fake::{self, Channel};
use janus::domain::block_ids::action;

const WAIT: Duration = Duration::from_secs(10);

async fn incident() -> (TestApp, Channel) {
    let (app, general, _) = workspace(&[]).await;
    declare(&app, &general, "www down").await;
    let channel = created_channel(&app, 0);
    assert_eq!(channel.pins.len(), 1, "the control message is pinned");
    (app, channel)
}

async fn send_event(app: &TestApp, payload: serde_json::Value) {
    let envelope = slack_fake::envelope("events_api", payload, false);
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
    app.idle().await;
}

#[tokio::test]
async fn a_deleted_control_message_is_posted_and_pinned_again_at_the_next_change() {
    let (app, channel) = incident().await;
    let old = channel.pins[0].clone();
    app.slack.delete_message(&channel.id, &old);
    assert_eq!(control_messages(&app.slack, &channel.id), 0);

    click(
        &app,
        &channel,
        ALICE,
        payloads::select(action::STATUS, "identified"),
    )
    .await;
    app.idle().await;

    let pins = app.slack.pins(&channel.id);
    assert_eq!(pins.len(), 1, "{pins:?}");
    assert_ne!(pins[0], old);
    assert_eq!(control_messages(&app.slack, &channel.id), 1);
    let control = app.slack.message(&channel.id, &pins[0]).unwrap();
    assert_eq!(
        selected(control.blocks.as_ref().unwrap(), action::STATUS).as_deref(),
        Some("identified"),
        "the new control message shows the change"
    );

    // The next change updates the new message: no third one.
    click(
        &app,
        &channel,
        ALICE,
        payloads::select(action::SEVERITY, "sev1"),
    )
    .await;
    app.idle().await;
    assert_eq!(control_messages(&app.slack, &channel.id), 1);
    let control = app.slack.message(&channel.id, &pins[0]).unwrap();
    assert_eq!(
        selected(control.blocks.as_ref().unwrap(), action::SEVERITY).as_deref(),
        Some("sev1")
    );
    assert_eq!(app.slack.pins(&channel.id), pins);
}

#[tokio::test]
async fn an_unpinned_control_message_is_pinned_again_and_the_unpinner_hears_why() {
    let (app, channel) = incident().await;
    let control = channel.pins[0].clone();
    app.slack.add_member(&channel.id, BOB);
    app.slack.unpin(&channel.id, &control);
    send_event(
        &app,
        payloads::pin_removed(&channel.id, &control, BOB, "Ev0UNPIN01"),
    )
    .await;

    assert_eq!(app.slack.pins(&channel.id), vec![control.clone()]);
    let told = ephemeral_containing(&app.slack, "pinned the control message again").await;
    assert_eq!(told.user.as_deref(), Some(BOB));
    assert_eq!(
        control_messages(&app.slack, &channel.id),
        1,
        "not posted twice"
    );

    // Another message unpinned is none of Janus's business.
    let other = app.slack.post_as_user(&channel.id, ALICE, "runbook: …");
    let pins_added = app.slack.calls_to("pins.add").len();
    send_event(
        &app,
        payloads::pin_removed(&channel.id, &other, BOB, "Ev0UNPIN02"),
    )
    .await;
    assert_eq!(app.slack.calls_to("pins.add").len(), pins_added);
}

#[tokio::test]
async fn a_resolved_incidents_control_message_may_be_unpinned() {
    let (app, channel) = incident().await;
    click(
        &app,
        &channel,
        ALICE,
        payloads::select(action::STATUS, "resolved"),
    )
    .await;
    app.idle().await;
    let control = channel.pins[0].clone();
    app.slack.unpin(&channel.id, &control);
    send_event(
        &app,
        payloads::pin_removed(&channel.id, &control, BOB, "Ev0UNPIN03"),
    )
    .await;
    assert!(app.slack.pins(&channel.id).is_empty());
}

#[tokio::test]
async fn mentioning_janus_with_control_brings_the_control_message_back() {
    let (app, channel) = incident().await;
    let control = channel.pins[0].clone();
    // Unpinned while Janus was not listening: no event.
    app.slack.unpin(&channel.id, &control);
    send_event(
        &app,
        payloads::app_mention(&channel.id, &format!("<@{BOT}> control"), "Ev0CTRL01", None),
    )
    .await;
    assert_eq!(app.slack.pins(&channel.id), vec![control.clone()]);
    let told = ephemeral_containing(&app.slack, "is pinned in this channel").await;
    assert_eq!(told.user.as_deref(), Some(ALICE));
    assert!(
        told.text
            .as_deref()
            .unwrap_or("")
            .contains("|control message>"),
        "{told:?}"
    );

    // Deleted: posted and pinned again, once.
    app.slack.delete_message(&channel.id, &control);
    send_event(
        &app,
        payloads::app_mention(&channel.id, &format!("<@{BOT}> control"), "Ev0CTRL02", None),
    )
    .await;
    let pins = app.slack.pins(&channel.id);
    assert_eq!(pins.len(), 1);
    assert_ne!(pins[0], control);
    assert_eq!(control_messages(&app.slack, &channel.id), 1);
}

#[tokio::test]
async fn control_outside_an_incident_channel_says_where_it_works() {
    let (app, general, _) = workspace(&[]).await;
    app.slack.add_member(&general, ALICE);
    send_event(
        &app,
        payloads::app_mention(&general, &format!("<@{BOT}> control"), "Ev0CTRL03", None),
    )
    .await;
    let told = ephemeral_containing(&app.slack, "works in an incident's channel").await;
    assert_eq!(told.user.as_deref(), Some(ALICE));
    assert!(app.slack.calls_to("pins.add").is_empty());
    assert!(app.slack.calls_to("chat.postMessage").is_empty());
}
