//! The first features through the whole pipe: help, usage, dedupe, 429s.

use std::time::Duration;

use crate::payloads::{self, BOT};
use crate::support::harness::{TestApp, all_text};
use crate::support::slack_fake::{self, Fault};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn help_mention_is_answered_in_the_channel() {
    let app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    let payload = payloads::app_mention(&general, &format!("<@{BOT}> help"), "Ev0HELP1", None);
    app.slack
        .send_envelope(slack_fake::envelope("events_api", payload, false))
        .await;

    let call = app.slack.wait_for_call("chat.postMessage", WAIT).await;
    assert_eq!(call.params["channel"], general.as_str());
    assert_eq!(call.token.as_deref(), Some(slack_fake::BOT_TOKEN));
    let messages = app.slack.messages(&general);
    assert_eq!(messages.len(), 1);
    let text = all_text(messages[0].blocks.as_ref().expect("blocks"));
    assert!(text.contains("/incident"), "help lists the command: {text}");
    assert!(text.contains("declares one"), "{text}");
    assert!(
        !text.contains("Sorry"),
        "a plain help has no apology: {text}"
    );
}

#[tokio::test]
async fn help_in_a_thread_is_answered_in_that_thread() {
    let app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    let payload = payloads::app_mention(
        &general,
        &format!("<@{BOT}> help"),
        "Ev0HELP2",
        Some("1700000000.000100"),
    );
    app.slack
        .send_envelope(slack_fake::envelope("events_api", payload, false))
        .await;
    let call = app.slack.wait_for_call("chat.postMessage", WAIT).await;
    assert_eq!(call.params["thread_ts"], "1700000000.000100");
}

#[tokio::test]
async fn an_unknown_word_gets_help_with_an_apology_that_pings_nobody() {
    let app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    let payload =
        payloads::app_mention(&general, &format!("<@{BOT}> <!channel>"), "Ev0HELP3", None);
    app.slack
        .send_envelope(slack_fake::envelope("events_api", payload, false))
        .await;
    app.slack.wait_for_call("chat.postMessage", WAIT).await;
    let text = all_text(app.slack.messages(&general)[0].blocks.as_ref().unwrap());
    assert!(text.contains("Sorry"), "{text}");
    assert!(text.contains("&lt;!channel&gt;"), "escaped: {text}");
    assert!(
        !text.contains("<!channel>"),
        "would ping the channel: {text}"
    );
}

#[tokio::test]
async fn declaring_without_a_description_answers_with_usage_in_the_ack_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    let envelope = slack_fake::envelope(
        "slash_commands",
        payloads::slash_incident(&general, "   ", &app.slack.response_url()),
        true,
    );
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;

    let ack = app.slack.wait_ack(&id, WAIT).await;
    let payload = ack.payload.expect("usage travels in the ack");
    assert_eq!(payload["response_type"], "ephemeral");
    let text = all_text(&payload["blocks"]);
    assert!(text.contains("/incident &lt;description&gt;"), "{text}");
    assert!(text.contains("Nothing was created"), "{text}");

    app.idle().await;
    assert!(app.slack.calls_to("conversations.create").is_empty());
    assert!(app.slack.calls_to("chat.postMessage").is_empty());
    assert!(
        app.slack.ephemerals().is_empty(),
        "answered once, in the ack"
    );
    assert_eq!(app.db.count("SELECT count(*) FROM incidents").await, 0);
}

#[tokio::test]
async fn a_redelivered_event_has_one_effect_even_across_a_restart() {
    let mut app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    let payload = payloads::app_mention(&general, &format!("<@{BOT}> help"), "Ev0DUP001", None);

    app.slack
        .send_envelope(slack_fake::envelope("events_api", payload.clone(), false))
        .await;
    app.slack.wait_for_call("chat.postMessage", WAIT).await;
    // Slack redelivers with a new envelope id and retry_attempt 1, maybe on
    // the other socket.
    let mut retry = slack_fake::envelope("events_api", payload.clone(), false);
    retry["retry_attempt"] = 1.into();
    retry["retry_reason"] = "timeout".into();
    let retry_id = slack_fake::envelope_id_of(&retry);
    app.slack.send_envelope(retry).await;
    app.slack.wait_ack(&retry_id, WAIT).await;

    app.restart_with(&[]).await;
    let mut again = slack_fake::envelope("events_api", payload, false);
    again["retry_attempt"] = 2.into();
    let again_id = slack_fake::envelope_id_of(&again);
    app.slack.send_envelope(again).await;
    app.slack.wait_ack(&again_id, WAIT).await;

    app.idle().await;
    assert_eq!(app.slack.calls_to("chat.postMessage").len(), 1);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM processed_envelopes WHERE dedupe_key = 'event:Ev0DUP001'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_rate_limited_call_waits_for_retry_after_then_succeeds() {
    let app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    app.slack.inject(
        "chat.postMessage",
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    let payload = payloads::app_mention(&general, &format!("<@{BOT}> help"), "Ev0RATE01", None);
    app.slack
        .send_envelope(slack_fake::envelope("events_api", payload, false))
        .await;

    app.slack
        .wait_for("the help posted", WAIT, |s| {
            (!s.messages(&general).is_empty()).then_some(())
        })
        .await;
    let calls = app.slack.calls_to("chat.postMessage");
    assert_eq!(calls.len(), 2, "one 429, one retry");
    let waited = calls[1].at - calls[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
}

#[tokio::test]
async fn an_ack_arrives_before_a_slow_handler_finishes() {
    let app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    app.slack
        .inject("chat.postMessage", Fault::Delay(Duration::from_secs(2)));
    let envelope = slack_fake::envelope(
        "events_api",
        payloads::app_mention(&general, &format!("<@{BOT}> help"), "Ev0SLOW01", None),
        false,
    );
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    let ack = app.slack.wait_ack(&id, WAIT).await;
    assert!(
        app.slack.messages(&general).is_empty(),
        "the ack came before the handler's Slack call finished"
    );
    assert_eq!(ack.envelope_id, id);
    app.slack.wait_for_call("chat.postMessage", WAIT).await;
}

#[tokio::test]
async fn an_unknown_slash_command_is_answered_through_response_url_without_a_token() {
    let app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    let mut payload = payloads::slash_incident(&general, "rain", &app.slack.response_url());
    payload["command"] = "/weather".into();
    let envelope = slack_fake::envelope("slash_commands", payload, true);
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    let ack = app.slack.wait_ack(&id, WAIT).await;
    assert!(ack.payload.is_none(), "nothing to say at once");

    let call = app.slack.wait_for_call("response_url", WAIT).await;
    assert_eq!(
        call.token, None,
        "the response_url needs no token, so none is sent"
    );
    let ephemerals = app.slack.ephemerals();
    assert_eq!(ephemerals.len(), 1);
    let text = ephemerals[0].text.clone().unwrap_or_default();
    assert!(text.contains("does not handle /weather"), "{text}");
    assert!(app.slack.calls_to("chat.postMessage").is_empty());
}

/// A slash command payload for `command` (not the default `/incident`).
fn slash(app: &TestApp, channel: &str, command: &str, text: &str) -> serde_json::Value {
    let mut payload = payloads::slash_incident(channel, text, &app.slack.response_url());
    payload["command"] = serde_json::json!(command);
    slack_fake::envelope("slash_commands", payload, true)
}

#[tokio::test]
async fn the_slash_command_is_configurable_and_every_message_names_the_configured_one() {
    let app = TestApp::spawn_with(&[("JANUS_SLACK__COMMAND", "/inc")]).await;
    let general = app.slack.add_channel("general", true);
    app.slack.add_channel("incidents", true);

    // Usage, in the ack, names `/inc`.
    let envelope = slash(&app, &general, "/inc", "");
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    let usage = app.slack.wait_ack(&id, WAIT).await.payload.expect("usage");
    let text = all_text(&usage["blocks"]);
    assert!(text.contains("`/inc &lt;description&gt;`"), "{text}");
    assert!(!text.contains("/incident"), "{text}");

    // `/incident` belongs to another app here: pointed at `/inc`.
    app.slack
        .send_envelope(slash(&app, &general, "/incident", "db down"))
        .await;
    let told = crate::support::harness::ephemeral_containing(&app.slack, "try /inc").await;
    assert!(
        told.text
            .unwrap()
            .contains("Janus does not handle /incident"),
        "names what was typed"
    );
    app.idle().await;
    assert!(app.slack.calls_to("conversations.create").is_empty());

    // `/inc db down` declares.
    app.slack
        .send_envelope(slash(&app, &general, "/inc", "db down"))
        .await;
    app.slack.wait_for_call("conversations.create", WAIT).await;
    app.idle().await;

    // Help names it too.
    let payload = payloads::app_mention(&general, &format!("<@{BOT}> help"), "Ev0HELPCMD", None);
    app.slack
        .send_envelope(slack_fake::envelope("events_api", payload, false))
        .await;
    let help = app
        .slack
        .wait_for("the help", WAIT, |s| {
            s.messages(&general)
                .into_iter()
                .find(|m| m.text.as_deref() == Some("How to use Janus"))
        })
        .await;
    let text = all_text(help.blocks.as_ref().unwrap());
    assert!(
        text.contains("`/inc checkout returns 500 errors`"),
        "{text}"
    );
    assert!(!text.contains("/incident"), "{text}");
}

/// What `@janus help` answers on `app` (which lives until it has answered:
/// an `async fn` owns its arguments whole).
async fn help_text(app: TestApp, event_id: &str) -> String {
    let general = app.slack.add_channel("general", true);
    let payload = payloads::app_mention(&general, &format!("<@{BOT}> help"), event_id, None);
    app.slack
        .send_envelope(slack_fake::envelope("events_api", payload, false))
        .await;
    let call = app.slack.wait_for_call("chat.postMessage", WAIT).await;
    all_text(&call.params["blocks"])
}

#[tokio::test]
async fn help_lists_the_optional_features_that_are_on_and_only_those() {
    let plain = help_text(TestApp::spawn().await, "Ev0HELPF1").await;
    assert!(!plain.contains("to declare an incident from it"), "{plain}");
    assert!(
        plain.contains(":pushpin:"),
        "the timeline is always on: {plain}"
    );

    let react = TestApp::spawn_with(&[
        ("INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED", "true"),
        (
            "INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME",
            "rotating_light",
        ),
    ])
    .await;
    let text = help_text(react, "Ev0HELPF2").await;
    assert!(
        text.contains("React with :rotating_light: to a message to declare an incident from it"),
        "{text}"
    );
}
