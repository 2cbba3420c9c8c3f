//! Slack's `GET <base>/api/v2.0.0/current`: `status` is `ok` or `active`,
//! and `active_incidents[]` says what is wrong.

use serde::Deserialize;

use super::{
    FetchError, Level, MAX_INCIDENTS_KEPT, MAX_TEXT, ProviderIncident, ProviderStatus, is_closed,
    one_line, summary_line, web_url,
};

#[derive(Deserialize)]
struct Current {
    status: Option<String>,
    active_incidents: Option<Vec<Incident>>,
}

#[derive(Deserialize)]
struct Incident {
    title: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    url: Option<String>,
    services: Option<Vec<String>>,
}

pub(super) fn parse(name: String, body: &[u8]) -> Result<ProviderStatus, FetchError> {
    let current: Current = serde_json::from_slice(body).map_err(FetchError::unparseable)?;
    let Some(page_status) = current.status else {
        return Err(FetchError::unparseable("no `status`"));
    };

    // "active" with no incident listed is still not "ok".
    let mut level = if page_status == "ok" {
        Level::Operational
    } else {
        Level::Minor
    };
    let mut incidents = Vec::new();
    let mut affected: Vec<String> = Vec::new();
    let open = current
        .active_incidents
        .iter()
        .flatten()
        .filter(|i| !i.status.as_deref().is_some_and(is_closed));
    for incident in open {
        level = level.max(kind_level(incident.kind.as_deref()));
        for service in incident.services.iter().flatten() {
            let service = one_line(service, 60);
            if !affected.contains(&service) {
                affected.push(service);
            }
        }
        incidents.push(ProviderIncident {
            title: one_line(incident.title.as_deref().unwrap_or("Untitled"), MAX_TEXT),
            status: one_line(incident.status.as_deref().unwrap_or("active"), 30),
            url: web_url(incident.url.as_deref()),
        });
    }
    incidents.truncate(MAX_INCIDENTS_KEPT);

    Ok(ProviderStatus {
        name,
        level,
        summary: summary_line(level.label(), &affected),
        incidents,
    })
}

/// Slack's incident `type`: an outage is major; an incident or a notice
/// (or a word we do not know) is minor.
fn kind_level(kind: Option<&str>) -> Level {
    match kind {
        Some("outage") => Level::Major,
        Some("maintenance") => Level::Maintenance,
        _ => Level::Minor,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const OK: &str = include_str!("../../tests/fixtures/providers/slack_v2.0.0_current.ok.json");
    const ACTIVE: &str =
        include_str!("../../tests/fixtures/providers/slack_v2.0.0_current.active.json");

    fn read(body: &str) -> ProviderStatus {
        parse("Slack".to_owned(), body.as_bytes()).unwrap()
    }

    #[test]
    fn ok_is_operational() {
        let status = read(OK);
        assert_eq!(status.level, Level::Operational);
        assert_eq!(status.summary, "All systems operational");
        assert!(status.incidents.is_empty());
    }

    #[test]
    fn an_active_incident_is_minor_with_its_services_and_link() {
        let status = read(ACTIVE);
        assert_eq!(status.level, Level::Minor);
        assert_eq!(
            status.summary,
            "Minor issues · Affected: Apps/Integrations/APIs"
        );
        assert_eq!(
            status.incidents,
            [ProviderIncident {
                title: "Slack's forwarding email feature is failing for some customers".into(),
                status: "active".into(),
                url: Some(
                    "https://slack-status.com/2018-09/7dea1cd14cd0f657"
                        .parse()
                        .unwrap()
                ),
            }]
        );
    }

    #[test]
    fn an_outage_is_major_and_services_are_named_once() {
        let body = json!({
            "status": "active",
            "active_incidents": [
                {"title": "Down", "type": "outage", "status": "active", "services": ["Messaging", "Calls"]},
                {"title": "Slow", "type": "incident", "status": "active", "services": ["Messaging"]},
            ],
        });
        let status = read(&body.to_string());
        assert_eq!(status.level, Level::Major);
        assert_eq!(status.summary, "Major outage · Affected: Messaging, Calls");
    }

    #[test]
    fn active_without_incidents_is_not_green() {
        let status = read(r#"{"status": "active", "active_incidents": null}"#);
        assert_eq!(status.level, Level::Minor);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in [
            "",
            "{}",
            "{\"status\": 1}",
            "{\"status\": \"ok\", \"active_incidents\": 3}",
        ] {
            assert!(
                matches!(
                    parse("Slack".into(), body.as_bytes()),
                    Err(FetchError::Unparseable { .. })
                ),
                "{body}"
            );
        }
    }
}
