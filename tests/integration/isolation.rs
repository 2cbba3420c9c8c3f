//! One incident never waits for another: a declaration stuck behind Slack's
//! rate limit, or one incident's slow Slack call, holds up nothing else.

use std::time::{Duration, Instant};

use crate::controls::{click, control_choice, digest_field};
use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE, BOT};
use crate::support::harness::{all_text, control_messages, ephemeral_containing, field};
use crate::support::slack_fake::{self, Fault};
use janus::slack::SlackTuning;

/// A workspace whose Janus has Web API deadlines `tuning` (shorter than
/// Slack's, so a test meets them without waiting for the real ones).
async fn tuned(tuning: SlackTuning) -> (crate::support::harness::TestApp, String, String) {
    let (mut app, general, digest) = workspace(&[]).await;
    app.slack_tuning = tuning;
    app.restart_with(&[]).await;
    (app, general, digest)
}

/// Well under the `Retry-After` the throttled method answers: what the rest
/// must be done within to prove it did not wait for the throttled call.
const SOON: Duration = Duration::from_secs(5);

#[tokio::test]
async fn while_a_declaration_waits_out_429s_another_incident_changes_and_help_is_answered() {
    let (app, general, digest) = workspace(&[]).await;
    declare(&app, &general, "db down").await;
    let b = created_channel(&app, 0);

    // conversations.create answers 429 with Retry-After: 6, twice.
    for _ in 0..2 {
        app.slack.inject(
            "conversations.create",
            Fault::RateLimited {
                retry_after_secs: 6,
            },
        );
    }
    let envelope = slack_fake::envelope(
        "slash_commands",
        payloads::slash_incident(&general, "www down", &app.slack.response_url()),
        true,
    );
    app.slack.send_envelope(envelope).await;
    app.slack
        .wait_for_calls("conversations.create", 2, SOON)
        .await;
    let throttled_at = Instant::now();

    // Meanwhile: a status change on the other incident, and help.
    click(
        &app,
        &b,
        ALICE,
        payloads::select("janus.status", "identified"),
    )
    .await;
    let mention = payloads::app_mention(&general, &format!("<@{BOT}> help"), "Ev0ISOHELP", None);
    app.slack
        .send_envelope(slack_fake::envelope("events_api", mention, false))
        .await;

    app.slack
        .wait_for("the other incident's change everywhere", SOON, |s| {
            let line = s.messages(&b.id).iter().any(|m| {
                all_text(m.blocks.as_ref().unwrap_or(&serde_json::Value::Null))
                    .contains("changed the status from *Investigating* to *Identified*")
            });
            (line
                && control_choice(&app, &b, "janus.status").as_deref() == Some("identified")
                && digest_field(&app, &digest, "Status").as_deref() == Some("Identified"))
            .then_some(())
        })
        .await;
    app.slack
        .wait_for("help answered", SOON, |s| {
            s.messages(&general)
                .iter()
                .any(|m| {
                    all_text(m.blocks.as_ref().unwrap_or(&serde_json::Value::Null))
                        .contains("/incident")
                })
                .then_some(())
        })
        .await;
    // All of it while the declaration was still waiting for Slack.
    assert!(
        throttled_at.elapsed() < Duration::from_secs(6),
        "the rest waited for the throttled declaration: {:?}",
        throttled_at.elapsed()
    );
    assert_eq!(
        app.slack.calls_to("conversations.create").len(),
        2,
        "the declaration is still waiting out Retry-After"
    );

    // …and it completes once Slack lets it.
    app.slack
        .wait_for(
            "the throttled declaration completes",
            Duration::from_secs(30),
            |s| {
                s.channels()
                    .iter()
                    .any(|c| c.name.ends_with("-www-down"))
                    .then_some(())
            },
        )
        .await;
    app.idle().await;
    assert_eq!(
        app.slack.messages(&digest).len(),
        2,
        "one digest message each"
    );
}

#[tokio::test]
async fn a_chat_update_that_never_answers_is_retried_and_lands_while_another_incident_goes_on() {
    let (app, general, digest) = tuned(SlackTuning {
        call_timeout: Duration::from_secs(3),
        ..SlackTuning::default()
    })
    .await;
    declare(&app, &general, "db down").await;
    declare(&app, &general, "www down").await;
    let (a, b) = (created_channel(&app, 0), created_channel(&app, 1));

    // Incident A's next chat.update gets no answer at all.
    app.slack.inject("chat.update", Fault::Hang);
    click(
        &app,
        &a,
        ALICE,
        payloads::select("janus.status", "identified"),
    )
    .await;
    app.slack.wait_for_calls("chat.update", 1, SOON).await;

    // Meanwhile B changes, and is shown at once: while A still waits.
    click(&app, &b, ALICE, payloads::select("janus.severity", "sev1")).await;
    app.slack
        .wait_for("B shown everywhere", SOON, |_| {
            let b_digest = &app.slack.messages(&digest)[1];
            (control_choice(&app, &b, "janus.severity").as_deref() == Some("sev1")
                && field(b_digest.blocks.as_ref().unwrap(), "Severity").as_deref() == Some("SEV1"))
            .then_some(())
        })
        .await;
    assert!(
        control_choice(&app, &a, "janus.status").as_deref() == Some("investigating"),
        "B's update waited for A's hung call"
    );

    // A's update is timed out, sent again, and lands.
    app.slack
        .wait_for(
            "A's control message updated",
            Duration::from_secs(15),
            |_| {
                (control_choice(&app, &a, "janus.status").as_deref() == Some("identified"))
                    .then_some(())
            },
        )
        .await;
    app.idle().await;
    let a_updates = app
        .slack
        .calls_to("chat.update")
        .iter()
        .filter(|c| c.param("channel").as_deref() == Some(a.id.as_str()))
        .count();
    assert_eq!(a_updates, 2, "the hung update, then its retry");
}

#[tokio::test]
async fn a_change_slack_does_not_take_in_time_is_kept_and_the_clicker_is_told() {
    let (app, general, _digest) = tuned(SlackTuning {
        call_timeout: Duration::from_millis(300),
        effect_budget: Duration::from_secs(2),
        ..SlackTuning::default()
    })
    .await;
    declare(&app, &general, "db down").await;
    let a = created_channel(&app, 0);

    // Every chat.update of the control message goes unanswered.
    for _ in 0..10 {
        app.slack.inject("chat.update", Fault::Hang);
    }
    click(
        &app,
        &a,
        ALICE,
        payloads::select("janus.status", "identified"),
    )
    .await;
    let told = ephemeral_containing(&app.slack, "Your change is saved").await;
    assert!(
        told.text.unwrap_or_default().contains("will show"),
        "the clicker hears it is not lost"
    );
    app.idle().await;
    // Stored, and not recorded as shown, so recovery brings it to Slack.
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE status = 'identified'")
            .await,
        1
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE published_version IS NULL OR version > published_version")
            .await,
        1,
        "the change is left for recovery to show"
    );
}

#[tokio::test]
async fn a_channel_created_without_an_answer_is_found_by_name_not_created_twice() {
    let (app, general, digest) = tuned(SlackTuning {
        call_timeout: Duration::from_millis(500),
        ..SlackTuning::default()
    })
    .await;
    // Slack makes the channel, but its answer comes after our deadline.
    app.slack.inject(
        "conversations.create",
        Fault::ApplyThenDelay(Duration::from_secs(3)),
    );
    let answer = declare(&app, &general, "www down").await;

    let channels: Vec<_> = app
        .slack
        .channels()
        .into_iter()
        .filter(|c| c.name.starts_with("inc-"))
        .collect();
    assert_eq!(channels.len(), 1, "one channel: {channels:?}");
    assert_eq!(
        app.slack.calls_to("conversations.create").len(),
        1,
        "looked for, not asked for again"
    );
    let said = all_text(answer.blocks.as_ref().expect("the declared message"));
    assert!(said.contains(&format!("<#{}>", channels[0].id)), "{said}");
    assert_eq!(app.slack.messages(&digest).len(), 1, "one digest message");
    assert_eq!(
        app.slack.channel(&channels[0].id).unwrap().pins.len(),
        1,
        "one control message, pinned"
    );
}

#[tokio::test]
async fn a_post_slack_made_without_an_answer_in_time_is_found_not_posted_twice() {
    let (app, general, digest) = tuned(SlackTuning {
        call_timeout: Duration::from_millis(500),
        ..SlackTuning::default()
    })
    .await;
    // The first post of the declaration (its control message or its digest
    // message, whichever goes first) is made, but answered too late.
    app.slack.inject(
        "chat.postMessage",
        Fault::ApplyThenDelay(Duration::from_secs(3)),
    );
    declare(&app, &general, "www down").await;

    let channel = created_channel(&app, 0);
    assert_eq!(
        control_messages(&app.slack, &channel.id),
        1,
        "one control message"
    );
    assert_eq!(channel.pins.len(), 1, "pinned once");
    assert_eq!(app.slack.messages(&digest).len(), 1, "one digest message");
    assert_eq!(
        app.slack.calls_to("chat.postMessage").len(),
        2,
        "each posted once: looked for, not posted again"
    );
    assert!(
        !app.slack.calls_to("conversations.history").is_empty(),
        "the unanswered one was looked for"
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE control_ts IS NOT NULL AND digest_ts IS NOT NULL")
            .await,
        1,
        "and adopted: both are recorded, so nothing posts them again later"
    );
}
