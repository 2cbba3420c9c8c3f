//! React-to-create's edges: the messages it does not declare from, and the
//! quote that shows people and channels by name without pinging anyone.

use std::time::Duration;

use janus::domain::text::has_special_mention;

use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE, BOB};
use crate::support::harness::{TestApp, all_text, ephemeral_containing};
use crate::support::slack_fake::{self, BOT_USER_ID};

const WAIT: Duration = Duration::from_secs(10);
const REACT: &[(&str, &str)] = &[
    ("INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED", "true"),
    ("INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME", "fire"),
];
const CAROL: &str = "U0CAROL01";

async fn react(app: &TestApp, channel: &str, ts: &str, user: &str, event_id: &str) {
    let payload = payloads::reaction_added(channel, ts, user, "fire", event_id);
    let envelope = slack_fake::envelope("events_api", payload, false);
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
}

/// Whether Janus read the message at `ts` (`conversations.history` around it).
fn read_message(app: &TestApp, ts: &str) -> bool {
    app.slack
        .calls_to("conversations.history")
        .iter()
        .any(|c| c.params["latest"].as_str() == Some(ts))
}

#[tokio::test]
async fn reacting_in_an_incident_channel_declares_nothing_and_tells_the_reactor() {
    let (app, general, _) = workspace(REACT).await;
    declare(&app, &general, "checkout down").await;
    let incident = created_channel(&app, 0);
    app.slack.add_member(&incident.id, BOB);
    let ts = app
        .slack
        .post_as_user(&incident.id, ALICE, "the database is full");

    react(&app, &incident.id, &ts, BOB, "Ev0INCREACT1").await;
    let told = ephemeral_containing(&app.slack, "already belongs to an incident").await;
    app.idle().await;

    assert_eq!(told.user.as_deref(), Some(BOB));
    assert_eq!(told.channel.as_deref(), Some(incident.id.as_str()));
    let text = told.text.unwrap_or_default();
    assert!(text.contains(":pushpin:"), "points at the timeline: {text}");
    assert_eq!(app.slack.calls_to("conversations.create").len(), 1);
    assert_eq!(app.db.count("SELECT count(*) FROM incidents").await, 1);
    // Known from the database: nothing claimed, the message not even read.
    assert_eq!(app.db.count("SELECT count(*) FROM react_triggers").await, 0);
    assert!(!read_message(&app, &ts));
}

#[tokio::test]
async fn reacting_to_a_bots_message_declares_nothing_and_tells_the_reactor() {
    let (app, general, _) = workspace(REACT).await;
    app.slack.add_member(&general, BOB);
    let integration = app
        .slack
        .post_as_bot(&general, "B0DEPLOYS1", "deploy 42 failed <!here>");
    let janus = app
        .slack
        .post_as_user(&general, BOT_USER_ID, "Janus said something");

    for (ts, event) in [(&integration, "Ev0BOTREACT1"), (&janus, "Ev0BOTREACT2")] {
        let before = app.slack.ephemerals().len();
        react(&app, &general, ts, BOB, event).await;
        let told = app
            .slack
            .wait_for("the reactor is told", WAIT, |s| {
                s.ephemerals().get(before).cloned()
            })
            .await;
        assert_eq!(told.user.as_deref(), Some(BOB));
        let text = told.text.unwrap_or_default();
        assert!(text.contains("posted by a bot"), "{text}");
        assert!(read_message(&app, ts), "a bot is known from the message");
    }
    app.idle().await;
    assert!(app.slack.calls_to("conversations.create").is_empty());
    assert_eq!(app.db.count("SELECT count(*) FROM incidents").await, 0);
    // The claims were released: a person's reaction later is not blocked.
    app.db
        .eventually_count("SELECT count(*) FROM react_triggers", 0)
        .await;
}

#[tokio::test]
async fn a_quoted_message_shows_names_keeps_links_and_pings_nobody() {
    let (app, general, digest) = workspace(REACT).await;
    app.slack.add_user(ALICE, "Alice Liddell");
    app.slack.add_user(CAROL, "Carol Danvers");
    // As Slack stores it: tokens for mentions and links, & < > encoded.
    let ts = app.slack.post_as_user(
        &general,
        ALICE,
        &format!(
            "<@{CAROL}> says <#{general}|general> is slow &amp; &lt;b&gt;failing&lt;/b&gt;, <!here>\n\
             see <https://status.example.com/incidents/1|the status page> and \
             <https://grafana.example.com/d/x?a=1&amp;b=2> cc <!subteam^S0ONCALL1|@oncall> <@U1>"
        ),
    );
    react(&app, &general, &ts, BOB, "Ev0QUOTE0001").await;
    app.slack.wait_for_call("conversations.create", WAIT).await;
    app.idle().await;

    let channel = created_channel(&app, 0);
    let origin = app
        .slack
        .messages(&channel.id)
        .into_iter()
        .map(|m| all_text(m.blocks.as_ref().unwrap()))
        .find(|text| text.contains("Declared from"))
        .expect("the quote is posted");
    for readable in [
        "by @Alice Liddell in",
        ">@Carol Danvers says #general is slow &amp; &lt;b&gt;failing&lt;/b&gt;, @here\n",
        ">see <https://status.example.com/incidents/1|the status page> and ",
        "<https://grafana.example.com/d/x?a=1&amp;b=2>",
        "cc @oncall @someone",
    ] {
        assert!(origin.contains(readable), "{readable:?} in {origin}");
    }
    assert!(!origin.contains("<@"), "{origin}");
    assert!(!origin.contains("<!"), "{origin}");
    assert!(!origin.contains(&format!("<#{general}|")), "{origin}");

    // The description reads the same, as plain text.
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM incidents WHERE description = \
                 '@Carol Danvers says #general is slow & <b>failing</b>, @here\n\
                 see the status page (https://status.example.com/incidents/1) and https://grafana.example.com/d/x?a=1&b=2 cc @oncall @someone'"
            )
            .await,
        1
    );
    let listed = all_text(app.slack.messages(&digest)[0].blocks.as_ref().unwrap());
    assert!(listed.contains("@Carol Danvers says"), "{listed}");
    // The declarer's mention is Janus's own; the description's are names.
    assert!(!listed.contains(&format!("<@{CAROL}>")), "{listed}");
    assert!(!has_special_mention(&listed), "{listed}");
}

#[tokio::test]
async fn a_timeline_mark_keeps_the_message_readable() {
    let (app, general, _) = workspace(&[]).await;
    app.slack.add_user(CAROL, "Carol Danvers");
    declare(&app, &general, "checkout down").await;
    let incident = created_channel(&app, 0);
    let ts = app.slack.post_as_user(
        &incident.id,
        ALICE,
        &format!("<@{CAROL}> rolled back, <!channel> see <https://ci.example.com/run/7|run 7>"),
    );
    app.slack.react_as_user(&incident.id, &ts, BOB, "pushpin");
    let payload = payloads::reaction_added(&incident.id, &ts, BOB, "pushpin", "Ev0MARKQUOTE");
    let envelope = slack_fake::envelope("events_api", payload, false);
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
    app.idle().await;

    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM timeline_marks \
                 WHERE text = '@Carol Danvers rolled back, @channel see run 7 (https://ci.example.com/run/7)'"
            )
            .await,
        1
    );
}
