//! Who may do what, and what stays private: only our app and workspace;
//! guests and people of other organisations follow but do not change;
//! incidents declared from private places stay private; `list` answers
//! the asker only; one person cannot flood the workspace with incidents.

use std::time::Duration;

use serde_json::{Value, json};

use crate::controls::{click, control_choice, control_text};
use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE, BOB, BOT};
use crate::support::harness::{TestApp, all_text, ephemeral_containing};
use crate::support::slack_fake::{self, Message};

const WAIT: Duration = Duration::from_secs(10);
const REACT: &[(&str, &str)] = &[
    ("INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED", "true"),
    ("INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME", "fire"),
];
const PARTNER: &str = "U0PARTNER1";
const GUEST: &str = "U0GUEST001";

/// Sends `payload` as an envelope of `kind` and waits for its ack.
async fn send(app: &TestApp, kind: &str, payload: Value) {
    let envelope = slack_fake::envelope(kind, payload, kind == "slash_commands");
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await;
}

fn text_of(m: &Message) -> String {
    format!(
        "{} {}",
        m.text.as_deref().unwrap_or(""),
        m.blocks.as_ref().map(Value::to_string).unwrap_or_default()
    )
}

/// Everything posted in channels that are not private, as one text.
fn public_text(app: &TestApp) -> String {
    app.slack
        .channels()
        .iter()
        .filter(|c| !c.is_private)
        .flat_map(|c| app.slack.messages(&c.id))
        .map(|m| text_of(&m))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `janus_refused_total{reason="…"}` from `/metrics`.
async fn refused(app: &TestApp, reason: &str) -> u64 {
    let metrics = crate::health::get(app, "/metrics").await.body;
    let line = format!("janus_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn an_envelope_for_another_app_or_workspace_is_acked_ignored_and_counted() {
    let (app, general, _) = workspace(&[("JANUS_HEALTH__LISTEN", "0")]).await;
    let help = format!("<@{BOT}> help");
    let mut other_app = payloads::app_mention(&general, &help, "Ev0FOREIGN1", None);
    other_app["api_app_id"] = json!("A0OTHERAPP");
    let mut other_team = payloads::app_mention(&general, &help, "Ev0FOREIGN2", None);
    other_team["team_id"] = json!("T0OTHERORG");
    other_team["authorizations"][0]["team_id"] = json!("T0OTHERORG");
    let mut no_app = payloads::app_mention(&general, &help, "Ev0FOREIGN3", None);
    no_app.as_object_mut().unwrap().remove("api_app_id");
    for payload in [other_app, other_team, no_app] {
        send(&app, "events_api", payload).await;
    }
    // The same help from our app and workspace is answered.
    send(
        &app,
        "events_api",
        payloads::app_mention(&general, &help, "Ev0OURS001", None),
    )
    .await;
    app.idle().await;

    assert_eq!(
        app.slack.calls_to("chat.postMessage").len(),
        1,
        "only our own envelope is answered"
    );
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM processed_envelopes WHERE dedupe_key LIKE 'event:Ev0FOREIGN%'"
            )
            .await,
        0,
        "nothing of theirs is recorded"
    );
    assert_eq!(refused(&app, "foreign_app").await, 2);
    assert_eq!(refused(&app, "foreign_team").await, 1);
}

#[tokio::test]
async fn a_partners_click_and_a_guests_click_change_nothing_and_are_answered() {
    let (app, general, digest) = workspace(&[]).await;
    declare(&app, &general, "www down").await;
    let channel = created_channel(&app, 0);
    let digest_before = app.slack.messages(&digest)[0].updated;
    app.slack.add_external_user(PARTNER, "pat", "T0PARTNER0");
    app.slack.add_guest(GUEST, "gus", true);

    // The payload says the partner is of our team; users.info knows better.
    click(
        &app,
        &channel,
        PARTNER,
        payloads::select("janus.status", "resolved"),
    )
    .await;
    ephemeral_containing(&app.slack, "People from other organisations can follow").await;
    click(&app, &channel, GUEST, payloads::claim("incident_commander")).await;
    ephemeral_containing(&app.slack, "Guests can follow incidents").await;
    // A partner whose payload names their own organisation is refused
    // without asking Slack.
    let mut payload = payloads::block_action(
        &channel.id,
        "U0PARTNER2",
        &channel.pins[0],
        payloads::select("janus.severity", "sev1"),
        &app.slack.response_url(),
    );
    payload["user"]["team_id"] = json!("T0PARTNER0");
    send(&app, "interactive", payload).await;
    app.idle().await;

    assert_eq!(
        control_choice(&app, &channel, "janus.status").as_deref(),
        Some("investigating")
    );
    assert_eq!(
        control_choice(&app, &channel, "janus.severity").as_deref(),
        Some("sev4")
    );
    assert!(!control_text(&app, &channel).contains(GUEST));
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE kind <> 'declared'")
            .await,
        0
    );
    assert_eq!(app.slack.messages(&digest)[0].updated, digest_before);
    let refusals = app
        .slack
        .ephemerals()
        .into_iter()
        .filter(|e| e.text.as_deref().unwrap_or("").contains("can follow"))
        .count();
    assert_eq!(refusals, 3, "each is told, once");
    assert!(
        app.slack
            .calls_to("users.info")
            .iter()
            .all(|c| c.params["user"] != "U0PARTNER2"),
        "the payload's own organisation was enough"
    );
}

#[tokio::test]
async fn with_external_users_allowed_a_guest_may_change_an_incident() {
    let (app, general, _) = workspace(&[("JANUS_INCIDENT__ALLOW_EXTERNAL_USERS", "true")]).await;
    declare(&app, &general, "www down").await;
    let channel = created_channel(&app, 0);
    app.slack.add_guest(GUEST, "gus", false);
    click(&app, &channel, GUEST, payloads::claim("incident_commander")).await;
    app.idle().await;
    assert!(control_text(&app, &channel).contains(GUEST));
}

#[tokio::test]
async fn a_guest_cannot_declare_and_is_told_why() {
    let (app, general, _) = workspace(&[]).await;
    app.slack.add_guest(GUEST, "gus", false);
    let mut payload = payloads::slash_incident(&general, "www down", &app.slack.response_url());
    payload["user_id"] = json!(GUEST);
    send(&app, "slash_commands", payload).await;
    let told = ephemeral_containing(&app.slack, "Guests can follow incidents").await;
    app.idle().await;
    assert_eq!(
        told.raw["replace_original"], true,
        "it replaces the ack's promise"
    );
    assert!(app.slack.calls_to("conversations.create").is_empty());
    assert_eq!(app.db.count("SELECT count(*) FROM incidents").await, 0);
}

#[tokio::test]
async fn an_incident_declared_in_a_private_channel_is_private_everywhere() {
    let (app, _general, digest) = workspace(&[]).await;
    let secret = app.slack.add_private_channel("payroll-team", true);
    app.slack.add_member(&secret, ALICE);
    declare(&app, &secret, "payroll export leaks salaries").await;
    let channel = created_channel(&app, 0);

    assert!(channel.is_private, "a private incident channel");
    let create = &app.slack.calls_to("conversations.create")[0];
    assert_eq!(create.params["is_private"], true);
    assert!(channel.members.iter().any(|m| m == ALICE));
    let entry = text_of(&app.slack.messages(&digest)[0]);
    assert!(entry.contains("Private incident"), "{entry}");
    assert!(entry.contains("ask the commander"), "{entry}");
    assert!(!entry.contains(&channel.name), "no channel name: {entry}");
    assert!(!entry.contains("janus.join"), "no Join button: {entry}");
    let public = public_text(&app);
    assert!(!public.contains("salaries"), "{public}");
    assert!(!public.contains("payroll"), "{public}");
    // Inside, the incident is whole.
    assert!(control_text(&app, &channel).contains("payroll export leaks salaries"));
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE private")
            .await,
        1
    );
}

#[tokio::test]
async fn a_reaction_in_a_private_channel_quotes_the_message_only_in_a_private_incident() {
    let (app, _general, digest) = workspace(REACT).await;
    let secret = app.slack.add_private_channel("legal", true);
    let ts = app
        .slack
        .post_as_user(&secret, ALICE, "the merger data room is open to everyone");
    let payload = payloads::reaction_added(&secret, &ts, BOB, "fire", "Ev0PRIVREACT");
    send(&app, "events_api", payload).await;
    app.slack
        .wait_for("the incident", WAIT, |s| {
            s.channels().into_iter().find(|c| c.name.contains("-auto-"))
        })
        .await;
    app.idle().await;

    let channel = created_channel(&app, 0);
    assert!(channel.is_private);
    let quoted = app
        .slack
        .messages(&channel.id)
        .iter()
        .map(text_of)
        .collect::<String>();
    assert!(
        quoted.contains("merger data room"),
        "quoted inside: {quoted}"
    );
    let public = public_text(&app);
    assert!(!public.contains("merger"), "{public}");
    let entry = text_of(&app.slack.messages(&digest)[0]);
    assert!(entry.contains("Private incident"), "{entry}");
}

#[tokio::test]
async fn the_declare_form_can_make_a_private_incident_from_a_public_channel() {
    let (app, general, digest) = workspace(&[]).await;
    let mut payload = payloads::declare_form_submission(&general, "vendor breach", "sev2");
    payload["view"]["state"]["values"]["janus.private"] = json!({ "value": {
        "type": "checkboxes",
        "selected_options": [{ "text": { "type": "plain_text", "text": "Private incident" }, "value": "private" }]
    }});
    send(&app, "interactive", payload).await;
    app.slack
        .wait_for("the incident", WAIT, |s| {
            s.channels()
                .into_iter()
                .find(|c| c.name.contains("vendor-breach"))
        })
        .await;
    app.idle().await;
    let channel = created_channel(&app, 0);
    assert!(channel.is_private);
    let entry = text_of(&app.slack.messages(&digest)[0]);
    assert!(!entry.contains("vendor"), "{entry}");
}

#[tokio::test]
async fn list_shows_a_private_incident_only_to_its_members() {
    let (app, general, _) = workspace(&[]).await;
    app.slack.add_member(&general, ALICE);
    app.slack.add_member(&general, BOB);
    let secret = app.slack.add_private_channel("hr", true);
    app.slack.add_member(&secret, ALICE);
    declare(&app, &secret, "hr records exposed").await;
    declare(&app, &general, "www down").await;
    let private = created_channel(&app, 0);
    let public = created_channel(&app, 1);

    for (user, event) in [(BOB, "Ev0LISTBOB"), (ALICE, "Ev0LISTALICE")] {
        let mut mention = payloads::app_mention(&general, &format!("<@{BOT}> list"), event, None);
        mention["event"]["user"] = json!(user);
        send(&app, "events_api", mention).await;
    }
    app.idle().await;
    let list_for = |user: &str| {
        let e = app
            .slack
            .ephemerals()
            .into_iter()
            .find(|e| {
                e.user.as_deref() == Some(user)
                    && e.text.as_deref().unwrap_or("").contains("open incidents")
            })
            .unwrap_or_else(|| panic!("no list for {user}"));
        (
            e.text.clone().unwrap_or_default(),
            all_text(e.blocks.as_ref().unwrap()),
        )
    };
    let (bob_says, bob) = list_for(BOB);
    let (_, alice) = list_for(ALICE);
    assert!(bob.contains(&public.id), "{bob}");
    assert!(!bob.contains(&private.id), "{bob}");
    assert!(!bob.contains("hr records"), "{bob}");
    assert!(
        bob_says.starts_with("1 open"),
        "Bob's count leaves it out: {bob_says}"
    );
    assert!(alice.contains(&private.id), "{alice}");
    assert!(alice.contains(&public.id), "{alice}");
    assert!(
        app.slack.messages(&general).is_empty(),
        "no list for everyone"
    );
}

#[tokio::test]
async fn one_person_declaring_beyond_the_limit_is_told_and_nothing_is_created() {
    let (app, general, _) = workspace(&[("JANUS_INCIDENT__MAX_DECLARATIONS_PER_USER", "2")]).await;
    declare(&app, &general, "www down").await;
    declare(&app, &general, "db slow").await;
    let third = declare(&app, &general, "cdn errors").await;
    let said = third.text.unwrap_or_default();
    assert!(
        said.contains("2 incidents in the last 10 minutes"),
        "{said}"
    );
    assert_eq!(app.slack.calls_to("conversations.create").len(), 2);
    assert_eq!(app.db.count("SELECT count(*) FROM incidents").await, 2);

    // Someone else may still declare.
    let mut payload = payloads::slash_incident(&general, "cdn errors", &app.slack.response_url());
    payload["user_id"] = json!(BOB);
    send(&app, "slash_commands", payload).await;
    app.idle().await;
    assert_eq!(app.slack.calls_to("conversations.create").len(), 3);
}

#[tokio::test]
async fn reactions_and_events_janus_does_not_act_on_are_not_recorded() {
    let (app, general, _) = workspace(REACT).await;
    let ts = app.slack.post_as_user(&general, ALICE, "lunch?");
    send(
        &app,
        "events_api",
        payloads::reaction_added(&general, &ts, BOB, "eyes", "Ev0EYES001"),
    )
    .await;
    let mut unknown = payloads::app_mention(&general, "hi", "Ev0UNKNOWN1", None);
    unknown["event"]["type"] = json!("something_new");
    send(&app, "events_api", unknown).await;
    send(
        &app,
        "events_api",
        payloads::app_mention(&general, &format!("<@{BOT}> help"), "Ev0HELPREC", None),
    )
    .await;
    app.idle().await;
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM processed_envelopes")
            .await,
        1,
        "only the help, which Janus acted on"
    );
    assert!(app.slack.calls_to("conversations.create").is_empty());
}
