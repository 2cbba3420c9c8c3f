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
        "statuspage_prompt" => json!({ "incident": incident(false) }),
        "statuspage_message" => json!({
            "incident": incident(false),
            "actor": "U0ALICE01",
            "page": {
                "name": "Checkout errors &lt;!channel&gt;",
                "status": { "value": "identified", "label": "Identified" },
                "impact": { "value": "major", "label": "Major" },
                "shortlink": "https://stspg.io/abc123",
                "latest": "We found the cause &amp; are rolling back.",
                "components": [ { "name": "API", "status": "Partial outage" } ],
                "resolved": false,
            },
        }),
        "statuspage_create" => json!({
            "incident_id": 42,
            "channel_id": "C0INCIDENT",
            "name": "db \"primary\" <!channel> down",
            "components": [ { "id": "b13yz5g2cw10", "name": "API" }, { "id": "7yn1wsqz0rmq", "name": "Web" } ],
        }),
        "statuspage_update" => json!({
            "incident_id": 42,
            "channel_id": "C0INCIDENT",
            "status": { "value": "identified", "label": "Identified" },
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
        // Third-party status (built by `crate::providers::view`): one row
        // per configured provider, in order; a provider we could not read is
        // a `warning` row whose summary says why. Text is already escaped;
        // `url` is an http(s) link safe inside `<…|…>`, or null. At most 45
        // rows and 3 incidents per row (the rest are counted).
        "provider_snapshot" => json!({
            "worst": { "level": "major", "label": "Major outage", "emoji": "🟠" },
            "providers": [
                {
                    "name": SlackText::from_user("GitHub"), "level": "major", "emoji": "🟠",
                    "summary": SlackText::from_user("Partial System Outage · Affected: Actions (major outage)"),
                    "warning": false,
                    "incidents": [
                        {
                            "title": SlackText::from_user("Incident with Pages and Actions"),
                            "status": SlackText::from_user("investigating"),
                            "url": "https://stspg.io/mc6sr407p78b",
                        },
                        {
                            "title": SlackText::from_user("<!channel> \"urgent\" <http://evil.example|click> & co 🔥"),
                            "status": SlackText::from_user("<identified>"),
                            "url": "https://status.example.com/i/1?a=1&amp;b=%7C",
                        },
                        {
                            "title": SlackText::from_user("No link for this one"),
                            "status": SlackText::from_user("monitoring"),
                            "url": null,
                        },
                    ],
                    "more_incidents": 2,
                },
                {
                    "name": SlackText::from_user("Heroku"), "level": "unknown", "emoji": "⚠️",
                    "summary": SlackText::from_user("no answer in 5 s"),
                    "warning": true, "incidents": [], "more_incidents": 0,
                },
                {
                    "name": SlackText::from_user("Slack"), "level": "operational", "emoji": "🟢",
                    "summary": SlackText::from_user("All systems operational"),
                    "warning": false, "incidents": [], "more_incidents": 0,
                },
            ],
            "more_providers": 0,
            "unreachable": 1,
            "checked_at": "15:42 UTC",
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
