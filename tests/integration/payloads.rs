//! Payloads shaped exactly like Slack's, for the scenarios the fixtures do
//! not cover.

use serde_json::{Value, json};

/// The bot's user id in the fake's `auth.test`.
pub const BOT: &str = "U0JANUSBOT";
/// A person.
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
