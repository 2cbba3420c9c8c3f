//! Sample data for every built-in template: its context struct
//! ([`super::context`]) filled with realistic values.
//!
//! `Renderer::load` renders every template with its sample and validates
//! the output, so an override that uses a field we do not provide is caught
//! at start-up, not when the first incident is declared; `janus templates
//! render NAME` shows it. Samples include hostile user text where a
//! template shows user text, so that check exercises escaping too.

use serde_json::Value;
use url::Url;

use super::context::*;
use crate::domain::ids::{ChannelId, UserId};
use crate::domain::text::SlackText;

/// The sample data of the template `name`, or `None` if it has none.
pub fn sample(name: &str) -> Option<Value> {
    all()
        .into_iter()
        .find(|(template, _)| *template == name)
        .map(|(_, data)| data)
}

/// Every sample, by the name of the template its type fills.
pub fn all() -> Vec<(&'static str, Value)> {
    fn entry<C: TemplateContext>(context: C) -> (&'static str, Value) {
        let data = serde_json::to_value(&context).expect("a template context serialises");
        (C::TEMPLATE, data)
    }
    vec![
        entry(Help {
            command: "/incident".into(),
            bot_user_id: user("U0JANUS"),
            unknown: Some(SlackText::from_user("<!channel> \"deploy\"")),
            features: Features {
                react_emoji: Some("rotating_light".into()),
                timeline_emoji: "pushpin".into(),
                statuspage: true,
                reminders: true,
                archive_after: Some("7 days".into()),
                invite_group: Some("oncall".into()),
                providers: true,
            },
        }),
        // Every optional feature off: the template must still render.
        entry(Help {
            command: "/inc".into(),
            bot_user_id: user("U0JANUS"),
            unknown: None,
            features: Features {
                timeline_emoji: "pushpin".into(),
                ..Features::default()
            },
        }),
        entry(Usage {
            command: "/incident".into(),
        }),
        entry(Control(message(false))),
        entry(Digest::new(message(false)).with_update(Some(update_view()))),
        entry(Digest::new(private_message()).with_update(Some(update_view()))),
        entry(Declared {
            message: message(false),
            video_link: Some(url("https://meet.example.com/inc-42")),
        }),
        entry(List {
            incidents: vec![
                Listed {
                    incident: incident_view(false),
                    age: "2 hours 5 minutes".into(),
                },
                Listed {
                    incident: second_incident(),
                    age: "3 days 1 hour".into(),
                },
            ],
            count: 2,
            more: 0,
        }),
        entry(StatusChanged {
            incident: incident_view(false),
            actor: user("U0ALICE01"),
            field: "status".into(),
            from: labelled("investigating", "Investigating"),
            to: labelled("identified", "Identified"),
        }),
        entry(RoleAssigned {
            incident: incident_view(false),
            actor: user("U0ALICE01"),
            role: commander_role(),
            holder: user("U0BOB0001"),
            previous: Some(user("U0CAROL01")),
        }),
        entry(ArchiveNotice {
            incident: incident_view(true),
            in_: "1 hour".into(),
        }),
        entry(RoleReleased {
            incident: incident_view(false),
            actor: user("U0ALICE01"),
            role: commander_role(),
            previous: user("U0BOB0001"),
        }),
        entry(RoleDm {
            incident: incident_view(false),
            role: commander_role(),
            actor: user("U0ALICE01"),
        }),
        entry(Resolved {
            incident: incident_view(true),
            actor: user("U0BOB0001"),
        }),
        entry(UpdateReminder {
            incident: incident_view(false),
            commander: Some(user("U0ALICE01")),
            role: "Incident commander".into(),
            quiet_for: "30 minutes".into(),
        }),
        entry(UpdateReminder {
            incident: incident_view(false),
            commander: None,
            role: "Incident commander".into(),
            quiet_for: "1 hour 5 minutes".into(),
        }),
        entry(CommanderReminder {
            incident: incident_view(false),
            role: "Incident commander".into(),
            after: "10 minutes".into(),
        }),
        entry(DeclareModal {
            channel_id: channel("C0GENERAL1"),
            severities: severities(),
            default_severity: labelled("sev4", "SEV4"),
        }),
        entry(Origin {
            channel_id: channel("C0GENERAL1"),
            author: Some(user("U0ALICE01")),
            author_name: Some(SlackText::from_user("@Alice Liddell")),
            quoted: SlackText::trusted(
                ">checkout is throwing 500s &lt;!channel&gt;\n>\"since 15:02\"\n",
            ),
            permalink: Some(url(
                "https://acme.slack.com/archives/C0GENERAL1/p1700000000000100",
            )),
        }),
        entry(StatuspagePrompt {
            incident: incident_view(false),
        }),
        entry(StatuspageMessage {
            incident: incident_view(false),
            actor: user("U0ALICE01"),
            page: PageIncident {
                name: SlackText::from_user("Checkout errors <!channel>"),
                status: labelled("identified", "Identified"),
                impact: labelled("major", "Major"),
                shortlink: Some(url("https://stspg.io/abc123")),
                latest: Some(SlackText::from_user(
                    "We found the cause & are rolling back.",
                )),
                components: vec![PageComponent {
                    name: SlackText::from_user("API"),
                    status: "Partial outage".into(),
                }],
                resolved: false,
            },
        }),
        entry(StatuspageCreate {
            incident_id: 42,
            channel_id: channel("C0INCIDENT"),
            name: "db \"primary\" <!channel> down".into(),
            components: vec![
                ComponentChoice {
                    id: "b13yz5g2cw10".into(),
                    name: "API".into(),
                },
                ComponentChoice {
                    id: "7yn1wsqz0rmq".into(),
                    name: "Web".into(),
                },
            ],
        }),
        entry(StatuspageUpdate {
            incident_id: 42,
            channel_id: channel("C0INCIDENT"),
            status: labelled("identified", "Identified"),
        }),
        entry(provider_snapshot()),
        entry(UpdateModal {
            incident_id: 42,
            channel_id: channel("C0INC00042"),
            statuses: message(false).statuses,
            status: labelled("investigating", "Investigating"),
            private: false,
        }),
        entry(update_posted(false)),
        entry(UpdateReply::new(&update_posted(false))),
        entry(UpdateReply::new(&update_posted(true))),
    ]
}

/// A private incident's update and its message, for the tests of what
/// leaves its channel.
#[cfg(test)]
pub fn private_update() -> (UpdatePosted, IncidentMessage) {
    (update_posted(true), private_message())
}

/// An update with hostile text that moved incident 42 to identified.
fn update_posted(private: bool) -> UpdatePosted {
    let mut incident = incident_view(false);
    incident.private = private;
    UpdatePosted {
        incident,
        actor: user("U0BOB0001"),
        text: update_text(),
        status: Some(labelled("identified", "Identified")),
    }
}

/// What people type in an update, hostile parts included.
fn update_text() -> SlackText {
    SlackText::from_user(
        "Rolled back the deploy <!channel>; errors down to 2 % & falling.\n\"Next update\" at 16:00.",
    )
}

/// The update of [`update_posted`], as the digest shows it.
fn update_view() -> UpdateView {
    UpdateView {
        actor: user("U0BOB0001"),
        text: update_text(),
        status: Some(labelled("identified", "Identified")),
        at: "<!date^1795793520^{date_short_pretty} {time}|2026-11-27 15:32 UTC>".into(),
    }
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

/// The `incident` of the incident templates' data for incident 42, as the
/// template receives it.
#[cfg(test)]
pub fn incident(resolved: bool) -> Value {
    serde_json::to_value(incident_view(resolved)).expect("an incident serialises")
}

/// The control and digest messages' data, as the templates receive it.
#[cfg(test)]
pub fn view_model(resolved: bool) -> Value {
    serde_json::to_value(message(resolved)).expect("a message serialises")
}

/// Incident 42: the description is hostile; the liaison is held only once
/// it is resolved.
fn incident_view(resolved: bool) -> IncidentView {
    let (status, liaison) = if resolved {
        (labelled("resolved", "Resolved"), Some(user("U0DAVE001")))
    } else {
        (labelled("investigating", "Investigating"), None)
    };
    IncidentView {
        id: 42,
        name: "inc-202611271530-www-down".into(),
        channel_id: Some(channel("C0INC00042")),
        description: hostile_description(),
        status,
        severity: labelled("sev2", "SEV2"),
        resolved,
        created_by: user("U0ALICE01"),
        created_at: "<!date^1795793400^{date_short_pretty} {time}|2026-11-27 15:30 UTC>".into(),
        roles: roles([Some(user("U0BOB0001")), liaison, None]),
        private: false,
        archived: false,
    }
}

/// Incident 42 as a private incident: what the digest channel may see.
fn private_message() -> IncidentMessage {
    let mut message = message(false);
    message.incident.private = true;
    message
}

/// Another open incident, nobody in command yet.
fn second_incident() -> IncidentView {
    IncidentView {
        id: 43,
        name: "inc-202611271602-payments-slow".into(),
        channel_id: Some(channel("C0INC00043")),
        description: SlackText::from_user("payments take 30 s"),
        status: labelled("identified", "Identified"),
        severity: labelled("sev3", "SEV3"),
        resolved: false,
        created_by: user("U0CAROL01"),
        created_at: "<!date^1795795320^{date_short_pretty} {time}|2026-11-27 16:02 UTC>".into(),
        roles: roles([None, None, None]),
        private: false,
        archived: false,
    }
}

/// The three default roles, held by `holders` in order.
fn roles(holders: [Option<UserId>; 3]) -> Vec<RoleHolder> {
    let roles = [
        ("incident_commander", "Incident commander"),
        ("communications_liaison", "Communications liaison"),
        ("technical_lead", "Technical lead"),
    ];
    roles
        .into_iter()
        .zip(holders)
        .map(|((key, label), holder)| RoleHolder {
            key: key.into(),
            label: label.into(),
            holder,
        })
        .collect()
}

/// Incident 42 with the default statuses and severities.
fn message(resolved: bool) -> IncidentMessage {
    IncidentMessage {
        incident: incident_view(resolved),
        statuses: vec![
            labelled("investigating", "Investigating"),
            labelled("identified", "Identified"),
            labelled("monitoring", "Monitoring"),
            labelled("resolved", "Resolved"),
        ],
        severities: severities(),
        channel_url: "https://acme.slack.com/archives/C0INC00042".into(),
    }
}

fn severities() -> Vec<Labelled> {
    ["sev1", "sev2", "sev3", "sev4"]
        .into_iter()
        .map(|s| labelled(s, &s.to_uppercase()))
        .collect()
}

/// The commander role: its duties are our own mrkdwn.
fn commander_role() -> Role {
    Role {
        key: "incident_commander".into(),
        label: "Incident commander".into(),
        duties: "• Keep the response moving: decide, delegate, and ask for help early\n\
                 • Keep one picture of what is known, what is being tried, and by whom\n\
                 • Set the status and severity in the pinned message\n\
                 • Hand the role over explicitly when you step away"
            .into(),
    }
}

/// Three providers: one in a major outage with a hostile incident title, one
/// that did not answer, one green.
fn provider_snapshot() -> ProviderSnapshot {
    let text = SlackText::from_user;
    let incident = |title: &str, status: &str, url: Option<&str>| ProviderIncidentRow {
        title: text(title),
        status: text(status),
        url: url.map(str::to_owned),
    };
    let quiet = |name: &str, level, emoji, summary: &str, warning| ProviderRow {
        name: text(name),
        level,
        emoji,
        summary: text(summary),
        warning,
        incidents: Vec::new(),
        more_incidents: 0,
    };
    ProviderSnapshot {
        worst: Worst {
            level: "major",
            label: "Major outage",
            emoji: "🟠",
        },
        providers: vec![
            ProviderRow {
                name: text("GitHub"),
                level: "major",
                emoji: "🟠",
                summary: text("Partial System Outage · Affected: Actions (major outage)"),
                warning: false,
                incidents: vec![
                    incident(
                        "Incident with Pages and Actions",
                        "investigating",
                        Some("https://stspg.io/mc6sr407p78b"),
                    ),
                    incident(
                        "<!channel> \"urgent\" <http://evil.example|click> & co 🔥",
                        "<identified>",
                        Some("https://status.example.com/i/1?a=1&amp;b=%7C"),
                    ),
                    incident("No link for this one", "monitoring", None),
                ],
                more_incidents: 2,
            },
            quiet("Heroku", "unknown", "⚠️", "no answer in 5 s", true),
            quiet(
                "Slack",
                "operational",
                "🟢",
                "All systems operational",
                false,
            ),
        ],
        more_providers: 0,
        unreachable: 1,
        checked_at: "<!date^1795794120^{time}|15:42 UTC>".into(),
    }
}

fn labelled(value: &str, label: &str) -> Labelled {
    Labelled::new(value, Some(label))
}

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("a sample user id")
}

fn channel(id: &str) -> ChannelId {
    ChannelId::parse(id).expect("a sample channel id")
}

fn url(link: &str) -> Url {
    Url::parse(link).expect("a sample link")
}
