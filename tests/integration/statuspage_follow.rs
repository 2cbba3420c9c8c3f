//! `statuspage.follow_incident`: the Statuspage incident Janus created for an
//! incident moves with the incident's status, set from the control message
//! — against the Slack fake and the Statuspage fake, asserting what the page
//! received and what the channel shows.

use std::time::Duration;

use serde_json::{Value, json};

use crate::controls::click;
use crate::declare::{created_channel, declare, workspace, workspace_on_postgres};
use crate::payloads::{self, ALICE, BOB};
use crate::statuspage_slack::{
    names_a_setting, open, option, statuspage_env, statuspage_message, submit, text,
};
use crate::support::harness::{TestApp, all_text};
use crate::support::slack_fake::{self, Channel};
use crate::support::statuspage_fake::FakeStatuspage;

const WAIT: Duration = Duration::from_secs(20);
const FOLLOW: (&str, &str) = ("JANUS_STATUSPAGE__FOLLOW_INCIDENT", "true");

/// One incident with a Statuspage incident created from its channel (one
/// component marked `major_outage`); `extra` on top of Statuspage on and
/// anyone allowed. Returns the Statuspage incident's id and the component.
struct Linked {
    app: TestApp,
    page: FakeStatuspage,
    channel: Channel,
    sp_id: String,
    component: String,
}

async fn linked(extra: &[(&str, &str)]) -> Linked {
    let page = FakeStatuspage::start().await;
    // Tests here are about order and effects, not Statuspage's 1 request/s.
    page.set_rate_limit(false);
    let base = page.base_url();
    let mut env = statuspage_env(&base, &[("JANUS_STATUSPAGE__ALLOW_EVERYONE", "true")]);
    env.extend_from_slice(extra);
    let postgres = std::env::var("JANUS_TEST_STORE").is_ok_and(|s| s == "postgres");
    let (app, general, _) = if postgres {
        workspace_on_postgres(&env).await
    } else {
        workspace(&env).await
    };
    declare(&app, &general, "checkout down").await;
    let channel = created_channel(&app, 0);
    app.slack
        .wait_for("the prompt", WAIT, |_| statuspage_message(&app, &channel))
        .await;
    let form = open(&app, &channel, "janus.statuspage.open").await;
    let options = form.to_string();
    let component = page
        .components()
        .iter()
        .filter(|c| c["group"] != true)
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .find(|id| options.contains(id.as_str()))
        .expect("a component in the form");
    let ack = submit(
        &app,
        &form,
        json!({
            "sp.name": text("Checkout errors"), "sp.body": text("We are looking into failed payments."),
            "sp.impact": option("major"),
            "sp.components": { "value": { "type": "multi_static_select",
                "selected_options": [{ "value": component }] } },
            "sp.component_status": option("major_outage"), "sp.notify": option("no"),
        }),
    )
    .await;
    assert!(ack.is_none(), "a valid form closes");
    let created = app
        .slack
        .wait_for("the Statuspage incident", WAIT, |_| {
            page.incidents().into_iter().next()
        })
        .await;
    app.idle().await;
    Linked {
        sp_id: created["id"].as_str().unwrap().to_owned(),
        app,
        page,
        channel,
        component,
    }
}

impl Linked {
    /// The statuses of the PATCHes the Statuspage incident received, in order.
    fn patched(&self) -> Vec<String> {
        self.patches()
            .iter()
            .map(|body| body["incident"]["status"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// The PATCH bodies, in order.
    fn patches(&self) -> Vec<Value> {
        self.page
            .requests_to("PATCH", &format!("/incidents/{}", self.sp_id))
            .iter()
            .map(|r| r.json())
            .collect()
    }

    /// `user` picks `status` in the control message's select; waits until
    /// Janus is done with it (Statuspage included).
    async fn move_to(&self, user: &str, status: &str) {
        click(
            &self.app,
            &self.channel,
            user,
            payloads::select("janus.status", status),
        )
        .await;
        self.app.idle().await;
    }

    /// What the Statuspage message in the channel reads.
    fn message_text(&self) -> String {
        statuspage_message(&self.app, &self.channel)
            .and_then(|m| m.blocks)
            .map(|b| all_text(&b))
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn the_statuspage_incident_follows_each_move_resolves_with_the_incident_and_reopens() {
    let linked = linked(&[FOLLOW]).await;
    assert!(linked.patched().is_empty(), "creating sent no PATCH");
    // The Slack message labels the component's status.
    assert!(
        linked.message_text().contains(": Major outage"),
        "{}",
        linked.message_text()
    );
    assert!(!linked.message_text().contains("major_outage"));

    linked.move_to(ALICE, "identified").await;
    assert_eq!(linked.patched(), ["identified"]);
    let first = &linked.patches()[0]["incident"];
    assert_eq!(
        first["body"],
        "The issue has been identified and a fix is being worked on."
    );
    assert_eq!(
        first["deliver_notifications"], false,
        "as the people who published chose"
    );
    assert!(linked.message_text().contains("Identified"));

    linked.move_to(BOB, "monitoring").await;
    linked.move_to(ALICE, "resolved").await;
    assert_eq!(linked.patched(), ["identified", "monitoring", "resolved"]);
    let page = linked.page.incident(&linked.sp_id).unwrap();
    assert_eq!(page["status"], "resolved");
    assert_eq!(
        linked.page.component_status(&linked.component).as_deref(),
        Some("operational"),
        "resolving returns what the incident touched to operational"
    );
    let shown = linked.message_text();
    assert!(shown.contains("Resolved"), "{shown}");
    let blocks = statuspage_message(&linked.app, &linked.channel)
        .unwrap()
        .blocks
        .unwrap()
        .to_string();
    assert!(
        !blocks.contains("janus.statuspage.update"),
        "no Post update once resolved"
    );

    // Reopening: the same Statuspage incident goes back, saying so.
    linked.move_to(ALICE, "investigating").await;
    assert_eq!(
        linked.patched(),
        ["identified", "monitoring", "resolved", "investigating"]
    );
    assert_eq!(
        linked.patches()[3]["incident"]["body"],
        "We are looking into this issue again."
    );
    assert_eq!(
        linked.page.incidents().len(),
        1,
        "no second Statuspage incident"
    );
    assert_eq!(
        linked.page.incident(&linked.sp_id).unwrap()["status"],
        "investigating"
    );

    // Each move is in the incident's history, as done by Janus.
    let db = &linked.app.db;
    assert_eq!(
        db.count(
            "SELECT count(*) FROM incident_events WHERE kind = 'statuspage' AND actor = 'janus'"
        )
        .await,
        4
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM incident_events WHERE kind = 'statuspage' AND actor = 'janus' \
             AND CAST(detail AS TEXT) LIKE '%\"reopened\"%'"
        )
        .await,
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM statuspage_incidents WHERE status = 'investigating'")
            .await,
        1,
        "what Statuspage was last set to is stored"
    );
}

#[tokio::test]
async fn a_redelivered_status_click_sends_one_update() {
    let linked = linked(&[FOLLOW]).await;
    let envelope = slack_fake::envelope(
        "interactive",
        payloads::block_action(
            &linked.channel.id,
            ALICE,
            &linked.channel.pins[0],
            payloads::select("janus.status", "monitoring"),
            &linked.app.slack.response_url(),
        ),
        false,
    );
    linked.app.slack.send_envelope(envelope.clone()).await;
    linked.app.idle().await;
    let mut again = envelope;
    again["retry_attempt"] = 1.into();
    again["retry_reason"] = "timeout".into();
    linked.app.slack.send_envelope(again).await;
    linked.app.idle().await;
    assert_eq!(linked.patched(), ["monitoring"]);
}

#[tokio::test]
async fn two_quick_moves_end_with_statuspage_showing_the_last() {
    let linked = linked(&[FOLLOW]).await;
    // The first PATCH is slow to answer: the second move arrives meanwhile.
    linked.page.delay_next(Duration::from_millis(500));
    for status in ["identified", "monitoring"] {
        click(
            &linked.app,
            &linked.channel,
            BOB,
            payloads::select("janus.status", status),
        )
        .await;
    }
    linked.app.idle().await;
    let patched = linked.patched();
    assert_eq!(patched.last().map(String::as_str), Some("monitoring"));
    assert!(patched.len() <= 2, "{patched:?}");
    assert_eq!(
        linked.page.incident(&linked.sp_id).unwrap()["status"],
        "monitoring"
    );
    assert!(linked.message_text().contains("Monitoring"));
}

#[tokio::test]
async fn a_status_chosen_in_post_update_is_followed_too() {
    let linked = linked(&[FOLLOW]).await;
    let app = &linked.app;
    click(
        app,
        &linked.channel,
        ALICE,
        payloads::button("janus.update.open"),
    )
    .await;
    let view = app
        .slack
        .wait_for("the update form", WAIT, |s| {
            s.calls_to("views.open")
                .into_iter()
                .find(|c| c.params["view"]["callback_id"] == "janus.update")
        })
        .await
        .params["view"]
        .clone();
    let submission = payloads::update_form_submission(
        &view,
        "V0UPDATE1",
        ALICE,
        "Fix deployed, watching.",
        Some("monitoring"),
    );
    app.slack
        .send_envelope(slack_fake::envelope("interactive", submission, true))
        .await;
    app.idle().await;
    assert_eq!(linked.patched(), ["monitoring"]);
}

#[tokio::test]
async fn when_statuspage_fails_the_channel_is_told_in_plain_words_and_the_next_move_works() {
    let linked = linked(&[FOLLOW]).await;
    linked
        .page
        .fail_next(422, r#"{"error": ["Status is not allowed right now"]}"#);
    linked.move_to(ALICE, "identified").await;
    let told = linked
        .app
        .slack
        .messages(&linked.channel.id)
        .into_iter()
        .filter_map(|m| m.blocks.as_ref().map(all_text))
        .find(|t| t.contains("could not move the Statuspage incident"))
        .expect("the channel is told");
    assert!(told.contains("*Identified*"), "{told}");
    assert!(told.contains("Status is not allowed right now"), "{told}");
    assert!(told.contains("Post update"), "{told}");
    assert!(!names_a_setting(&told), "{told}");
    assert_eq!(
        linked.page.incident(&linked.sp_id).unwrap()["status"],
        "investigating"
    );

    // Janus gave up on that one (people were told); the next move goes out.
    linked.move_to(ALICE, "monitoring").await;
    assert_eq!(
        linked.page.incident(&linked.sp_id).unwrap()["status"],
        "monitoring"
    );
}

#[tokio::test]
async fn with_following_off_a_status_change_sends_nothing_to_statuspage() {
    let linked = linked(&[]).await;
    linked.move_to(ALICE, "identified").await;
    linked.move_to(ALICE, "resolved").await;
    assert!(linked.patched().is_empty(), "{:?}", linked.patched());
    assert_eq!(
        linked.page.incident(&linked.sp_id).unwrap()["status"],
        "investigating"
    );
}

/// A status change Statuspage did not get (Janus stopped before following
/// it — here, following was off while it happened): at the next start,
/// recovery compares the stored status with what Statuspage was last set
/// to and sends the missing update, once.
#[tokio::test]
async fn recovery_brings_statuspage_to_the_stored_status_once() {
    let mut linked = linked(&[]).await;
    linked.move_to(ALICE, "monitoring").await;
    assert!(linked.patched().is_empty());

    let base = linked.page.base_url();
    let env = statuspage_env(
        &base,
        &[("JANUS_STATUSPAGE__ALLOW_EVERYONE", "true"), FOLLOW],
    );
    linked.app.restart_with(&env).await;
    linked.app.idle().await;
    assert_eq!(linked.patched(), ["monitoring"]);
    assert!(linked.message_text().contains("Monitoring"));

    // Nothing left to catch up: another start sends nothing more.
    linked.app.restart_with(&env).await;
    linked.app.idle().await;
    assert_eq!(linked.patched(), ["monitoring"]);
}

/// A person's own Statuspage update is what customers should see: it is
/// recorded as following the incident's current status, so neither the
/// next start nor recovery undoes it.
#[tokio::test]
async fn a_persons_own_statuspage_update_is_not_undone_by_following() {
    let mut linked = linked(&[FOLLOW]).await;
    let form = open(&linked.app, &linked.channel, "janus.statuspage.update").await;
    submit(
        &linked.app,
        &form,
        json!({
            "sp.status": option("monitoring"), "sp.body": text("A fix is rolling out."),
            "sp.notify": option("no"),
        }),
    )
    .await;
    linked.app.idle().await;
    assert_eq!(linked.patched(), ["monitoring"]);

    let base = linked.page.base_url();
    let env = statuspage_env(
        &base,
        &[("JANUS_STATUSPAGE__ALLOW_EVERYONE", "true"), FOLLOW],
    );
    linked.app.restart_with(&env).await;
    linked.app.idle().await;
    assert_eq!(
        linked.patched(),
        ["monitoring"],
        "the person's update stands"
    );
}
