//! Statuspage driven from Slack: prompt, create form, management message
//! edited in place, update, resolve — against the Slack fake and the
//! Statuspage fake.

use std::time::Duration;

use serde_json::{Value, json};

use crate::declare::{created_channel, declare, workspace};
use crate::payloads::{self, ALICE};
use crate::support::harness::{TestApp, all_text};
use crate::support::slack_fake::{self, Channel};
use crate::support::statuspage_fake::{API_KEY, FakeStatuspage, PAGE_ID};

const WAIT: Duration = Duration::from_secs(20);

async fn setup() -> (TestApp, FakeStatuspage, Channel) {
    let page = FakeStatuspage::start().await;
    let base = page.base_url();
    let (app, general, _) = workspace(&[
        ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
        ("STATUSPAGE_API_KEY", API_KEY),
        ("STATUSPAGE_PAGE_ID", PAGE_ID),
        ("STATUSPAGE_API_URL", &base),
    ])
    .await;
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0);
    (app, page, channel)
}

/// The Statuspage message in the incident channel (prompt or management).
fn statuspage_message(app: &TestApp, channel: &Channel) -> Option<slack_fake::Message> {
    app.slack.messages(&channel.id).into_iter().find(|m| {
        let json = m.blocks.clone().unwrap_or_default().to_string();
        json.contains("janus.statuspage") || json.contains("Statuspage:")
    })
}

/// Clicks `action_id` on the Statuspage message and returns the modal opened.
async fn open(app: &TestApp, channel: &Channel, action_id: &str) -> Value {
    let before = app.slack.calls_to("views.open").len();
    let message = statuspage_message(app, channel).expect("the Statuspage message");
    let button = payloads::button(action_id);
    let click = payloads::block_action(
        &channel.id,
        ALICE,
        &message.ts,
        button,
        &app.slack.response_url(),
    );
    app.slack
        .send_envelope(slack_fake::envelope("interactive", click, false))
        .await;
    app.slack
        .wait_for("a modal", WAIT, |s| {
            s.calls_to("views.open").get(before).cloned()
        })
        .await
        .params["view"]
        .clone()
}

/// Submits `view` with `values` (block id → action "value" state).
async fn submit(app: &TestApp, view: &Value, values: Value) -> Option<Value> {
    let payload = json!({
        "type": "view_submission",
        "team": { "id": "T0FAKE", "domain": "acme" },
        "user": { "id": ALICE, "username": "alice", "name": "alice", "team_id": "T0FAKE" },
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

fn text(v: &str) -> Value {
    json!({ "value": { "type": "plain_text_input", "value": v } })
}

fn option(v: &str) -> Value {
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
                    .contains("STATUSPAGE_API_KEY")
            })
        })
        .await;
    assert_eq!(told.params["user"], ALICE);
    assert!(page.incidents().is_empty());
}

#[tokio::test]
async fn only_the_allowed_group_may_drive_statuspage() {
    let page = FakeStatuspage::start().await;
    let base = page.base_url();
    let (app, general, _) = workspace(&[
        ("STATUSPAGE_INTEGRATION_ENABLED", "true"),
        ("STATUSPAGE_API_KEY", API_KEY),
        ("STATUSPAGE_PAGE_ID", PAGE_ID),
        ("STATUSPAGE_API_URL", &base),
        ("JANUS_STATUSPAGE__ALLOWED_GROUP", "@comms"),
    ])
    .await;
    app.slack
        .add_usergroup("comms", "Comms team", &["U0BOB0001"]);
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0);
    let message = app
        .slack
        .wait_for("the prompt", WAIT, |_| statuspage_message(&app, &channel))
        .await;
    let button = payloads::button("janus.statuspage.open");
    let click = payloads::block_action(
        &channel.id,
        ALICE,
        &message.ts,
        button,
        &app.slack.response_url(),
    );
    app.slack
        .send_envelope(slack_fake::envelope("interactive", click, false))
        .await;
    let told = app
        .slack
        .wait_for("refused", WAIT, |s| {
            s.calls_to("chat.postEphemeral").into_iter().find(|c| {
                c.params["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Only members of @comms")
            })
        })
        .await;
    assert_eq!(told.params["user"], ALICE);
    assert!(
        app.slack.calls_to("views.open").is_empty(),
        "no form for Alice"
    );
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
