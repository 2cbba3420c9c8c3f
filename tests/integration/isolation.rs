//! One incident never waits for another: a declaration stuck behind Slack's
//! rate limit, or one incident's slow Slack call, holds up nothing else.

use std::time::{Duration, Instant};

use crate::controls::{click, control_text, digest_text};
use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE, BOT};
use crate::support::harness::all_text;
use crate::support::slack_fake::{self, Fault};

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
                    .contains("Identified")
                    && !m.ts.eq(&b.pins[0])
            });
            (line
                && control_text(&app, &b).contains("Identified")
                && digest_text(&app, &digest).contains("Identified"))
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
