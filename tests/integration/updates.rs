//! Post update: the control message's button, its form, and where an
//! update lands — the incident channel, the digest message's thread, the
//! digest entry — as the people there see it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::controls::{click, control_choice, digest_field};
use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE};
use crate::support::harness::{TestApp, all_text, ephemeral_containing};
use crate::support::slack_fake::{self, Channel, Message};

const WAIT: Duration = Duration::from_secs(10);
const GUEST: &str = "U0GUEST001";

/// A declared incident (from #general, or from a private channel when
/// `private`): the app, its channel, the digest channel.
async fn incident(private: bool) -> (TestApp, Channel, String) {
    let (app, general, digest) = workspace(&[]).await;
    let source = if private {
        let secret = app.slack.add_private_channel("payroll-team", true);
        app.slack.add_member(&secret, ALICE);
        secret
    } else {
        general
    };
    declare(&app, &source, "checkout down").await;
    let channel = created_channel(&app, 0);
    (app, channel, digest)
}

/// `user` clicks Post update on the control message; returns the form
/// Janus opened.
async fn open_form(app: &TestApp, channel: &Channel, user: &str) -> Value {
    let before = app.slack.calls_to("views.open").len();
    click(app, channel, user, payloads::button("janus.update.open")).await;
    app.slack
        .wait_for("the update form", WAIT, |s| {
            s.calls_to("views.open").get(before).cloned()
        })
        .await
        .params["view"]
        .clone()
}

/// The envelope of `user` submitting `view` (modal `view_id`).
fn submission(view: &Value, view_id: &str, user: &str, text: &str, status: Option<&str>) -> Value {
    let payload = payloads::update_form_submission(view, view_id, user, text, status);
    slack_fake::envelope("interactive", payload, true)
}

/// Sends `envelope` and returns its ack's payload.
async fn send(app: &TestApp, envelope: Value) -> Option<Value> {
    let id = slack_fake::envelope_id_of(&envelope);
    let acked = app
        .slack
        .acks()
        .iter()
        .filter(|a| a.envelope_id == id)
        .count();
    app.slack.send_envelope(envelope).await;
    app.slack
        .wait_for("the ack", WAIT, |s| {
            let acks: Vec<_> = s
                .acks()
                .into_iter()
                .filter(|a| a.envelope_id == id)
                .collect();
            (acks.len() > acked).then(|| acks.last().cloned()).flatten()
        })
        .await
        .payload
}

/// Alice posts `text` (and `status`) through a form of its own (each
/// modal has its own view id); waits until Janus is idle.
async fn post_update(app: &TestApp, channel: &Channel, text: &str, status: Option<&str>) {
    static MODALS: AtomicU32 = AtomicU32::new(0);
    let view_id = format!("V0POST{:04}", MODALS.fetch_add(1, Ordering::Relaxed));
    let view = open_form(app, channel, ALICE).await;
    let ack = send(app, submission(&view, &view_id, ALICE, text, status)).await;
    assert_eq!(ack, None, "a valid form closes");
    app.idle().await;
}

fn text_of(m: &Message) -> String {
    m.blocks.as_ref().map(all_text).unwrap_or_default()
}

/// The messages of `channel` whose text contains `needle`.
fn containing(app: &TestApp, channel: &str, needle: &str) -> Vec<Message> {
    app.slack
        .messages(channel)
        .into_iter()
        .filter(|m| text_of(m).contains(needle))
        .collect()
}

/// The digest entry (the digest channel's first message) and the replies
/// in its thread.
fn digest_and_thread(app: &TestApp, digest: &str) -> (Message, Vec<Message>) {
    let messages = app.slack.messages(digest);
    let entry = messages[0].clone();
    let thread = messages
        .into_iter()
        .filter(|m| m.thread_ts.as_deref() == Some(entry.ts.as_str()))
        .collect();
    (entry, thread)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn an_update_lands_in_the_channel_and_the_digest_thread_and_the_digest_shows_it() {
    let (app, channel, digest) = incident(false).await;
    let view = open_form(&app, &channel, ALICE).await;
    assert_eq!(view["callback_id"], "janus.update");
    let incident_id = app.db.count("SELECT max(id) FROM incidents").await;
    assert_eq!(
        view["private_metadata"],
        format!("{incident_id}:{}", channel.id),
        "the submission finds its incident and lane"
    );

    let before = unix_now();
    let ack = send(
        &app,
        submission(
            &view,
            "V0UPDATE01",
            ALICE,
            "Rolled back the deploy <!channel>; errors are falling",
            None,
        ),
    )
    .await;
    assert_eq!(ack, None);
    app.idle().await;
    let after = unix_now();

    let escaped = "Rolled back the deploy &lt;!channel&gt;; errors are falling";
    let posted = containing(&app, &channel.id, escaped);
    assert_eq!(posted.len(), 1, "one update in the channel");
    assert!(
        text_of(&posted[0]).contains(&format!("<@{ALICE}>")),
        "who posted it"
    );
    assert_eq!(posted[0].thread_ts, None);

    let (entry, thread) = digest_and_thread(&app, &digest);
    assert_eq!(
        thread.len(),
        1,
        "one reply in the digest thread: {thread:?}"
    );
    assert!(
        text_of(&thread[0]).contains(escaped),
        "{}",
        text_of(&thread[0])
    );
    assert!(text_of(&thread[0]).contains(&format!("<#{}>", channel.id)));

    // The entry shows the latest update and when, as Slack's date token.
    let shown = text_of(&entry);
    assert!(shown.contains("Latest update"), "{shown}");
    assert!(shown.contains(escaped), "{shown}");
    let at: i64 = shown
        .split("<!date^")
        .nth(1)
        .and_then(|rest| rest.split('^').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a time in the digest: {shown}"));
    assert!(
        (before - 1..=after + 1).contains(&at),
        "{before} ≤ {at} ≤ {after}"
    );
    assert!(!shown.contains("<!channel>"), "{shown}");

    // On the history, announced.
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM incident_events WHERE kind = 'update' \
                 AND announced_at IS NOT NULL"
            )
            .await,
        1
    );
}

#[tokio::test]
async fn an_update_with_a_new_status_changes_the_status_once() {
    let (app, channel, digest) = incident(false).await;
    post_update(&app, &channel, "Found it: a bad index", Some("identified")).await;

    assert_eq!(
        control_choice(&app, &channel, "janus.status").as_deref(),
        Some("identified")
    );
    assert_eq!(
        digest_field(&app, &digest, "Status").as_deref(),
        Some("Identified")
    );
    let status_lines = containing(&app, &channel.id, "changed the status");
    assert_eq!(status_lines.len(), 1, "the status select's line, once");
    assert!(text_of(&status_lines[0]).contains("*Identified*"));
    let update = containing(&app, &channel.id, "Found it: a bad index");
    assert_eq!(update.len(), 1);
    assert!(
        text_of(&update[0]).contains("Identified"),
        "the update says so too"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE kind = 'status'")
            .await,
        1
    );
    assert!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE announced_at IS NULL")
            .await
            == 0,
        "everything announced"
    );

    // The current status again is no change: the update alone.
    post_update(&app, &channel, "Still identified", Some("identified")).await;
    assert_eq!(containing(&app, &channel.id, "changed the status").len(), 1);
    assert_eq!(containing(&app, &channel.id, "Still identified").len(), 1);
}

#[tokio::test]
async fn a_redelivered_submission_posts_nothing_twice() {
    let (app, channel, digest) = incident(false).await;
    let view = open_form(&app, &channel, ALICE).await;
    let envelope = submission(&view, "V0UPDATE01", ALICE, "Mitigated", Some("monitoring"));
    send(&app, envelope.clone()).await;
    app.idle().await;
    // The same envelope again (Slack redelivers), and the same modal
    // submitted again in a new envelope (Slack showed an error after a
    // late ack, and the person pressed Post again).
    send(&app, envelope).await;
    send(
        &app,
        submission(&view, "V0UPDATE01", ALICE, "Mitigated", Some("monitoring")),
    )
    .await;
    app.idle().await;

    assert_eq!(containing(&app, &channel.id, "Mitigated").len(), 1);
    assert_eq!(containing(&app, &channel.id, "changed the status").len(), 1);
    let (_, thread) = digest_and_thread(&app, &digest);
    assert_eq!(thread.len(), 1, "{thread:?}");
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE kind IN ('update', 'status')")
            .await,
        2
    );

    // Another modal is another update.
    let view = open_form(&app, &channel, ALICE).await;
    send(
        &app,
        submission(&view, "V0UPDATE02", ALICE, "Mitigated", None),
    )
    .await;
    app.idle().await;
    assert_eq!(containing(&app, &channel.id, "Mitigated").len(), 2);
}

#[tokio::test]
async fn an_empty_update_is_refused_in_the_ack_and_nothing_is_posted() {
    let (app, channel, digest) = incident(false).await;
    let messages = app.slack.messages(&channel.id).len();
    let digest_messages = app.slack.messages(&digest).len();
    let view = open_form(&app, &channel, ALICE).await;
    let ack = send(
        &app,
        submission(&view, "V0UPDATE01", ALICE, "  \n ", Some("resolved")),
    )
    .await
    .expect("errors in the ack");
    app.idle().await;

    assert_eq!(ack["response_action"], "errors", "{ack}");
    assert!(ack["errors"]["janus.update.text"].is_string(), "{ack}");
    assert_eq!(app.slack.messages(&channel.id).len(), messages);
    assert_eq!(app.slack.messages(&digest).len(), digest_messages);
    assert_eq!(
        control_choice(&app, &channel, "janus.status").as_deref(),
        Some("investigating"),
        "the status stays"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE kind <> 'declared'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_private_incidents_update_stays_in_its_private_channel() {
    let (app, channel, digest) = incident(true).await;
    assert!(channel.is_private);
    post_update(&app, &channel, "payroll totals are off by 3 %", None).await;

    assert_eq!(
        containing(&app, &channel.id, "payroll totals are off by 3 %").len(),
        1,
        "in the private channel"
    );
    let everything: String = app
        .slack
        .messages(&digest)
        .iter()
        .map(|m| format!("{} {}", m.text.as_deref().unwrap_or(""), text_of(m)))
        .collect();
    assert!(!everything.contains("payroll totals"), "{everything}");
    assert!(!everything.contains(&channel.id), "{everything}");
    let (entry, thread) = digest_and_thread(&app, &digest);
    assert_eq!(thread.len(), 1, "people following the digest hear of it");
    assert!(
        text_of(&thread[0]).contains("posted an update in the private incident channel"),
        "{}",
        text_of(&thread[0])
    );
    assert!(
        text_of(&entry).contains("Latest update"),
        "{}",
        text_of(&entry)
    );
}

#[tokio::test]
async fn a_guests_click_and_submission_change_nothing() {
    let (app, channel, digest) = incident(false).await;
    app.slack.add_guest(GUEST, "gus", false);
    // Invited to follow: a refusal can reach them as an ephemeral there.
    app.slack.add_member(&channel.id, GUEST);
    let digest_before = app.slack.messages(&digest)[0].updated;

    click(&app, &channel, GUEST, payloads::button("janus.update.open")).await;
    ephemeral_containing(&app.slack, "Guests can follow incidents").await;
    app.idle().await;
    assert!(
        app.slack.calls_to("views.open").is_empty(),
        "no form for a guest"
    );

    // A form opened by someone else, submitted by the guest.
    let view = open_form(&app, &channel, ALICE).await;
    let before = app.slack.ephemerals().len();
    send(
        &app,
        submission(
            &view,
            "V0GUEST001",
            GUEST,
            "all fine, go home",
            Some("resolved"),
        ),
    )
    .await;
    app.slack
        .wait_for("the guest is told", WAIT, |s| {
            s.ephemerals().into_iter().skip(before).find(|e| {
                e.text
                    .as_deref()
                    .unwrap_or("")
                    .contains("Guests can follow")
            })
        })
        .await;
    app.idle().await;

    assert!(containing(&app, &channel.id, "all fine").is_empty());
    assert_eq!(
        control_choice(&app, &channel, "janus.status").as_deref(),
        Some("investigating")
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE kind <> 'declared'")
            .await,
        0
    );
    let (_, thread) = digest_and_thread(&app, &digest);
    assert!(thread.is_empty());
    assert_eq!(app.slack.messages(&digest)[0].updated, digest_before);
}

#[tokio::test]
async fn an_update_slack_cannot_take_is_kept_the_poster_told_and_recovery_posts_it_once() {
    let (mut app, channel, digest) = incident(false).await;
    let view = open_form(&app, &channel, ALICE).await;
    // Slack rate-limits the post for far longer than a call may wait.
    app.slack.throttle("chat.postMessage", 600, 1);
    send(
        &app,
        submission(&view, "V0UPDATE01", ALICE, "DNS is back", None),
    )
    .await;
    let told = ephemeral_containing(&app.slack, "Your update is saved").await;
    assert!(
        told.text
            .unwrap_or_default()
            .contains("within a few minutes"),
        "the poster hears it is not lost"
    );
    app.idle().await;

    assert!(containing(&app, &channel.id, "DNS is back").is_empty());
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM incident_events WHERE kind = 'update' \
                 AND announced_at IS NULL"
            )
            .await,
        1,
        "left unannounced: recovery posts it"
    );
    // The digest entry is rendered from the database: it shows it already.
    let (entry, thread) = digest_and_thread(&app, &digest);
    assert!(
        text_of(&entry).contains("DNS is back"),
        "{}",
        text_of(&entry)
    );
    assert!(thread.is_empty(), "the thread follows the channel post");

    // Recovery posts what is stored, once: at the next start, for an
    // entry old enough that nobody is still posting it (made old here, as
    // waiting would make a timed test).
    app.db
        .count(
            "UPDATE incident_events SET at = '2026-01-01T00:00:00.000000Z' \
             WHERE kind = 'update' RETURNING id",
        )
        .await;
    app.restart_with(&[]).await;
    app.idle().await;
    assert_eq!(containing(&app, &channel.id, "DNS is back").len(), 1);
    let (_, thread) = digest_and_thread(&app, &digest);
    assert_eq!(thread.len(), 1, "{thread:?}");
    assert!(text_of(&thread[0]).contains("DNS is back"));
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE announced_at IS NULL")
            .await,
        0
    );
}
