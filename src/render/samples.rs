//! Sample data for every built-in template.
//!
//! Each sample is the template's data contract: it lists every field the
//! caller must supply (strict mode makes a missing one an error), with
//! realistic values. `Renderer::load` renders every template with its sample
//! and validates the output, so an override that uses a field we do not
//! provide is caught at start-up, not when the first incident is declared.
//!
//! Text fields hold `mrkdwn` that has already gone through
//! `crate::domain::text::SlackText`; samples include hostile user text where
//! a template shows user text, so the check exercises escaping too.
//!
//! The incident templates share one view model (built by
//! `crate::actors::view`):
//!
//! ```text
//! incident     {id, name, channel_id, description, status, severity,
//!               resolved, created_by, created_at, roles: [{key, label, holder}]}
//!              status / severity are {value, label}; holder is a user id or null
//! statuses     [{value, label}]   the configured list, in order
//! severities   [{value, label}]   the configured list, in order
//! channel_url  browser link to the incident channel
//! ```
//!
//! Some templates take only `incident` plus their own fields; see each arm.

use serde_json::{Value, json};

use crate::domain::text::SlackText;

/// The sample data for the template `name`, or `None` if it has none.
pub fn sample(name: &str) -> Option<Value> {
    let data = match name {
        "help" => json!({
            "command": "/incident",
            "bot_user_id": "U0JANUS",
            "unknown": SlackText::from_user("<!channel> \"deploy\""),
        }),
        "declare_modal" => json!({
            "channel_id": "C0GENERAL1",
            "severities": [
                { "value": "sev1", "label": "SEV1" }, { "value": "sev2", "label": "SEV2" },
                { "value": "sev3", "label": "SEV3" }, { "value": "sev4", "label": "SEV4" }
            ],
            "default_severity": { "value": "sev4", "label": "SEV4" },
        }),
        "origin" => json!({
            "channel_id": "C0GENERAL1",
            "author": "U0ALICE01",
            "quoted": ">checkout is throwing 500s &lt;!channel&gt;\n>\"since 15:02\"\n",
            "permalink": "https://acme.slack.com/archives/C0GENERAL1/p1700000000000100",
        }),
        "usage" => json!({
            "command": "/incident",
        }),
        // The pinned control message, and the digest message: the view model.
        "control" | "digest" => view_model(false),
        // Ephemeral reply to the declarer: the view model plus the call link
        // (null when none is configured).
        "declared" => {
            let mut data = view_model(false);
            data["video_link"] = json!("https://meet.example.com/inc-42");
            data
        }
        // `@janus list`. `count` is the number of open incidents; at most
        // 45 are in `incidents` (the caller caps it) and `more` is how many
        // were left out (0 when none).
        "list" => json!({
            "incidents": [incident(false), second_incident()],
            "count": 2,
            "more": 0,
        }),
        // A status or severity change. `field` is "status" or "severity".
        "status_changed" => json!({
            "incident": incident(false),
            "actor": "U0ALICE01",
            "field": "status",
            "from": { "value": "investigating", "label": "Investigating" },
            "to": { "value": "identified", "label": "Identified" },
        }),
        // A role claimed (actor = holder) or assigned. `previous` is the
        // holder being replaced, or null.
        "role_assigned" => json!({
            "incident": incident(false),
            "actor": "U0ALICE01",
            "role": commander_role(),
            "holder": "U0BOB0001",
            "previous": "U0CAROL01",
        }),
        // DM to the new holder of a role; `actor` is who assigned it (the
        // holder themselves for a claim).
        "role_dm" => json!({
            "incident": incident(false),
            "role": commander_role(),
            "actor": "U0ALICE01",
        }),
        // Posted in the incident channel when it is resolved.
        "resolved" => json!({
            "incident": incident(true),
            "actor": "U0BOB0001",
        }),
        _ => return None,
    };
    Some(data)
}

/// A description with everything a user might type: quotes, backslashes,
/// newlines, a ping, a disguised link, emoji and right-to-left text.
pub fn hostile_description() -> SlackText {
    SlackText::from_user(
        "www is down: \"502 Bad Gateway\" from C:\\lb\\edge\n\
         <!channel> <@U0ALL> <http://evil.example|status page> & more 🔥\n\
         \u{202E}مرحبا — café",
    )
}

/// The `incident` object of the view model for incident 42.
pub fn incident(resolved: bool) -> Value {
    let (status, holder) = if resolved {
        (
            json!({ "value": "resolved", "label": "Resolved" }),
            json!("U0DAVE001"),
        )
    } else {
        (
            json!({ "value": "investigating", "label": "Investigating" }),
            Value::Null,
        )
    };
    json!({
        "id": 42,
        "name": "inc-202611271530-www-down",
        "channel_id": "C0INC00042",
        "description": hostile_description(),
        "status": status,
        "severity": { "value": "sev2", "label": "SEV2" },
        "resolved": resolved,
        "created_by": "U0ALICE01",
        "created_at": "2026-11-27 15:30 UTC",
        "roles": [
            { "key": "incident_commander", "label": "Incident commander", "holder": "U0BOB0001" },
            { "key": "communications_liaison", "label": "Communications liaison", "holder": holder },
            { "key": "technical_lead", "label": "Technical lead", "holder": null },
        ],
    })
}

/// Another open incident, nobody in command yet.
fn second_incident() -> Value {
    json!({
        "id": 43,
        "name": "inc-202611271602-payments-slow",
        "channel_id": "C0INC00043",
        "description": SlackText::from_user("payments take 30 s"),
        "status": { "value": "identified", "label": "Identified" },
        "severity": { "value": "sev3", "label": "SEV3" },
        "resolved": false,
        "created_by": "U0CAROL01",
        "created_at": "2026-11-27 16:02 UTC",
        "roles": [
            { "key": "incident_commander", "label": "Incident commander", "holder": null },
            { "key": "communications_liaison", "label": "Communications liaison", "holder": null },
            { "key": "technical_lead", "label": "Technical lead", "holder": null },
        ],
    })
}

/// The whole view model: the incident and the configured lists.
pub fn view_model(resolved: bool) -> Value {
    json!({
        "incident": incident(resolved),
        "statuses": [
            { "value": "investigating", "label": "Investigating" },
            { "value": "identified", "label": "Identified" },
            { "value": "monitoring", "label": "Monitoring" },
            { "value": "resolved", "label": "Resolved" },
        ],
        "severities": [
            { "value": "sev1", "label": "SEV1" },
            { "value": "sev2", "label": "SEV2" },
            { "value": "sev3", "label": "SEV3" },
            { "value": "sev4", "label": "SEV4" },
        ],
        "channel_url": "https://acme.slack.com/archives/C0INC00042",
    })
}

/// A role as the role templates receive it: its duties are our own mrkdwn.
fn commander_role() -> Value {
    json!({
        "key": "incident_commander",
        "label": "Incident commander",
        "duties": SlackText::trusted(
            "• Keep the response moving: decide, delegate, and ask for help early\n\
             • Keep one picture of what is known, what is being tried, and by whom\n\
             • Set the status and severity in the pinned message\n\
             • Hand the role over explicitly when you step away",
        ),
    })
}
