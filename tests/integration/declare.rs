//! Declaring an incident, as the person who types `/incident` sees it.

use std::time::Duration;

use crate::payloads::{self, ALICE, BOT};
use crate::support::harness::{TestApp, all_text, ephemeral_containing, field, selected};
use crate::support::slack_fake::{self, Ephemeral, Fault};

const WAIT: Duration = Duration::from_secs(10);

/// A workspace with #general and #incidents, Alice, and Janus running.
pub async fn workspace(extra: &[(&str, &str)]) -> (TestApp, String, String) {
    furnish(TestApp::spawn_with(extra).await)
}

/// [`workspace`] on Postgres, for replicas and database outages.
pub async fn workspace_on_postgres(extra: &[(&str, &str)]) -> (TestApp, String, String) {
    furnish(TestApp::spawn_on_postgres(extra).await)
}

fn furnish(app: TestApp) -> (TestApp, String, String) {
    let general = app.slack.add_channel("general", true);
    let digest = app.slack.add_channel("incidents", true);
    app.slack.add_user(ALICE, "alice");
    app.slack.add_user("U0BOB0001", "bob");
    (app, general, digest)
}

/// Types `/incident <text>` in `channel`, waits for Janus's answer, then
/// until the declaration is done (the answer comes as soon as the channel
/// exists, before the controls and the digest).
pub async fn declare(app: &TestApp, channel: &str, text: &str) -> Ephemeral {
    let answer = declare_answered(app, channel, text).await;
    app.idle().await;
    answer
}

/// Types `/incident <text>` in `channel` and waits for Janus's answer only.
pub async fn declare_answered(app: &TestApp, channel: &str, text: &str) -> Ephemeral {
    let before = app.slack.ephemerals().len();
    let envelope = slack_fake::envelope(
        "slash_commands",
        payloads::slash_incident(channel, text, &app.slack.response_url()),
        true,
    );
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    let ack = app.slack.wait_ack(&id, WAIT).await;
    // The ack says the channel is on its way; its link comes after.
    let said = ack.payload.as_ref().and_then(|p| p["text"].as_str());
    assert_eq!(
        said,
        Some(janus::actors::incident::CREATING),
        "{:?}",
        ack.payload
    );
    app.slack
        .wait_for("the answer to /incident", WAIT, |s| {
            s.ephemerals().get(before).cloned()
        })
        .await
}

/// The `n`-th incident channel Janus created (0 = first).
pub fn created_channel(app: &TestApp, n: usize) -> slack_fake::Channel {
    let call = &app.slack.calls_to("conversations.create")[n];
    let name = call.params["name"].as_str().expect("a name");
    app.slack.channel_named(name).expect("the channel exists")
}

fn is_incident_name(name: &str, slug: &str) -> bool {
    let Some(rest) = name.strip_prefix("inc-") else {
        return false;
    };
    let (stamp, tail) = rest.split_at(12.min(rest.len()));
    stamp.len() == 12 && stamp.bytes().all(|b| b.is_ascii_digit()) && tail == format!("-{slug}")
}

#[tokio::test]
async fn declaring_opens_a_channel_pins_the_controls_posts_the_digest_and_tells_the_declarer() {
    let (app, general, digest) = workspace(&[]).await;
    let answer = declare(&app, &general, "www down").await;

    let created = app.slack.calls_to("conversations.create");
    assert_eq!(created.len(), 1);
    let name = created[0].params["name"].as_str().unwrap().to_owned();
    assert!(is_incident_name(&name, "www-down"), "{name}");
    let channel = app.slack.channel_named(&name).expect("channel exists");

    // The declarer is told where, and is in the channel.
    let said = all_text(answer.blocks.as_ref().expect("blocks"));
    assert!(said.contains(&format!("<#{}>", channel.id)), "{said}");
    assert!(
        channel.members.iter().any(|m| m == ALICE),
        "declarer invited"
    );

    // The control message is pinned and shows the state and every role.
    assert_eq!(channel.pins.len(), 1, "one pinned message");
    let control = app
        .slack
        .message(&channel.id, &channel.pins[0])
        .expect("pinned message");
    let blocks = control.blocks.clone().unwrap();
    let json = blocks.to_string();
    assert!(
        json.contains("janus.status") && json.contains("janus.severity"),
        "{json}"
    );
    for role in [
        "incident_commander",
        "communications_liaison",
        "technical_lead",
    ] {
        assert!(
            json.contains(&format!("janus.claim.{role}")),
            "claim {role}"
        );
        assert!(
            json.contains(&format!("janus.assign.{role}")),
            "assign {role}"
        );
    }
    assert_eq!(
        selected(&blocks, "janus.status").as_deref(),
        Some("investigating")
    );
    assert_eq!(selected(&blocks, "janus.severity").as_deref(), Some("sev4"));

    // One digest message, linking the channel by id.
    let digest_messages = app.slack.messages(&digest);
    assert_eq!(digest_messages.len(), 1);
    let digest_json = digest_messages[0].blocks.clone().unwrap().to_string();
    assert!(
        digest_json.contains(&format!("/archives/{}", channel.id)),
        "{digest_json}"
    );
    let digest_blocks = digest_messages[0].blocks.as_ref().unwrap();
    assert_eq!(
        field(digest_blocks, "Status").as_deref(),
        Some("Investigating")
    );
    // The time is Slack's date token: each reader sees their own zone.
    let declared = field(digest_blocks, "Declared").unwrap_or_default();
    let stamp = declared
        .split("<!date^")
        .nth(1)
        .and_then(|rest| rest.split('^').next())
        .and_then(|unix| unix.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("a date token: {declared}"));
    let age = chrono::Utc::now().timestamp() - stamp;
    assert!((0..300).contains(&age), "declared just now: {declared}");
    assert!(
        declared.contains("{date_short_pretty} {time}|"),
        "{declared}"
    );

    // The database knows every message it owns.
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE channel_id IS NOT NULL AND control_ts IS NOT NULL AND digest_ts IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE kind = 'declared'")
            .await,
        1
    );

    // Few Web API calls: who the declarer is and whether the channel they
    // declared from is private, create, invite, control + pin, digest
    // lookup + post.
    let mut by_method = std::collections::BTreeMap::new();
    for call in app.slack.calls() {
        if !["apps.connections.open", "auth.test", "response_url"].contains(&call.method.as_str()) {
            *by_method.entry(call.method).or_insert(0) += 1;
        }
    }
    let total: usize = by_method.values().sum();
    assert!(total <= 9, "{total} Web API calls: {by_method:?}");
    println!("Web API calls for one declaration: {by_method:?}");
}

#[tokio::test]
async fn the_digest_channel_is_looked_up_once_not_per_declaration() {
    let (app, general, digest) = workspace(&[]).await;
    declare(&app, &general, "first").await;
    let looked_up = app.slack.calls_to("conversations.list").len();
    assert!(looked_up >= 1);
    declare(&app, &general, "second").await;
    declare(&app, &general, "third").await;
    assert_eq!(app.slack.calls_to("conversations.list").len(), looked_up);
    assert_eq!(app.slack.messages(&digest).len(), 3);
}

#[tokio::test]
async fn the_digest_channel_is_looked_up_at_start_not_at_the_first_declaration() {
    let (mut app, general, digest) = workspace(&[]).await;
    let before = app.slack.calls_to("conversations.list").len();
    app.restart_with(&[]).await;
    app.slack
        .wait_for_calls("conversations.list", before + 1, WAIT)
        .await;
    let at_start = app.slack.calls_to("conversations.list").len();
    declare(&app, &general, "www down").await;
    assert_eq!(app.slack.calls_to("conversations.list").len(), at_start);
    assert_eq!(app.slack.messages(&digest).len(), 1);
}

#[tokio::test]
async fn the_control_message_and_the_digest_do_not_wait_for_the_invite() {
    let (app, general, digest) = workspace(&[]).await;
    let slow = Duration::from_secs(2);
    app.slack.inject("conversations.invite", Fault::Delay(slow));
    declare(&app, &general, "www down").await;
    let invited = app.slack.calls_to("conversations.invite")[0].at;
    let posts = app.slack.calls_to("chat.postMessage");
    let channel = created_channel(&app, 0);
    let control = posts
        .iter()
        .find(|p| p.param("channel").as_deref() == Some(channel.id.as_str()))
        .expect("the control message");
    let digest_post = posts
        .iter()
        .find(|p| p.param("channel").as_deref() == Some(digest.as_str()))
        .expect("the digest message");
    // One after the other, each would have come at least `slow` after the
    // invite was sent.
    assert!(
        control.at < invited + slow,
        "the control post waited for the invite"
    );
    assert!(
        digest_post.at < invited + slow,
        "the digest post waited for the invite"
    );
}

#[tokio::test]
async fn a_taken_name_gets_a_numbered_suffix() {
    let (app, general, _) = workspace(&[]).await;
    app.slack
        .inject("conversations.create", Fault::Error("name_taken".into()));
    app.slack
        .inject("conversations.create", Fault::Error("name_taken".into()));
    declare(&app, &general, "db failover").await;
    let names: Vec<String> = app
        .slack
        .calls_to("conversations.create")
        .iter()
        .map(|c| c.params["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(is_incident_name(&names[0], "db-failover"), "{names:?}");
    assert_eq!(names[1], format!("{}-2", names[0]));
    assert_eq!(names[2], format!("{}-3", names[0]));
    assert!(app.slack.channel_named(&names[2]).is_some());
}

#[tokio::test]
async fn a_hostile_description_makes_a_valid_channel_and_pings_nobody() {
    let (app, general, digest) = workspace(&[]).await;
    // As Slack sends it: & < > arrive as entities.
    declare(
        &app,
        &general,
        "db \"primary\" &lt;!channel&gt; café 🔥 <!here>",
    )
    .await;
    let name = app.slack.calls_to("conversations.create")[0].params["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        name.starts_with("inc-") && name.contains("-db-primary-channel-cafe"),
        "{name}"
    );
    let channel = app.slack.channel_named(&name).unwrap();
    let control = app.slack.message(&channel.id, &channel.pins[0]).unwrap();
    let shown = all_text(control.blocks.as_ref().unwrap());
    assert!(
        shown.contains("db \"primary\" &lt;!channel&gt; café 🔥 &lt;!here&gt;"),
        "{shown}"
    );
    for message in app
        .slack
        .messages(&channel.id)
        .iter()
        .chain(app.slack.messages(&digest).iter())
    {
        let text = all_text(message.blocks.as_ref().unwrap());
        assert!(
            !text.contains("<!channel>") && !text.contains("<!here>"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_channel_that_cannot_be_created_leaves_nothing_behind() {
    let (app, general, digest) = workspace(&[]).await;
    app.slack.inject(
        "conversations.create",
        Fault::Error("restricted_action".into()),
    );
    let answer = declare(&app, &general, "www down").await;
    let text = answer.text.unwrap_or_default();
    assert!(text.contains("Nothing was created"), "{text}");
    assert!(text.contains("admin"), "{text}");
    assert_eq!(app.db.count("SELECT count(*) FROM incidents").await, 0);
    assert!(app.slack.messages(&digest).is_empty());
}

/// Words a person in Slack must never read: settings and how to set them
/// are for the operator, in the log.
const OPERATOR_WORDS: [&str; 6] = [
    "INCIDENTS_DIGEST_CHANNEL",
    "digest_channel",
    "JANUS_",
    "_ENABLED",
    "/invite",
    "PROXY",
];

#[tokio::test]
async fn a_missing_digest_channel_tells_the_declarer_what_to_do() {
    let app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    app.slack.add_user(ALICE, "alice");
    let answer = declare(&app, &general, "www down").await;
    assert!(
        all_text(answer.blocks.as_ref().unwrap()).contains("I opened"),
        "the link comes first"
    );
    // What did not work follows, to the declarer only: what happened and
    // whom to ask, not the setting (the log names it).
    let problem = ephemeral_containing(&app.slack, "#incidents").await;
    let said = problem.text.unwrap_or_default();
    assert!(said.contains("not listed there"), "{said}");
    assert!(
        said.to_lowercase().contains("ask your janus admin"),
        "{said}"
    );
    for word in OPERATOR_WORDS {
        assert!(!said.contains(word), "{word:?} in {said}");
    }
    // The incident itself exists all the same.
    assert_eq!(app.slack.calls_to("conversations.create").len(), 1);
}

/// Slack cannot be reached for the new channel (the company proxy refuses
/// the tunnel): the declarer reads what happened and whom to ask, never
/// the proxy's address, a setting or the HTTP client's error text.
#[tokio::test]
async fn a_channel_slack_could_not_be_reached_for_is_explained_without_naming_the_proxy() {
    use crate::support::connect_proxy::{ConnectProxy, Mode};
    let (mut app, general, _) = workspace(&[("JANUS_SLACK__SOCKETS", "1")]).await;
    let proxy = ConnectProxy::start(Mode::Open).await;
    let (api, socket) = app.slack.targets();
    // The Web API through the proxy; the socket direct, so it stays up.
    let url = proxy.url();
    app.restart_with(&[
        ("JANUS_SLACK__SOCKETS", "1"),
        ("HTTP_PROXY", &url),
        ("NO_PROXY", &socket),
    ])
    .await;
    assert!(proxy.saw(&api), "the Web API goes through the proxy");
    // A first incident, through the proxy: Janus now knows who Alice is and
    // that #general is public (cached), so the next one starts with
    // creating its channel.
    declare(&app, &general, "db slow").await;

    // The proxy can no longer reach the Web API; the answer goes to a
    // response URL it still reaches (Slack's are on hooks.slack.com).
    proxy.cut_tunnels_and_refuse(&api);
    let before = app.slack.ephemerals().len();
    let channels = app.slack.channels().len();
    let response_url = app.slack.response_url().replace("127.0.0.1", "localhost");
    let envelope = slack_fake::envelope(
        "slash_commands",
        payloads::slash_incident(&general, "www down", &response_url),
        true,
    );
    app.slack.send_envelope(envelope).await;
    let told = app
        .slack
        .wait_for("the declarer is told", WAIT, |s| {
            s.ephemerals().get(before).cloned()
        })
        .await;
    let said = told.text.unwrap_or_default();
    assert!(
        said.contains("could not create the incident channel"),
        "{said}"
    );
    assert!(said.contains("could not reach Slack"), "{said}");
    assert!(
        said.to_lowercase().contains("ask your janus admin"),
        "{said}"
    );
    let proxy_port = url.rsplit(':').next().unwrap();
    let api_port = api.rsplit(':').next().unwrap();
    for internal in [
        proxy_port,
        api_port,
        "127.0.0.1",
        "proxy",
        "tunnel",
        "503",
        "conversations.create",
    ]
    .into_iter()
    .chain(OPERATOR_WORDS)
    {
        assert!(!said.contains(internal), "{internal:?} in {said}");
    }
    app.idle().await;
    assert_eq!(app.slack.channels().len(), channels, "nothing was created");
}

#[tokio::test]
async fn a_digest_channel_the_bot_has_not_joined_is_joined() {
    let app = TestApp::spawn().await;
    let general = app.slack.add_channel("general", true);
    let digest = app.slack.add_channel("incidents", false);
    app.slack.add_user(ALICE, "alice");
    declare(&app, &general, "www down").await;
    assert_eq!(app.slack.calls_to("conversations.join").len(), 1);
    assert_eq!(app.slack.messages(&digest).len(), 1);
}

#[tokio::test]
async fn the_video_link_becomes_the_topic_and_a_bookmark() {
    let (app, general, _) =
        workspace(&[("VIDEO_CONFERENCING_LINK", "https://meet.example.com/bridge")]).await;
    let answer = declare(&app, &general, "www down").await;
    let channel = created_channel(&app, 0);
    assert_eq!(channel.topic, "https://meet.example.com/bridge");
    assert_eq!(channel.bookmarks.len(), 1);
    let said = all_text(answer.blocks.as_ref().unwrap());
    assert!(said.contains("https://meet.example.com/bridge"), "{said}");
}

#[tokio::test]
async fn list_shows_the_open_incidents_to_the_asker_only() {
    let (app, general, _) = workspace(&[]).await;
    app.slack.add_member(&general, ALICE);
    declare(&app, &general, "www down").await;
    declare(&app, &general, "db slow").await;
    let mention = payloads::app_mention(&general, &format!("<@{BOT}> list"), "Ev0LIST01", None);
    app.slack
        .send_envelope(slack_fake::envelope("events_api", mention, false))
        .await;
    let list = app
        .slack
        .wait_for("the list", WAIT, |s| {
            s.ephemerals().into_iter().find(|e| {
                e.text
                    .as_deref()
                    .is_some_and(|t| t.contains("open incidents"))
            })
        })
        .await;
    app.idle().await;
    assert_eq!(list.user.as_deref(), Some(ALICE));
    assert_eq!(list.channel.as_deref(), Some(general.as_str()));
    assert!(
        app.slack.messages(&general).is_empty(),
        "nothing posted for everyone in the channel"
    );
    let text = all_text(list.blocks.as_ref().unwrap());
    // Each shows its description, age, status label, severity and commander.
    for shown in [
        "www down",
        "db slow",
        "*Investigating*",
        "*SEV4*",
        "· open ",
        "_nobody yet_",
    ] {
        assert!(text.contains(shown), "{shown:?} missing: {text}");
    }
    assert!(
        !text.contains("investigating"),
        "a label, not the raw value: {text}"
    );
    for channel in app.slack.calls_to("conversations.create") {
        let name = channel.params["name"].as_str().unwrap();
        let id = app.slack.channel_named(name).unwrap().id;
        assert!(text.contains(&format!("<#{id}>")), "{text}");
    }
}

#[tokio::test]
async fn the_usage_button_opens_the_declare_form() {
    let (app, general, _) = workspace(&[]).await;
    let envelope = slack_fake::envelope(
        "slash_commands",
        payloads::slash_incident(&general, "", &app.slack.response_url()),
        true,
    );
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    let usage = app.slack.wait_ack(&id, WAIT).await.payload.unwrap();
    assert!(usage["blocks"].to_string().contains("janus.declare_form"));

    let mut click = payloads::block_action(
        &general,
        ALICE,
        "1700000100.000300",
        payloads::button("janus.declare_form"),
        &app.slack.response_url(),
    );
    click["container"]["is_ephemeral"] = true.into();
    app.slack
        .send_envelope(slack_fake::envelope("interactive", click, false))
        .await;
    let call = app.slack.wait_for_call("views.open", WAIT).await;
    assert_eq!(call.params["trigger_id"], "1700000200.1.0123456789abcdef");
    let view = &call.params["view"];
    assert_eq!(view["callback_id"], "janus.declare");
    assert_eq!(view["private_metadata"], general.as_str());
    assert!(view.to_string().contains("SEV1"), "{view}");
}

#[tokio::test]
async fn an_empty_declare_form_is_refused_under_the_field_and_creates_nothing() {
    let (app, general, _) = workspace(&[]).await;
    let envelope = slack_fake::envelope(
        "interactive",
        payloads::declare_form_submission(&general, "   ", "sev2"),
        true,
    );
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    let ack = app
        .slack
        .wait_ack(&id, WAIT)
        .await
        .payload
        .expect("errors in the ack");
    assert_eq!(ack["response_action"], "errors");
    assert!(
        ack["errors"]["janus.description"]
            .as_str()
            .unwrap()
            .contains("what is wrong")
    );
    app.idle().await;
    assert!(app.slack.calls_to("conversations.create").is_empty());
    assert_eq!(app.db.count("SELECT count(*) FROM incidents").await, 0);
}

#[tokio::test]
async fn a_submitted_declare_form_declares_with_the_chosen_severity() {
    let (app, general, digest) = workspace(&[]).await;
    app.slack.add_member(&general, ALICE);
    let envelope = slack_fake::envelope(
        "interactive",
        payloads::declare_form_submission(&general, "payments <failing>", "sev2"),
        true,
    );
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    assert!(
        app.slack.wait_ack(&id, WAIT).await.payload.is_none(),
        "the form closes"
    );

    let call = app.slack.wait_for_call("chat.postEphemeral", WAIT).await;
    app.idle().await;
    assert_eq!(call.params["user"], ALICE);
    assert_eq!(call.params["channel"], general.as_str());
    let name = app.slack.calls_to("conversations.create")[0].params["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(is_incident_name(&name, "payments-failing"), "{name}");
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE severity = 'sev2'")
            .await,
        1
    );
    let digest_blocks = app.slack.messages(&digest)[0].blocks.clone().unwrap();
    assert_eq!(field(&digest_blocks, "Severity").as_deref(), Some("SEV2"));
    let digest_text = all_text(&digest_blocks);
    assert!(
        digest_text.contains("payments &lt;failing&gt;"),
        "{digest_text}"
    );
}

#[tokio::test]
async fn a_burst_of_declarations_beyond_the_rate_tier_all_complete() {
    let (app, general, digest) = workspace(&[]).await;
    // conversations.create's tier, shrunk: 2 calls per 2 s, then 429.
    app.slack
        .set_tier("conversations.create", 2, Duration::from_secs(2));
    let burst = 5;
    for i in 0..burst {
        let envelope = slack_fake::envelope(
            "slash_commands",
            payloads::slash_incident(&general, &format!("outage {i}"), &app.slack.response_url()),
            true,
        );
        app.slack.send_envelope(envelope).await;
    }
    app.slack
        .wait_for("every declarer answered", Duration::from_secs(30), |s| {
            (s.ephemerals().len() >= burst).then_some(())
        })
        .await;
    app.idle().await;
    let created: Vec<String> = app
        .slack
        .channels()
        .into_iter()
        .filter(|c| c.name.starts_with("inc-"))
        .map(|c| c.name)
        .collect();
    assert_eq!(created.len(), burst, "{created:?}");
    assert!(
        app.slack.calls_to("conversations.create").len() > burst,
        "the tier was hit and waited out"
    );
    assert_eq!(
        app.slack.messages(&digest).len(),
        burst,
        "one digest message each"
    );
    for answer in app.slack.ephemerals() {
        let said = all_text(answer.blocks.as_ref().expect("the declared message"));
        assert!(said.contains("<#C"), "{said}");
    }
}

#[tokio::test]
async fn a_ten_thousand_character_description_still_declares_a_valid_incident() {
    let (app, general, digest) = workspace(&[]).await;
    let description = "disk full on db-primary \u{202e}rtl\u{202c} \u{7} ".repeat(400);
    assert!(description.chars().count() >= 10_000);
    declare(&app, &general, &description).await;
    let channel = created_channel(&app, 0);
    assert!(channel.name.len() <= 80, "{}", channel.name);
    assert_eq!(
        channel.pins.len(),
        1,
        "the control message fits Slack's limits"
    );
    assert_eq!(app.slack.messages(&digest).len(), 1);
}

/// The digest message's ts cannot be written (a trigger in the database
/// refuses the first write of it): the message Slack took stays the only
/// one. The declarer is told of no digest problem (the message is there),
/// and the next change finds it in the digest channel, records it and
/// updates it rather than posting a second.
#[tokio::test]
async fn a_digest_ts_that_cannot_be_recorded_never_leads_to_a_second_digest_message() {
    digest_ts_not_recorded(false).await;
}

/// The same for a private incident, whose digest entry links nothing: it
/// is recognised by its header's block id.
#[tokio::test]
async fn a_private_incidents_digest_ts_that_cannot_be_recorded_never_leads_to_a_second_message() {
    digest_ts_not_recorded(true).await;
}

async fn digest_ts_not_recorded(private: bool) {
    use sqlx::Connection;
    let (app, general, digest) = workspace_on_postgres(&[]).await;
    let mut db = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE SEQUENCE digest_ts_writes; \
         CREATE FUNCTION fail_first_digest_ts() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
           IF NEW.digest_ts IS NOT NULL AND nextval('digest_ts_writes') = 1 THEN \
             RAISE EXCEPTION 'injected: the digest ts cannot be written'; \
           END IF; \
           RETURN NEW; \
         END $$; \
         CREATE TRIGGER fail_first_digest_ts BEFORE UPDATE OF digest_ts ON incidents \
           FOR EACH ROW EXECUTE FUNCTION fail_first_digest_ts();",
    )
    .execute(&mut db)
    .await
    .expect("install the trigger");

    let from = match private {
        false => general,
        true => {
            let secret = app.slack.add_private_channel("payroll-team", true);
            app.slack.add_member(&secret, ALICE);
            secret
        }
    };
    declare(&app, &from, "www down").await;
    assert_eq!(app.slack.messages(&digest).len(), 1, "one digest message");
    let posted = app.slack.messages(&digest)[0].ts.clone();
    assert_eq!(
        all_text(app.slack.messages(&digest)[0].blocks.as_ref().unwrap())
            .contains("Private incident"),
        private
    );
    // The write really failed, and the sequence says the trigger ran once.
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE digest_ts IS NULL AND completed_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        app.db
            .count("SELECT last_value FROM digest_ts_writes")
            .await,
        1
    );
    assert!(
        !app.slack
            .ephemerals()
            .iter()
            .any(|e| e.text.as_deref().is_some_and(|t| t.contains("digest"))),
        "the digest is there: no problem to report"
    );

    let channel = created_channel(&app, 0);
    crate::controls::click(
        &app,
        &channel,
        ALICE,
        payloads::select("janus.status", "identified"),
    )
    .await;
    app.idle().await;
    let messages = app.slack.messages(&digest);
    assert_eq!(messages.len(), 1, "still one digest message");
    assert_eq!(messages[0].ts, posted);
    assert_eq!(
        field(messages[0].blocks.as_ref().unwrap(), "Status").as_deref(),
        Some("Identified")
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incidents WHERE digest_ts IS NOT NULL")
            .await,
        1,
        "recorded once found"
    );
}
