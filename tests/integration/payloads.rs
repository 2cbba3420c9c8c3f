//! Payloads shaped exactly like Slack's, for the scenarios the fixtures do
//! not cover.

use serde_json::{Value, json};

/// The bot's user id in the fake's `auth.test`.
pub const BOT: &str = "U0JANUSBOT";
pub const ALICE: &str = "U0ALICE01";

/// An `events_api` payload for `@janus <text>` in `channel`.
pub fn app_mention(channel: &str, text: &str, event_id: &str, thread_ts: Option<&str>) -> Value {
    let mut event = json!({
        "type": "app_mention",
        "user": ALICE,
        "text": text,
        "ts": "1700000100.000200",
        "channel": channel,
        "event_ts": "1700000100.000200",
        "blocks": [],
    });
    if let Some(ts) = thread_ts {
        event["thread_ts"] = json!(ts);
    }
    json!({
        "token": "verification-token-unused",
        "team_id": "T0FAKE",
        "api_app_id": "A0FAKE",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000100,
        "authorizations": [{
            "enterprise_id": null, "team_id": "T0FAKE", "user_id": BOT,
            "is_bot": true, "is_enterprise_install": false
        }],
        "is_ext_shared_channel": false,
        "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIn0"
    })
}

/// A `slash_commands` payload for `/incident <text>`.
pub fn slash_incident(channel: &str, text: &str, response_url: &str) -> Value {
    json!({
        "token": "verification-token-unused",
        "team_id": "T0FAKE",
        "team_domain": "acme",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": ALICE,
        "user_name": "alice",
        "command": "/incident",
        "text": text,
        "api_app_id": "A0FAKE",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": "1700000100.1.abcdef0123456789"
    })
}

pub const BOB: &str = "U0BOB0001";

/// An `interactive` `block_actions` payload: `user` used `action` on the
/// message `message_ts` in `channel`.
pub fn block_action(
    channel: &str,
    user: &str,
    message_ts: &str,
    action: Value,
    response_url: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "user": { "id": user, "username": "someone", "name": "someone", "team_id": "T0FAKE" },
        "api_app_id": "A0FAKE",
        "token": "verification-token-unused",
        "container": {
            "type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false
        },
        "trigger_id": "1700000200.1.0123456789abcdef",
        "team": { "id": "T0FAKE", "domain": "acme" },
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": { "id": channel, "name": "inc" },
        "message": { "type": "message", "user": BOT, "ts": message_ts, "text": "controls", "blocks": [] },
        "state": { "values": {} },
        "response_url": response_url,
        "actions": [action]
    })
}

/// The status (or severity) select set to `value`.
pub fn select(action_id: &str, value: &str) -> Value {
    json!({
        "type": "static_select", "action_id": action_id, "block_id": "janus.state",
        "selected_option": { "text": { "type": "plain_text", "text": value, "emoji": true }, "value": value },
        "placeholder": { "type": "plain_text", "text": "Choose", "emoji": true },
        "action_ts": "1700000201.000100"
    })
}

pub fn claim(role: &str) -> Value {
    json!({
        "type": "button", "action_id": format!("janus.claim.{role}"), "block_id": format!("janus.role.{role}"),
        "text": { "type": "plain_text", "text": "Claim", "emoji": true },
        "value": role, "action_ts": "1700000202.000100"
    })
}

/// The Assign users select of `role`, set to `user`.
pub fn assign(role: &str, user: &str) -> Value {
    json!({
        "type": "users_select", "action_id": format!("janus.assign.{role}"),
        "block_id": format!("janus.role.{role}"), "selected_user": user,
        "initial_user": null, "action_ts": "1700000203.000100"
    })
}

/// A `view_submission` of the declare form, as Slack sends it.
pub fn declare_form_submission(source_channel: &str, description: &str, severity: &str) -> Value {
    json!({
        "type": "view_submission",
        "team": { "id": "T0FAKE", "domain": "acme" },
        "user": { "id": ALICE, "username": "alice", "name": "alice", "team_id": "T0FAKE" },
        "api_app_id": "A0FAKE",
        "token": "verification-token-unused",
        "trigger_id": "1700000300.1.fedcba9876543210",
        "view": {
            "id": "V0FAKE0001", "team_id": "T0FAKE", "type": "modal",
            "callback_id": "janus.declare",
            "private_metadata": source_channel,
            "title": { "type": "plain_text", "text": "Declare an incident" },
            "blocks": [],
            "state": { "values": {
                "janus.description": { "value": { "type": "plain_text_input", "value": description } },
                "janus.severity": { "value": {
                    "type": "static_select",
                    "selected_option": { "text": { "type": "plain_text", "text": severity }, "value": severity }
                } }
            } },
            "hash": "1700000300.abcdef", "app_id": "A0FAKE", "bot_id": "B0FAKE"
        },
        "response_urls": [],
        "is_enterprise_install": false
    })
}

/// An `events_api` payload: `user` reacted with `emoji` to message `ts`.
pub fn reaction_added(channel: &str, ts: &str, user: &str, emoji: &str, event_id: &str) -> Value {
    json!({
        "token": "verification-token-unused",
        "team_id": "T0FAKE",
        "api_app_id": "A0FAKE",
        "event": {
            "type": "reaction_added",
            "user": user,
            "reaction": emoji,
            "item": { "type": "message", "channel": channel, "ts": ts },
            "item_user": ALICE,
            "event_ts": "1700000400.000100"
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000400,
        "authorizations": [{
            "enterprise_id": null, "team_id": "T0FAKE", "user_id": BOT,
            "is_bot": true, "is_enterprise_install": false
        }],
        "is_ext_shared_channel": false
    })
}

pub fn button(action_id: &str) -> Value {
    json!({
        "type": "button", "action_id": action_id, "block_id": "b",
        "text": { "type": "plain_text", "text": "Button", "emoji": true },
        "value": "v", "action_ts": "1700000800.000100"
    })
}

/// A `view_submission` of the Post update form `view` (as `views.open`
/// got it) by `user`, as Slack sends it: `view_id` is the modal's id (the
/// same for every submission of one modal), `status` the optional select.
pub fn update_form_submission(
    view: &Value,
    view_id: &str,
    user: &str,
    text: &str,
    status: Option<&str>,
) -> Value {
    let status_state = match status {
        Some(s) => json!({
            "type": "static_select",
            "selected_option": { "text": { "type": "plain_text", "text": s }, "value": s }
        }),
        None => json!({ "type": "static_select", "selected_option": null }),
    };
    json!({
        "type": "view_submission",
        "team": { "id": "T0FAKE", "domain": "acme" },
        "user": { "id": user, "username": "someone", "name": "someone", "team_id": "T0FAKE" },
        "api_app_id": "A0FAKE",
        "token": "verification-token-unused",
        "trigger_id": "1700000900.1.0123456789abcdef",
        "view": {
            "id": view_id, "team_id": "T0FAKE", "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "title": { "type": "plain_text", "text": "Post an update" },
            "blocks": [],
            "state": { "values": {
                "janus.update.text": { "value": { "type": "plain_text_input", "value": text } },
                "janus.update.status": { "value": status_state }
            } },
            "hash": "1700000900.abcdef", "app_id": "A0FAKE", "bot_id": "B0FAKE"
        },
        "response_urls": [],
        "is_enterprise_install": false
    })
}

/// An `events_api` payload: `user` unpinned message `ts` in `channel`
/// (`pin_removed`, as Slack sends it to the channel's members).
pub fn pin_removed(channel: &str, ts: &str, user: &str, event_id: &str) -> Value {
    json!({
        "token": "verification-token-unused",
        "team_id": "T0FAKE",
        "api_app_id": "A0FAKE",
        "event": {
            "type": "pin_removed",
            "user": user,
            "channel_id": channel,
            "item": {
                "type": "message",
                "channel": channel,
                "created": 1700000500,
                "created_by": BOT,
                "message": {
                    "type": "message", "user": BOT, "bot_id": "B0FAKE", "text": "Incident controls",
                    "ts": ts, "pinned_to": [], "permalink": "https://fake.slack.com/archives/x"
                }
            },
            "item_user": BOT,
            "pin_count": "0",
            "pinned_info": { "channel": channel, "pinned_by": BOT, "pinned_ts": 1700000500 },
            "has_pins": false,
            "event_ts": "1700000600.000100"
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000600,
        "authorizations": [{
            "enterprise_id": null, "team_id": "T0FAKE", "user_id": BOT,
            "is_bot": true, "is_enterprise_install": false
        }],
        "is_ext_shared_channel": false
    })
}
