//! The timeline's marked messages: the timeline emoji on a message in an
//! incident channel puts it on the timeline, confirmed by Janus's own
//! reaction; taking the emoji back takes it off.

use serde_json::json;

use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE, BOB};
use crate::support::harness::TestApp;
use crate::support::slack_fake;

/// `user` puts (`added`) or takes back `emoji` on message `ts`: in Slack's
/// record, then as the event Slack sends.
async fn react(app: &TestApp, channel: &str, ts: &str, user: &str, emoji: &str, added: bool) {
    if added {
        app.slack.react_as_user(channel, ts, user, emoji);
    } else {
        app.slack.unreact_as_user(channel, ts, user, emoji);
    }
    static EVENTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = EVENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut payload =
        payloads::reaction_added(channel, ts, user, emoji, &format!("Ev0TIMELINE{n}"));
    if !added {
        payload["event"]["type"] = json!("reaction_removed");
    }
    let envelope = slack_fake::envelope("events_api", payload, false);
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack
        .wait_ack(&id, std::time::Duration::from_secs(10))
        .await;
    app.idle().await;
}

fn confirmed(app: &TestApp, channel: &str, ts: &str) -> bool {
    app.slack
        .message(channel, ts)
        .unwrap()
        .reactions
        .iter()
        .any(|r| r == "white_check_mark")
}

#[tokio::test]
async fn a_marked_message_is_on_the_timeline_once_until_every_mark_is_taken_back() {
    let (app, general, _) = workspace(&[]).await;
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0).id;
    let ts = app.slack.post_as_user(
        &channel,
        ALICE,
        "primary db failed over at 14:02 &amp; recovered",
    );

    react(&app, &channel, &ts, BOB, "pushpin", true).await;
    assert_eq!(app.db.count("SELECT count(*) FROM timeline_marks").await, 1);
    assert!(confirmed(&app, &channel, &ts), "Janus confirms the mark");
    let text = app
        .db
        .count("SELECT count(*) FROM timeline_marks WHERE text = 'primary db failed over at 14:02 & recovered' AND author = 'U0ALICE01' AND marked_by = 'U0BOB0001' AND permalink LIKE 'http%'")
        .await;
    assert_eq!(text, 1, "the message's text, author, marker and link");

    // Marked again, by someone else: still one entry.
    react(&app, &channel, &ts, ALICE, "pushpin", true).await;
    assert_eq!(app.db.count("SELECT count(*) FROM timeline_marks").await, 1);
    // Bob takes his back: Alice's mark keeps it.
    react(&app, &channel, &ts, BOB, "pushpin", false).await;
    assert_eq!(app.db.count("SELECT count(*) FROM timeline_marks").await, 1);
    assert!(confirmed(&app, &channel, &ts));
    // Alice too: off the timeline, and Janus's confirmation goes.
    react(&app, &channel, &ts, ALICE, "pushpin", false).await;
    assert_eq!(app.db.count("SELECT count(*) FROM timeline_marks").await, 0);
    assert!(!confirmed(&app, &channel, &ts));
}

#[tokio::test]
async fn the_timeline_emoji_outside_an_incident_channel_does_nothing() {
    let (app, general, _) = workspace(&[("JANUS_TIMELINE__EMOJI", ":memo:")]).await;
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0).id;
    let elsewhere = app.slack.post_as_user(&general, ALICE, "lunch?");
    react(&app, &general, &elsewhere, BOB, "memo", true).await;
    // The default emoji is not the configured one.
    let inside = app.slack.post_as_user(&channel, ALICE, "rolled back");
    react(&app, &channel, &inside, BOB, "pushpin", true).await;
    assert_eq!(app.db.count("SELECT count(*) FROM timeline_marks").await, 0);
    assert!(app.slack.calls_to("reactions.add").is_empty());
    // The configured one works.
    react(&app, &channel, &inside, BOB, "memo", true).await;
    assert_eq!(app.db.count("SELECT count(*) FROM timeline_marks").await, 1);
}

#[tokio::test]
async fn marks_made_and_taken_back_while_janus_was_stopped_are_applied_once_after_start() {
    let (mut app, general, _) = workspace(&[]).await;
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0).id;
    let kept = app.slack.post_as_user(&channel, ALICE, "rollback started");
    let dropped = app.slack.post_as_user(&channel, ALICE, "false alarm on db");
    react(&app, &channel, &dropped, BOB, "pushpin", true).await;
    assert_eq!(app.db.count("SELECT count(*) FROM timeline_marks").await, 1);

    app.stop().await.expect("a clean stop");
    // While Janus is away: one message marked, another's mark taken back.
    // Slack records both; the events are never delivered.
    app.slack.react_as_user(&channel, &kept, BOB, "pushpin");
    app.slack
        .unreact_as_user(&channel, &dropped, BOB, "pushpin");
    app.restart_with(&[]).await;
    app.idle().await;

    assert_eq!(
        app.db
            .count("SELECT count(*) FROM timeline_marks WHERE text = 'rollback started' AND marked_by = 'U0BOB0001'")
            .await,
        1,
        "the mark made while away"
    );
    assert_eq!(
        app.db.count("SELECT count(*) FROM timeline_marks").await,
        1,
        "the mark taken back while away is gone"
    );
    assert!(confirmed(&app, &channel, &kept));
    assert!(!confirmed(&app, &channel, &dropped));

    // Once: another start applies nothing more.
    let confirmations = app.slack.calls_to("reactions.add").len();
    app.stop().await.expect("a clean stop");
    app.restart_with(&[]).await;
    app.idle().await;
    assert_eq!(app.slack.calls_to("reactions.add").len(), confirmations);
    assert_eq!(app.db.count("SELECT count(*) FROM timeline_marks").await, 1);
}
