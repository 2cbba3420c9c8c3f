//! The optional integrations: react-to-create and the user-group invite.

use std::time::Duration;

use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE, BOB};
use crate::support::harness::{TestApp, all_text};
use crate::support::slack_fake::{self, Fault};

const WAIT: Duration = Duration::from_secs(10);
const REACT: &[(&str, &str)] = &[
    ("INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED", "true"),
    ("INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME", ":fire:"),
];

async fn react(app: &TestApp, channel: &str, ts: &str, user: &str, emoji: &str, event_id: &str) {
    let payload = payloads::reaction_added(channel, ts, user, emoji, event_id);
    let envelope = slack_fake::envelope("events_api", payload, false);
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
}

#[tokio::test]
async fn a_fire_reaction_declares_an_auto_incident_quoting_the_message() {
    let (app, general, digest) = workspace(REACT).await;
    // As Slack stores it: & < > entity-encoded.
    let ts = app.slack.post_as_user(
        &general,
        ALICE,
        "checkout &lt;b&gt;500s&lt;/b&gt; &amp; worse <!channel>",
    );
    react(&app, &general, &ts, BOB, "fire", "Ev0REACT01").await;

    let reply = app
        .slack
        .wait_for("the thread reply", WAIT, |s| {
            s.messages(&general)
                .into_iter()
                .find(|m| m.thread_ts.as_deref() == Some(ts.as_str()))
        })
        .await;
    app.idle().await;
    let name = app.slack.calls_to("conversations.create")[0].params["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (stamp, suffix) = name
        .strip_prefix("inc-")
        .unwrap()
        .split_once("-auto-")
        .expect("auto name");
    assert_eq!(stamp.len(), 12, "{name}");
    assert_eq!(suffix.len(), 6, "{name}");
    let channel = app.slack.channel_named(&name).unwrap();
    assert!(
        reply
            .text
            .unwrap_or_default()
            .contains(&format!("<#{}>", channel.id))
    );

    let quoted: String = app
        .slack
        .messages(&channel.id)
        .iter()
        .map(|m| all_text(m.blocks.as_ref().unwrap()))
        .collect();
    assert!(
        quoted.contains(">checkout &lt;b&gt;500s&lt;/b&gt; &amp; worse"),
        "{quoted}"
    );
    assert!(!quoted.contains("<!channel>"), "{quoted}");
    assert!(quoted.contains(&format!("<#{general}>")), "{quoted}");
    assert!(quoted.contains("|a message>"), "permalink: {quoted}");
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE created_by = 'U0BOB0001'")
            .await,
        1,
        "the person who reacted declared it"
    );
    assert_eq!(app.slack.messages(&digest).len(), 1);
}

#[tokio::test]
async fn one_message_gives_one_incident_however_often_it_is_reacted_to() {
    let (app, general, _) = workspace(REACT).await;
    let ts = app.slack.post_as_user(&general, ALICE, "db is down");
    react(&app, &general, &ts, BOB, "fire", "Ev0REACT11").await;
    app.slack.wait_for_call("conversations.create", WAIT).await;
    // Another person, another reaction, a redelivery, a skin tone.
    react(&app, &general, &ts, ALICE, "fire", "Ev0REACT12").await;
    react(&app, &general, &ts, BOB, "fire", "Ev0REACT11").await;
    react(
        &app,
        &general,
        &ts,
        ALICE,
        "fire::skin-tone-2",
        "Ev0REACT13",
    )
    .await;
    // Another emoji on another message does nothing either.
    let other = app.slack.post_as_user(&general, ALICE, "lunch?");
    react(&app, &general, &other, BOB, "pizza", "Ev0REACT14").await;
    app.idle().await;
    assert_eq!(app.slack.calls_to("conversations.create").len(), 1);
    assert_eq!(app.db.count("SELECT count(*) FROM react_triggers").await, 1);
}

#[tokio::test]
async fn a_reaction_where_the_bot_cannot_read_tells_the_reactor_and_creates_nothing() {
    let (app, _, _) = workspace(REACT).await;
    let secret = app.slack.add_channel("secret-project", false);
    let ts = app.slack.post_as_user(&secret, ALICE, "prod is on fire");
    react(&app, &secret, &ts, BOB, "fire", "Ev0REACT21").await;
    let dm = app
        .slack
        .wait_for("the reactor is told", WAIT, |s| {
            let im = s.dm_channel(BOB)?;
            s.messages(&im).into_iter().next()
        })
        .await;
    // The bot's name is the one `auth.test` reported, not a hard-coded one.
    let text = dm.text.unwrap_or_default();
    assert!(
        text.contains(&format!("/invite @{}", slack_fake::BOT_NAME)),
        "{text}"
    );
    assert!(app.slack.calls_to("conversations.create").is_empty());
    // The claim is released once the reactor has been told.
    app.db
        .eventually_count("SELECT count(*) FROM react_triggers", 0)
        .await;
}

#[tokio::test]
async fn the_user_group_is_invited_to_every_new_incident() {
    let env = [
        ("INCIDENT_AUTO_GROUP_INVITE_ENABLED", "yes"),
        ("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME", "@SRE-oncall"),
    ];
    let (mut app, general, _) = workspace(&env).await;
    for (id, name) in [("U0CAROL01", "carol"), ("U0DAVE001", "dave")] {
        app.slack.add_user(id, name);
    }
    app.slack
        .add_usergroup("sre-oncall", "SRE on-call", &["U0CAROL01", "U0DAVE001"]);
    // The group is resolved to its id at start; later, someone makes a group
    // named like it: it is not invited.
    app.restart_with(&env).await;
    let listed_at_start = app.slack.calls_to("usergroups.list").len();
    app.slack.add_user("U0EVE0001", "eve");
    app.slack
        .add_usergroup("sre-oncall-2", "sre-oncall", &["U0EVE0001"]);
    declare(&app, &general, "www down").await;
    declare(&app, &general, "db down").await;
    for created in app.slack.calls_to("conversations.create") {
        let channel = app
            .slack
            .channel_named(created.params["name"].as_str().unwrap())
            .unwrap();
        for member in ["U0CAROL01", "U0DAVE001", ALICE] {
            assert!(
                channel.members.iter().any(|m| m == member),
                "{member} in {}",
                channel.name
            );
        }
    }
    for created in app.slack.calls_to("conversations.create") {
        let channel = app
            .slack
            .channel_named(created.params["name"].as_str().unwrap())
            .unwrap();
        assert!(
            !channel.members.iter().any(|m| m == "U0EVE0001"),
            "a look-alike group is not invited to {}",
            channel.name
        );
    }
    assert_eq!(
        app.slack.calls_to("usergroups.list").len(),
        listed_at_start,
        "the group was resolved once, at start"
    );
}

#[tokio::test]
async fn a_group_that_cannot_be_invited_is_reported_in_the_channel_and_the_incident_stands() {
    let (app, general, digest) = workspace(&[
        ("INCIDENT_AUTO_GROUP_INVITE_ENABLED", "true"),
        ("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME", "sre-oncall"),
    ])
    .await;
    app.slack.inject(
        "usergroups.list",
        Fault::Error("plan_upgrade_required".into()),
    );
    declare(&app, &general, "www down").await;
    let channel = created_channel(&app, 0);
    let said: String = app
        .slack
        .messages(&channel.id)
        .iter()
        .map(|m| all_text(m.blocks.as_ref().unwrap()))
        .collect();
    assert!(said.contains("no user groups"), "{said}");
    assert_eq!(channel.pins.len(), 1, "the incident is complete");
    assert_eq!(app.slack.messages(&digest).len(), 1);

    // An unknown group is reported the same way.
    declare(&app, &general, "db down").await;
    let channel = created_channel(&app, 1);
    let said: String = app
        .slack
        .messages(&channel.id)
        .iter()
        .map(|m| all_text(m.blocks.as_ref().unwrap()))
        .collect();
    assert!(
        said.contains("could not find the user group @sre-oncall"),
        "{said}"
    );
    assert!(said.contains("Janus admin"), "{said}");
    assert!(
        !said.contains("INCIDENT_AUTO_GROUP") && !said.contains("auto_invite"),
        "people are not shown setting names: {said}"
    );
}

#[tokio::test]
async fn new_incidents_get_a_provider_snapshot_that_refreshes_in_place() {
    use crate::support::providers_fake::{ProvidersFake, Response};
    let fake = ProvidersFake::start().await;
    fake.set(
        "github",
        Response::fixture("statuspage_v2_summary.github.incident.json"),
    );
    let base = fake.base_url();
    let (app, general, _) = workspace(&[
        ("INCIDENT_EXTERNAL_PROVIDERS_ENABLED", "1"),
        ("INCIDENT_EXTERNAL_PROVIDERS_LIST", "github, heroku, deadco"),
        ("JANUS_PROVIDERS__GITHUB__URL", &base),
        ("JANUS_PROVIDERS__HEROKU__URL", &base),
        ("JANUS_PROVIDERS__DEADCO__URL", "http://127.0.0.1:1"),
    ])
    .await;
    declare(&app, &general, "www down").await;
    let channel = created_channel(&app, 0);
    let snapshot = app
        .slack
        .wait_for("the snapshot", WAIT, |s| {
            s.messages(&channel.id).into_iter().find(|m| {
                m.blocks
                    .as_ref()
                    .is_some_and(|b| b.to_string().contains("janus.providers.refresh"))
            })
        })
        .await;
    let text = all_text(snapshot.blocks.as_ref().unwrap());
    assert!(
        text.contains("GitHub") && text.contains("Heroku") && text.contains("Deadco"),
        "{text}"
    );
    assert!(
        text.contains("could not connect"),
        "a dead provider is a warning: {text}"
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "no credentials to third parties"
    );

    let before = fake.requests().len();
    let click = payloads::block_action(
        &channel.id,
        ALICE,
        &snapshot.ts,
        payloads::button("janus.providers.refresh"),
        &app.slack.response_url(),
    );
    app.slack
        .send_envelope(slack_fake::envelope("interactive", click, false))
        .await;
    app.slack
        .wait_for("the refresh", WAIT, |s| {
            s.message(&channel.id, &snapshot.ts)
                .filter(|m| m.updated > 0)
        })
        .await;
    assert!(fake.requests().len() >= before + 2, "fetched again");
}

#[tokio::test]
async fn a_reaction_on_a_deleted_message_tells_the_reactor_and_creates_nothing() {
    let (app, general, _) = workspace(REACT).await;
    app.slack.add_member(&general, BOB);
    react(
        &app,
        &general,
        "1600000000.000100",
        BOB,
        "fire",
        "Ev0REACT31",
    )
    .await;
    let told = app
        .slack
        .wait_for("the reactor is told", WAIT, |s| {
            s.calls_to("chat.postEphemeral").into_iter().next()
        })
        .await;
    assert_eq!(told.params["user"], BOB);
    assert!(
        told.params["text"]
            .as_str()
            .unwrap()
            .contains("could not find that message")
    );
    assert!(app.slack.calls_to("conversations.create").is_empty());
    // The claim is released once the reactor has been told.
    app.db
        .eventually_count("SELECT count(*) FROM react_triggers", 0)
        .await;
}
