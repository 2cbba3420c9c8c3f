//! Statuspage driven from Slack: prompt, create form, management message
//! edited in place, update, resolve — and who may do it — against the Slack
//! fake and the Statuspage fake.

use std::time::Duration;

use janus::doctor::{Finding, Verdict};
use serde_json::{Value, json};

use crate::declare::{created_channel, declare, workspace, workspace_on_postgres};
use crate::payloads::{self, ALICE};
use crate::support::harness::{TestApp, all_text, ephemeral_containing};
use crate::support::slack_fake::{self, Channel};
use crate::support::statuspage_fake::{API_KEY, FakeStatuspage, PAGE_ID};

const WAIT: Duration = Duration::from_secs(20);
const BOB: &str = "U0BOB0001";

/// The Statuspage settings of a page, plus `extra` (who may publish).
pub(crate) fn statuspage_env<'a>(
    base: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
        ("STATUSPAGE_API_KEY", API_KEY),
        ("STATUSPAGE_PAGE_ID", PAGE_ID),
        ("STATUSPAGE_API_URL", base),
    ];
    env.extend_from_slice(extra);
    env
}

/// Statuspage on, anyone may publish, one incident declared.
async fn setup() -> (TestApp, FakeStatuspage, Channel) {
    setup_on(false).await
}

/// [`setup`], on Postgres when `postgres`.
async fn setup_on(postgres: bool) -> (TestApp, FakeStatuspage, Channel) {
    let page = FakeStatuspage::start().await;
    let base = page.base_url();
    let env = statuspage_env(&base, &[("JANUS_STATUSPAGE__ALLOW_EVERYONE", "true")]);
    let (app, general, _) = if postgres {
        workspace_on_postgres(&env).await
    } else {
        workspace(&env).await
    };
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0);
    (app, page, channel)
}

/// Statuspage on with `extra`, the user groups `groups` (handle, name,
/// members) made before Janus starts (it resolves groups at start), and
/// one incident declared. Also returns the groups' ids.
async fn setup_with_groups(
    extra: &[(&str, &str)],
    groups: &[(&str, &str, &[&str])],
) -> (TestApp, FakeStatuspage, Channel, Vec<String>) {
    let page = FakeStatuspage::start().await;
    let base = page.base_url();
    let env = statuspage_env(&base, extra);
    let (mut app, general, _) = workspace(&env).await;
    let ids = groups
        .iter()
        .map(|(handle, name, members)| app.slack.add_usergroup(handle, name, members))
        .collect();
    app.restart_with(&env).await;
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0);
    (app, page, channel, ids)
}

/// The Statuspage message in the incident channel (prompt or management).
pub(crate) fn statuspage_message(app: &TestApp, channel: &Channel) -> Option<slack_fake::Message> {
    app.slack.messages(&channel.id).into_iter().find(|m| {
        let json = m.blocks.clone().unwrap_or_default().to_string();
        json.contains("janus.statuspage") || json.contains("Statuspage:")
    })
}

/// `user` clicks `action_id` on the Statuspage message.
pub(crate) async fn click_as(app: &TestApp, channel: &Channel, action_id: &str, user: &str) {
    let message = app
        .slack
        .wait_for("the Statuspage message", WAIT, |_| {
            statuspage_message(app, channel)
        })
        .await;
    let button = payloads::button(action_id);
    let click = payloads::block_action(
        &channel.id,
        user,
        &message.ts,
        button,
        &app.slack.response_url(),
    );
    app.slack
        .send_envelope(slack_fake::envelope("interactive", click, false))
        .await;
}

/// Alice clicks `action_id` on the Statuspage message; returns the modal opened.
pub(crate) async fn open(app: &TestApp, channel: &Channel, action_id: &str) -> Value {
    open_as(app, channel, action_id, ALICE).await
}

/// `user` clicks `action_id` on the Statuspage message; returns the modal opened.
pub(crate) async fn open_as(
    app: &TestApp,
    channel: &Channel,
    action_id: &str,
    user: &str,
) -> Value {
    let before = app.slack.calls_to("views.open").len();
    click_as(app, channel, action_id, user).await;
    app.slack
        .wait_for("a modal", WAIT, |s| {
            s.calls_to("views.open").get(before).cloned()
        })
        .await
        .params["view"]
        .clone()
}

/// Alice submits `view` with `values` (block id → action "value" state).
pub(crate) async fn submit(app: &TestApp, view: &Value, values: Value) -> Option<Value> {
    submit_as(app, view, values, ALICE).await
}

/// `user` submits `view` with `values`; returns the ack's payload.
pub(crate) async fn submit_as(
    app: &TestApp,
    view: &Value,
    values: Value,
    user: &str,
) -> Option<Value> {
    let payload = json!({
        "type": "view_submission",
        "team": { "id": "T0FAKE", "domain": "acme" },
        "user": { "id": user, "username": "someone", "name": "someone", "team_id": "T0FAKE" },
        "api_app_id": "A0FAKE",
        "trigger_id": "1700000600.1.aaaaaaaaaaaaaaaa",
        "view": {
            "id": "V0FAKE0002", "type": "modal",
            "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
            "state": { "values": values }
        }
    });
    let envelope = slack_fake::envelope("interactive", payload, true);
    let id = slack_fake::envelope_id_of(&envelope);
    app.slack.send_envelope(envelope).await;
    app.slack.wait_ack(&id, WAIT).await.payload
}

/// A valid create form's values.
fn create_values() -> Value {
    json!({
        "sp.name": text("Checkout errors"), "sp.body": text("We are looking into failed payments."),
        "sp.impact": option("minor"), "sp.component_status": option("partial_outage"),
        "sp.notify": option("no"),
    })
}

/// A create form for the incident of `channel`, as Slack would return it
/// (for people who were refused the form but send one anyway).
async fn forged_create_form(app: &TestApp) -> Value {
    let id = app
        .db
        .count("SELECT max(id) FROM incidents")
        .await
        .to_string();
    json!({ "callback_id": "janus.statuspage.create", "private_metadata": id })
}

/// The `statuspage publishers` line of `janus doctor` for this app's
/// config: `page`'s settings plus `extra`.
async fn doctor_publishers(
    app: &TestApp,
    page: &FakeStatuspage,
    extra: &[(&str, &str)],
) -> Finding {
    let base = page.base_url();
    let report = janus::doctor::diagnose(Ok(app.config(&statuspage_env(&base, extra))), &[]).await;
    report
        .findings
        .into_iter()
        .find(|f| f.check == "statuspage publishers")
        .expect("a publishers line")
}

/// Whether people were shown a setting's name anywhere.
pub(crate) fn names_a_setting(text: &str) -> bool {
    [
        "JANUS_",
        "STATUSPAGE_",
        "statuspage.",
        "allowed_group",
        "allow_everyone",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

pub(crate) fn text(v: &str) -> Value {
    json!({ "value": { "type": "plain_text_input", "value": v } })
}

pub(crate) fn option(v: &str) -> Value {
    json!({ "value": { "type": "static_select", "selected_option": { "value": v, "text": { "type": "plain_text", "text": v } } } })
}

#[tokio::test]
async fn a_statuspage_incident_is_created_updated_and_resolved_from_slack() {
    let (app, page, channel) = setup().await;
    let prompt = app
        .slack
        .wait_for("the prompt", WAIT, |_| statuspage_message(&app, &channel))
        .await;

    let form = open(&app, &channel, "janus.statuspage.open").await;
    assert_eq!(form["callback_id"], "janus.statuspage.create");
    let options = form.to_string();
    let components: Vec<String> = page
        .components()
        .iter()
        .filter(|c| c["group"] != true)
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .filter(|id| options.contains(id.as_str()))
        .take(2)
        .collect();
    assert_eq!(components.len(), 2, "the form lists the page's components");
    let bystander = page
        .components()
        .iter()
        .filter(|c| c["group"] != true)
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .find(|id| !components.contains(id))
        .unwrap();

    // A blank message is refused under its field; the form stays open.
    let refused = submit(
        &app,
        &form,
        json!({
            "sp.name": text("Checkout errors"), "sp.body": text("  "),
            "sp.impact": option("major"), "sp.component_status": option("partial_outage"),
            "sp.notify": option("no"),
        }),
    )
    .await
    .expect("errors");
    assert_eq!(refused["response_action"], "errors");
    assert!(refused["errors"]["sp.body"].is_string());

    let selected: Vec<Value> = components.iter().map(|c| json!({ "value": c })).collect();
    let ack = submit(&app, &form, json!({
        "sp.name": text("Checkout errors"), "sp.body": text("We are looking into failed payments."),
        "sp.impact": option("major"),
        "sp.components": { "value": { "type": "multi_static_select", "selected_options": selected } },
        "sp.component_status": option("partial_outage"), "sp.notify": option("no"),
    }))
    .await;
    assert!(ack.is_none(), "a valid form closes");
    let created = app
        .slack
        .wait_for("the Statuspage incident", WAIT, |_| {
            page.incidents().into_iter().next()
        })
        .await;
    let sp_id = created["id"].as_str().unwrap().to_owned();
    for c in &components {
        assert_eq!(page.component_status(c).as_deref(), Some("partial_outage"));
    }
    let managed = app
        .slack
        .wait_for("the management message", WAIT, |s| {
            let m = s.message(&channel.id, &prompt.ts)?;
            all_text(m.blocks.as_ref()?)
                .contains("Investigating")
                .then_some(m)
        })
        .await;
    assert!(
        managed
            .blocks
            .unwrap()
            .to_string()
            .contains("janus.statuspage.update")
    );

    // Something else on the page is degraded for another reason.
    page.set_component_status(&bystander, "degraded_performance");
    let form = open(&app, &channel, "janus.statuspage.update").await;
    assert_eq!(form["callback_id"], "janus.statuspage.update");
    submit(
        &app,
        &form,
        json!({
            "sp.status": option("resolved"), "sp.body": text("Payments work again."),
            "sp.notify": option("no"),
        }),
    )
    .await;
    app.slack
        .wait_for("the resolved look", WAIT, |s| {
            let m = s.message(&channel.id, &prompt.ts)?;
            let json = m.blocks.as_ref()?.to_string();
            (json.contains("Resolved") && !json.contains("janus.statuspage.update")).then_some(())
        })
        .await;
    assert_eq!(page.incident(&sp_id).unwrap()["status"], "resolved");
    for c in &components {
        assert_eq!(
            page.component_status(c).as_deref(),
            Some("operational"),
            "touched: restored"
        );
    }
    assert_eq!(
        page.component_status(&bystander).as_deref(),
        Some("degraded_performance"),
        "untouched: left alone"
    );
    assert_eq!(page.incidents().len(), 1);

    // Who spoke to customers is in the incident's history: the create and
    // the resolve, each with who did it.
    app.idle().await;
    for (sql, what) in [
        (
            "SELECT count(*) FROM incident_events WHERE kind = 'statuspage' \
             AND actor = 'U0ALICE01' AND CAST(detail AS TEXT) LIKE '%\"created\"%'",
            "the create",
        ),
        (
            "SELECT count(*) FROM incident_events WHERE kind = 'statuspage' \
             AND actor = 'U0ALICE01' AND CAST(detail AS TEXT) LIKE '%\"resolved\"%'",
            "the resolve",
        ),
    ] {
        assert_eq!(app.db.count(sql).await, 1, "{what} in the history");
    }
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM incident_events WHERE kind = 'statuspage'")
            .await,
        2
    );
}

#[tokio::test]
async fn a_refused_statuspage_key_reaches_the_person_who_submitted() {
    let (app, page, channel) = setup().await;
    app.slack
        .wait_for("the prompt", WAIT, |_| statuspage_message(&app, &channel))
        .await;
    let form = open(&app, &channel, "janus.statuspage.open").await;
    page.fail_next(401, r#"{"error":"Could not authenticate"}"#);
    submit(
        &app,
        &form,
        json!({
            "sp.name": text("Checkout errors"), "sp.body": text("Looking into it."),
            "sp.impact": option("minor"), "sp.component_status": option("partial_outage"),
            "sp.notify": option("no"),
        }),
    )
    .await;
    let told = app
        .slack
        .wait_for("the submitter is told", WAIT, |s| {
            s.calls_to("chat.postEphemeral").into_iter().find(|c| {
                c.params["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Statuspage refused Janus's API key")
            })
        })
        .await;
    assert_eq!(told.params["user"], ALICE);
    let text = told.params["text"].as_str().unwrap();
    assert!(text.contains("ask your Janus admin") || text.contains("Ask your Janus admin"));
    assert!(!names_a_setting(text), "{text}");
    assert!(page.incidents().is_empty());
}

#[tokio::test]
async fn a_form_for_an_incident_that_no_longer_exists_is_acked_and_changes_nothing() {
    let (app, page, _channel) = setup().await;
    let view = json!({ "callback_id": "janus.statuspage.update", "private_metadata": "999999" });
    let ack = submit(&app, &view, json!({
        "sp.status": option("resolved"), "sp.body": text("All good."), "sp.notify": option("no"),
    }))
    .await;
    assert!(ack.is_none(), "acked, the form closes");
    app.idle().await;
    assert!(
        page.requests().iter().all(|r| r.method == "GET"),
        "nothing was sent to Statuspage"
    );
}

#[tokio::test]
async fn with_no_group_and_no_allow_everyone_nobody_may_publish_and_is_told_in_plain_words() {
    let page = FakeStatuspage::start().await;
    let base = page.base_url();
    let (app, general, _) = workspace(&statuspage_env(&base, &[])).await;
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0);

    click_as(&app, &channel, "janus.statuspage.open", ALICE).await;
    let told = ephemeral_containing(&app.slack, "Nobody has been allowed to publish").await;
    assert_eq!(told.user.as_deref(), Some(ALICE));
    let text = told.text.unwrap();
    assert!(text.contains("Janus admin"), "{text}");
    assert!(!names_a_setting(&text), "{text}");
    // A form sent anyway (an old modal, a crafted payload) is refused too.
    let before = app.slack.ephemerals().len();
    submit_as(
        &app,
        &forged_create_form(&app).await,
        create_values(),
        ALICE,
    )
    .await;
    app.idle().await;
    assert!(app.slack.calls_to("views.open").is_empty(), "no form");
    assert!(
        page.requests_to("POST", "/incidents").is_empty(),
        "nothing was published"
    );
    assert!(
        app.slack.ephemerals()[before..].iter().any(|e| e
            .text
            .as_deref()
            .unwrap_or("")
            .contains("Nobody has been allowed")),
        "the submitter is told as well"
    );

    let doctor = doctor_publishers(&app, &page, &[]).await;
    assert_eq!(doctor.verdict, Verdict::Fail, "{doctor}");
    assert!(
        doctor.detail.contains("JANUS_STATUSPAGE__ALLOWED_GROUP")
            && doctor.detail.contains("JANUS_STATUSPAGE__ALLOW_EVERYONE"),
        "the operator is told both settings: {doctor}"
    );
}

#[tokio::test]
async fn a_member_of_the_allowed_group_may_publish_and_anyone_else_is_refused() {
    let env = [("JANUS_STATUSPAGE__ALLOWED_GROUP", "@comms")];
    let (app, page, channel, _) = setup_with_groups(&env, &[("comms", "Comms team", &[BOB])]).await;

    // Alice is not in @comms: no form, and a form sent anyway publishes nothing.
    click_as(&app, &channel, "janus.statuspage.open", ALICE).await;
    let told = ephemeral_containing(&app.slack, "Only members of @comms").await;
    assert_eq!(told.user.as_deref(), Some(ALICE));
    assert!(!names_a_setting(told.text.as_deref().unwrap()));
    submit_as(
        &app,
        &forged_create_form(&app).await,
        create_values(),
        ALICE,
    )
    .await;
    app.idle().await;
    assert!(
        app.slack.calls_to("views.open").is_empty(),
        "no form for Alice"
    );
    assert!(page.requests_to("POST", "/incidents").is_empty());

    // Bob is.
    let form = open_as(&app, &channel, "janus.statuspage.open", BOB).await;
    assert_eq!(form["callback_id"], "janus.statuspage.create");
    assert!(submit_as(&app, &form, create_values(), BOB).await.is_none());
    app.idle().await;
    assert_eq!(page.requests_to("POST", "/incidents").len(), 1);
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM incident_events WHERE kind = 'statuspage' \
                 AND actor = 'U0BOB0001'"
            )
            .await,
        1,
        "the create is in the history, as Bob's"
    );

    // Alice cannot post an update either.
    let before = app.slack.ephemerals().len();
    click_as(&app, &channel, "janus.statuspage.update", ALICE).await;
    app.idle().await;
    assert!(app.slack.ephemerals()[before..].iter().any(|e| {
        e.text
            .as_deref()
            .unwrap_or("")
            .contains("Only members of @comms")
    }));
    assert_eq!(app.slack.calls_to("views.open").len(), 1, "Bob's form only");

    let doctor = doctor_publishers(&app, &page, &env).await;
    assert_eq!(doctor.verdict, Verdict::Ok, "{doctor}");
}

#[tokio::test]
async fn an_ambiguous_group_name_is_refused_at_start_and_nobody_may_publish() {
    // `comms` is one group's handle and another's name: Janus must not guess.
    let env = [("JANUS_STATUSPAGE__ALLOWED_GROUP", "comms")];
    let (app, page, channel, ids) = setup_with_groups(
        &env,
        &[
            ("comms", "Communications", &[BOB]),
            ("comms-team", "Comms", &[ALICE]),
        ],
    )
    .await;

    // Neither group's members may publish: Alice (in the name-alike) is
    // told; Bob (in the handle-alike, not in the channel) gets no form.
    for user in [ALICE, BOB] {
        click_as(&app, &channel, "janus.statuspage.open", user).await;
    }
    let told = ephemeral_containing(&app.slack, "Nobody can publish to Statuspage right now").await;
    assert_eq!(told.user.as_deref(), Some(ALICE));
    assert!(told.text.as_deref().unwrap().contains("Janus admin"));
    assert!(!names_a_setting(told.text.as_deref().unwrap()));
    app.idle().await;
    assert!(app.slack.calls_to("views.open").is_empty());
    assert!(page.requests_to("POST", "/incidents").is_empty());

    let doctor = doctor_publishers(&app, &page, &env).await;
    assert_eq!(doctor.verdict, Verdict::Fail, "{doctor}");
    for id in &ids {
        assert!(doctor.detail.contains(id.as_str()), "names {id}: {doctor}");
    }
    assert!(doctor.detail.contains("configure the id"), "{doctor}");
}

#[tokio::test]
async fn a_group_created_later_with_the_configured_name_grants_nothing() {
    let env = [("JANUS_STATUSPAGE__ALLOWED_GROUP", "comms")];
    let (app, page, channel, _) =
        setup_with_groups(&env, &[("comms", "Communications", &[BOB])]).await;
    // After start, someone makes a group named like the configured one, and
    // is in it.
    app.slack.add_usergroup("comms-2", "comms", &[ALICE]);

    click_as(&app, &channel, "janus.statuspage.open", ALICE).await;
    ephemeral_containing(&app.slack, "Only members of @comms").await;
    app.idle().await;
    assert!(
        app.slack.calls_to("views.open").is_empty(),
        "no form for Alice"
    );

    // The group resolved at start still works for its members.
    let form = open_as(&app, &channel, "janus.statuspage.open", BOB).await;
    submit_as(&app, &form, create_values(), BOB).await;
    app.idle().await;
    assert_eq!(page.requests_to("POST", "/incidents").len(), 1);
}

#[tokio::test]
async fn a_failed_write_after_statuspage_created_the_incident_gives_one_post_on_retry() {
    let (app, page, channel) = setup_on(true).await;
    let prompt = app
        .slack
        .wait_for("the prompt", WAIT, |_| statuspage_message(&app, &channel))
        .await;
    // The write that records the Statuspage incident fails, once, for real:
    // a trigger raises on it (a sequence counts, since a failed transaction
    // forgets every write it made).
    fail_the_next_statuspage_record(&app.db.url).await;

    let form = open(&app, &channel, "janus.statuspage.open").await;
    submit(&app, &form, create_values()).await;
    ephemeral_containing(
        &app.slack,
        "Statuspage has the incident, but I could not record it",
    )
    .await;
    app.idle().await;
    assert_eq!(page.incidents().len(), 1, "Statuspage has it");
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM statuspage_incidents WHERE statuspage_id IS NOT NULL")
            .await,
        0,
        "the write failed"
    );

    // Alice tries again: the incident is found by the key stored before the
    // POST and adopted; nothing is published twice.
    let form = open(&app, &channel, "janus.statuspage.open").await;
    submit(&app, &form, create_values()).await;
    ephemeral_containing(&app.slack, "I found the Statuspage incident").await;
    app.slack
        .wait_for("the management message", WAIT, |s| {
            let m = s.message(&channel.id, &prompt.ts)?;
            all_text(m.blocks.as_ref()?)
                .contains("Investigating")
                .then_some(())
        })
        .await;
    app.idle().await;
    assert_eq!(page.requests_to("POST", "/incidents").len(), 1, "one POST");
    assert_eq!(page.incidents().len(), 1);
    let sp_id = page.incidents()[0]["id"].as_str().unwrap().to_owned();
    let recorded = app
        .db
        .count("SELECT count(*) FROM statuspage_incidents WHERE statuspage_id IS NOT NULL AND create_key IS NULL")
        .await;
    assert_eq!(recorded, 1, "{sp_id} recorded, the intent done");
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM incident_events WHERE kind = 'statuspage' \
                 AND actor = 'U0ALICE01' AND CAST(detail AS TEXT) LIKE '%\"adopted\"%'"
            )
            .await,
        1,
        "the history says who created it"
    );

    // From now on it is managed as usual.
    let form = open(&app, &channel, "janus.statuspage.update").await;
    assert_eq!(form["callback_id"], "janus.statuspage.update");
}

/// Installs a trigger that makes the next write of a Statuspage incident id
/// into `statuspage_incidents` fail, and only that one.
async fn fail_the_next_statuspage_record(url: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    for sql in [
        "CREATE SEQUENCE janus_test_fail_once",
        "CREATE FUNCTION janus_test_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
           IF NEW.statuspage_id IS NOT NULL AND nextval('janus_test_fail_once') = 1 THEN \
             RAISE EXCEPTION 'injected: the write after the 201 fails once'; \
           END IF; \
           RETURN NEW; \
         END $$",
        "CREATE TRIGGER janus_test_fail_once BEFORE INSERT OR UPDATE ON statuspage_incidents \
         FOR EACH ROW EXECUTE FUNCTION janus_test_fail_once()",
    ] {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
}

#[tokio::test]
async fn a_group_slack_could_not_list_at_start_is_resolved_at_first_use() {
    let page = FakeStatuspage::start().await;
    let base = page.base_url();
    let env = statuspage_env(&base, &[("JANUS_STATUSPAGE__ALLOWED_GROUP", "comms")]);
    let (mut app, general, _) = workspace(&env).await;
    app.slack.add_usergroup("comms", "Communications", &[ALICE]);
    // Janus starts all the same; meanwhile nobody could publish.
    app.slack
        .inject("usergroups.list", slack_fake::Fault::error("missing_scope"));
    app.restart_with(&env).await;
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0);
    let listed = app.slack.calls_to("usergroups.list").len();

    let form = open(&app, &channel, "janus.statuspage.open").await;
    assert_eq!(form["callback_id"], "janus.statuspage.create");
    assert_eq!(
        app.slack.calls_to("usergroups.list").len(),
        listed + 1,
        "resolved at the first click"
    );
}
