//! The view model: an incident from the database, shaped as the data the
//! incident templates receive ([`IncidentView`], [`IncidentMessage`]).
//! Built from the database alone, never from Slack's copy of a message, so
//! any message can be re-rendered at any time.

use url::Url;

use crate::config::Config;
use crate::domain::incident::Catalog;
use crate::domain::text::SlackText;
use crate::render::context::{IncidentMessage, IncidentView, Labelled, RoleHolder};
use crate::store::Incident;

/// How much of the description the control message shows.
pub const CONTROL_DESCRIPTION_CHARS: usize = 2500;
/// How much of the description the digest and the list show.
pub const SHORT_DESCRIPTION_CHARS: usize = 300;

/// The incident as its templates show it, with the description cut to
/// `description_chars`.
pub fn incident(incident: &Incident, catalog: &Catalog, description_chars: usize) -> IncidentView {
    let roles = catalog
        .roles()
        .iter()
        .map(|role| RoleHolder {
            key: role.key().to_owned(),
            label: role.label().to_owned(),
            holder: incident.holder(role.key()).cloned(),
        })
        .collect();
    IncidentView {
        id: incident.id.0,
        name: incident.channel_name.clone().unwrap_or_default(),
        channel_id: incident.channel_id.clone(),
        // Stored as plain text: escaped here, so `<!channel>` pings nobody.
        description: SlackText::from_user(&incident.description).truncate_chars(description_chars),
        status: Labelled::new(
            &incident.status,
            catalog.status(&incident.status).map(|c| c.label()),
        ),
        severity: Labelled::new(
            &incident.severity,
            catalog.severity(&incident.severity).map(|c| c.label()),
        ),
        resolved: incident.resolved_at.is_some(),
        created_by: incident.created_by.clone(),
        created_at: crate::domain::text::slack_date(incident.created_at),
        roles,
        private: incident.private,
        archived: incident.archived_at.is_some(),
    }
}

/// The incident with the configured lists: the control and digest messages'
/// data.
pub fn message(
    incident: &Incident,
    config: &Config,
    workspace: Option<&Url>,
    description_chars: usize,
) -> IncidentMessage {
    let catalog = &config.incident.catalog;
    IncidentMessage {
        incident: self::incident(incident, catalog, description_chars),
        statuses: catalog.statuses().iter().map(Labelled::from).collect(),
        severities: catalog.severities().iter().map(Labelled::from).collect(),
        channel_url: channel_url(workspace, incident),
    }
}

/// A browser link to the incident channel (the digest's Join button). Without
/// a known workspace URL, Slack's own redirect finds the channel.
pub fn channel_url(workspace: Option<&Url>, incident: &Incident) -> String {
    let channel = incident
        .channel_id
        .as_ref()
        .map(|c| c.as_str())
        .unwrap_or("");
    match workspace.and_then(|w| w.join(&format!("archives/{channel}")).ok()) {
        Some(url) => url.to_string(),
        None => format!("https://slack.com/app_redirect?channel={channel}"),
    }
}

/// The notification fallback of the control message.
pub fn control_text(incident: &Incident) -> String {
    format!(
        "Incident controls for {}",
        incident.channel_name.as_deref().unwrap_or("this incident")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{ChannelId, UserId};
    use crate::slack::BotIdentity;
    use crate::store::IncidentId;

    fn incident() -> Incident {
        let now = chrono::Utc::now();
        Incident {
            id: IncidentId(1),
            channel_id: Some(ChannelId::parse("C0INC42").expect("valid")),
            channel_name: Some("inc-1".into()),
            description: "db down".into(),
            status: "investigating".into(),
            severity: "high".into(),
            created_by: UserId::parse("U0ALICE").expect("valid"),
            created_at: now,
            updated_at: now,
            version: 1,
            resolved_at: None,
            control_ts: None,
            digest_ts: None,
            roles: Vec::new(),
            intended_name: None,
            steps: Default::default(),
            declaration: None,
            completed: true,
            private: false,
            archived_at: None,
        }
    }

    fn bot(url: Option<&str>) -> BotIdentity {
        BotIdentity {
            name: "janus".to_owned(),
            user_id: UserId::parse("U0BOT").expect("valid"),
            team_id: crate::domain::ids::TeamId::parse("T0TEAM").expect("valid"),
            enterprise_id: None,
            workspace_url: url.map(|u| Url::parse(u).expect("valid")),
        }
    }

    #[test]
    fn links_use_the_workspace_auth_test_reported() {
        let bot = bot(Some("https://globex.slack.com/")).with_workspace_id(None);
        assert_eq!(
            channel_url(bot.workspace_url.as_ref(), &incident()),
            "https://globex.slack.com/archives/C0INC42"
        );
    }

    #[test]
    fn a_configured_workspace_id_wins_over_auth_test() {
        let bot = bot(Some("https://globex.slack.com/")).with_workspace_id(Some("acme"));
        assert_eq!(
            channel_url(bot.workspace_url.as_ref(), &incident()),
            "https://acme.slack.com/archives/C0INC42"
        );
    }

    #[test]
    fn without_any_workspace_url_slack_redirects() {
        assert_eq!(
            channel_url(bot(None).workspace_url.as_ref(), &incident()),
            "https://slack.com/app_redirect?channel=C0INC42"
        );
    }
}
