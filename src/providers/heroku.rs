//! Heroku's `GET <base>/api/v4/current-status`.
//!
//! `status[]` colours each system green, yellow or red; `incidents[]` and
//! `scheduled[]` carry a `state` and a `resolved` flag that do not always
//! agree. We trust `state`: an incident whose state is not over is open,
//! whatever `resolved` says.

use serde::Deserialize;

use super::{
    FetchError, Level, MAX_INCIDENTS_KEPT, MAX_TEXT, ProviderIncident, ProviderStatus, is_closed,
    one_line, summary_line, web_url,
};

#[derive(Deserialize)]
struct CurrentStatus {
    status: Option<Vec<System>>,
    incidents: Option<Vec<Incident>>,
    scheduled: Option<Vec<Incident>>,
}

#[derive(Deserialize)]
struct System {
    system: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
struct Incident {
    title: Option<String>,
    state: Option<String>,
    full_url: Option<String>,
    systems: Option<Vec<IncidentSystem>>,
}

#[derive(Deserialize)]
struct IncidentSystem {
    status: Option<String>,
}

pub(super) fn parse(name: String, body: &[u8]) -> Result<ProviderStatus, FetchError> {
    let current: CurrentStatus = serde_json::from_slice(body).map_err(FetchError::unparseable)?;
    let Some(systems) = current.status else {
        return Err(FetchError::unparseable("no `status` array"));
    };

    let mut level = Level::Operational;
    let mut affected = Vec::new();
    for system in &systems {
        let colour = color_level(system.status.as_deref());
        level = level.max(colour);
        if colour > Level::Operational {
            affected.push(one_line(system.system.as_deref().unwrap_or("unnamed"), 60));
        }
    }

    let mut incidents = Vec::new();
    let open = current
        .incidents
        .iter()
        .flatten()
        .filter(|i| !i.state.as_deref().is_some_and(is_closed));
    for incident in open {
        // An open incident is at least minor, even over all-green systems.
        let worst = incident
            .systems
            .iter()
            .flatten()
            .map(|s| color_level(s.status.as_deref()))
            .max()
            .unwrap_or(Level::Operational);
        level = level.max(worst.max(Level::Minor));
        incidents.push(incident_row(incident, "open"));
    }
    // `scheduled[]` lists upcoming and finished work too.
    let under_way = current.scheduled.iter().flatten().filter(|m| {
        m.state
            .as_deref()
            .is_some_and(|s| s.to_ascii_lowercase().replace(' ', "_") == "in_progress")
    });
    for maintenance in under_way {
        level = level.max(Level::Maintenance);
        incidents.push(incident_row(maintenance, "maintenance"));
    }
    incidents.truncate(MAX_INCIDENTS_KEPT);

    Ok(ProviderStatus {
        name,
        level,
        summary: summary_line(level.label(), &affected),
        incidents,
    })
}

fn incident_row(incident: &Incident, default_status: &str) -> ProviderIncident {
    ProviderIncident {
        title: one_line(incident.title.as_deref().unwrap_or("Untitled"), MAX_TEXT),
        status: one_line(incident.state.as_deref().unwrap_or(default_status), 30),
        url: web_url(incident.full_url.as_deref()),
    }
}

/// Heroku's colours. Red is an outage, not necessarily a total one, so it
/// is major: critical is a word Heroku never says. Anything unknown that
/// is not green counts as minor.
fn color_level(colour: Option<&str>) -> Level {
    match colour {
        None | Some("green") => Level::Operational,
        Some("blue") => Level::Maintenance,
        Some("red") => Level::Major,
        Some(_) => Level::Minor,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SAMPLE: &str =
        include_str!("../../tests/fixtures/providers/heroku_v4_current-status.json");

    fn read(body: &str) -> ProviderStatus {
        parse("Heroku".to_owned(), body.as_bytes()).unwrap()
    }

    #[test]
    fn the_sample_is_minor_with_apps_affected_and_the_router_incident() {
        let status = read(SAMPLE);
        assert_eq!(status.level, Level::Minor);
        assert_eq!(status.summary, "Minor issues · Affected: Apps");
        assert_eq!(
            status.incidents,
            [ProviderIncident {
                title: "Increased Router Errors".into(),
                status: "investigating".into(),
                url: Some("https://status.heroku.com/incidents/2963".parse().unwrap()),
            }]
        );
    }

    #[test]
    fn all_green_with_nothing_open_is_operational() {
        let status = read(
            &json!({"status": [{"system": "Apps", "status": "green"}], "incidents": [], "scheduled": null})
                .to_string(),
        );
        assert_eq!(status.level, Level::Operational);
        assert_eq!(status.summary, "All systems operational");
    }

    #[test]
    fn state_is_trusted_over_the_resolved_flag() {
        let body = json!({
            "status": [{"system": "Apps", "status": "green"}],
            "incidents": [
                {"title": "Still open", "state": "monitoring", "resolved": true},
                {"title": "Over", "state": "resolved", "resolved": false},
            ],
        });
        let status = read(&body.to_string());
        assert_eq!(status.level, Level::Minor);
        assert_eq!(status.incidents.len(), 1);
        assert_eq!(status.incidents[0].title, "Still open");
    }

    #[test]
    fn red_is_major_and_an_incident_takes_its_systems_colour() {
        let body = json!({
            "status": [{"system": "Data", "status": "green"}],
            "incidents": [{"title": "DB down", "state": "identified",
                           "systems": [{"name": "Data", "status": "red"}]}],
        });
        assert_eq!(read(&body.to_string()).level, Level::Major);
    }

    #[test]
    fn only_maintenance_in_progress_counts() {
        // The sample's maintenance is "upcoming".
        assert!(
            !read(SAMPLE)
                .incidents
                .iter()
                .any(|i| i.title.contains("Maintenance"))
        );
        let body = json!({
            "status": [],
            "scheduled": [{"title": "Platform maintenance", "state": "in progress"}],
        });
        let status = read(&body.to_string());
        assert_eq!(status.level, Level::Maintenance);
        assert_eq!(status.incidents[0].status, "in progress");
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in [
            "",
            "{}",
            "{\"status\": null}",
            "{\"status\": \"green\"}",
            "{\"status\": [], \"incidents\": {}}",
            "<html>",
        ] {
            assert!(
                matches!(
                    parse("Heroku".into(), body.as_bytes()),
                    Err(FetchError::Unparseable { .. })
                ),
                "{body}"
            );
        }
    }
}
