//! The view model: an incident from the database, shaped as the data every
//! incident template receives (see `render::samples`). Built from the
//! database alone, never from Slack's copy of a message, so any message can
//! be re-rendered at any time.

use serde_json::{Value, json};

use crate::config::Config;
use crate::domain::incident::Catalog;
use crate::domain::text::SlackText;
use crate::store::Incident;

/// How much of the description the control message shows.
pub const CONTROL_DESCRIPTION_CHARS: usize = 2500;
/// How much of the description the digest and the list show.
pub const SHORT_DESCRIPTION_CHARS: usize = 300;

/// `{value, label}` for a stored key; a key no longer in the configured list
/// (the list changed since) is shown as it is rather than hidden.
fn choice(value: &str, label: Option<&str>) -> Value {
    json!({ "value": value, "label": label.unwrap_or(value) })
}

/// The `incident` object of the view model, with the description cut to
/// `description_chars`.
pub fn incident(incident: &Incident, catalog: &Catalog, description_chars: usize) -> Value {
    let roles: Vec<Value> = catalog
        .roles()
        .iter()
        .map(|role| {
            json!({
                "key": role.key(),
                "label": role.label(),
                "holder": incident.holder(role.key()).map(|u| u.as_str()),
            })
        })
        .collect();
    json!({
        "id": incident.id.0,
        "name": incident.channel_name.as_deref().unwrap_or(""),
        "channel_id": incident.channel_id.as_ref().map(|c| c.as_str()).unwrap_or(""),
        // Stored as plain text: escaped here, so `<!channel>` pings nobody.
        "description": SlackText::from_user(&incident.description).truncate_chars(description_chars),
        "status": choice(&incident.status, catalog.status(&incident.status).map(|c| c.label())),
        "severity": choice(&incident.severity, catalog.severity(&incident.severity).map(|c| c.label())),
        "resolved": incident.resolved_at.is_some(),
        "created_by": incident.created_by.as_str(),
        "created_at": incident.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        "roles": roles,
    })
}

/// The full data of the control and digest messages.
pub fn message(incident: &Incident, config: &Config, description_chars: usize) -> Value {
    let catalog = &config.incident.catalog;
    let list = |choices: &[crate::domain::incident::Choice]| -> Vec<Value> {
        choices
            .iter()
            .map(|c| choice(c.value(), Some(c.label())))
            .collect()
    };
    json!({
        "incident": self::incident(incident, catalog, description_chars),
        "statuses": list(catalog.statuses()),
        "severities": list(catalog.severities()),
        "channel_url": channel_url(config, incident),
    })
}

/// A browser link to the incident channel (the digest's Join button).
pub fn channel_url(config: &Config, incident: &Incident) -> String {
    format!(
        "https://{}.slack.com/archives/{}",
        config.slack.workspace_id,
        incident
            .channel_id
            .as_ref()
            .map(|c| c.as_str())
            .unwrap_or("")
    )
}

/// The notification fallback of the control message.
pub fn control_text(incident: &Incident) -> String {
    format!(
        "Incident controls for {}",
        incident.channel_name.as_deref().unwrap_or("this incident")
    )
}
