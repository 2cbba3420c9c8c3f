//! Atlassian Statuspage's public `GET <base>/api/v2/summary.json`.
//!
//! The page's own `status.indicator` can say `none` while an incident is
//! open or a component is down, so the level is the worst of the
//! indicator, the open incidents' impacts, the maintenances in progress and
//! the component statuses. Pages hosted elsewhere copy the format loosely:
//! every array may be missing or `null`, every field may be missing.

use serde::Deserialize;

use super::{
    FetchError, Level, MAX_INCIDENTS_KEPT, MAX_TEXT, ProviderIncident, ProviderStatus, is_closed,
    one_line, summary_line, web_url,
};

#[derive(Deserialize)]
struct Summary {
    status: Option<PageStatus>,
    components: Option<Vec<Component>>,
    incidents: Option<Vec<Incident>>,
    scheduled_maintenances: Option<Vec<Incident>>,
}

#[derive(Deserialize)]
struct PageStatus {
    indicator: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct Component {
    name: Option<String>,
    status: Option<String>,
    group: Option<bool>,
}

#[derive(Deserialize)]
struct Incident {
    name: Option<String>,
    status: Option<String>,
    impact: Option<String>,
    shortlink: Option<String>,
}

/// Reads a `summary.json` body. A body that is not JSON, or has neither
/// `status` nor `components`, is not a Statuspage summary.
pub(super) fn parse(name: String, body: &[u8]) -> Result<ProviderStatus, FetchError> {
    let summary: Summary = serde_json::from_slice(body).map_err(FetchError::unparseable)?;
    if summary.status.is_none() && summary.components.is_none() {
        return Err(FetchError::unparseable("neither `status` nor `components`"));
    }

    let indicator = summary
        .status
        .as_ref()
        .and_then(|s| s.indicator.as_deref())
        .map(indicator_level);
    let mut level = indicator.unwrap_or(Level::Operational);

    let mut affected = Vec::new();
    for component in summary.components.iter().flatten() {
        // A group's status is the roll-up of its members, which are listed
        // too; counting both would name the outage twice.
        if component.group == Some(true) || is_placeholder(component) {
            continue;
        }
        let Some(status) = component.status.as_deref().and_then(component_level) else {
            continue;
        };
        level = level.max(status);
        if status > Level::Operational {
            let name = one_line(component.name.as_deref().unwrap_or("unnamed"), 60);
            let said = component
                .status
                .as_deref()
                .unwrap_or_default()
                .replace('_', " ");
            affected.push(format!("{name} ({})", one_line(&said, 30)));
        }
    }

    let mut incidents = Vec::new();
    let open = summary
        .incidents
        .iter()
        .flatten()
        .filter(|i| !i.status.as_deref().is_some_and(is_closed));
    for incident in open {
        level = level.max(impact_level(incident.impact.as_deref()));
        incidents.push(incident_row(incident, "open"));
    }
    // Listed maintenances include upcoming ones; only those under way count.
    let under_way = summary
        .scheduled_maintenances
        .iter()
        .flatten()
        .filter(|m| matches!(m.status.as_deref(), Some("in_progress" | "verifying")));
    for maintenance in under_way {
        level = level.max(Level::Maintenance);
        incidents.push(incident_row(maintenance, "maintenance"));
    }
    incidents.truncate(MAX_INCIDENTS_KEPT);

    // The page's own words, unless what we found is worse than what it says
    // (an open incident under "All Systems Operational").
    let description = summary
        .status
        .as_ref()
        .and_then(|s| s.description.as_deref())
        .map(|d| one_line(d, MAX_TEXT))
        .filter(|d| !d.is_empty());
    let headline = match description {
        Some(d) if indicator == Some(level) => d,
        _ => level.label().to_owned(),
    };

    Ok(ProviderStatus {
        name,
        level,
        summary: summary_line(&headline, &affected),
        incidents,
    })
}

fn incident_row(incident: &Incident, default_status: &str) -> ProviderIncident {
    let status = incident.status.as_deref().unwrap_or(default_status);
    ProviderIncident {
        title: one_line(incident.name.as_deref().unwrap_or("Untitled"), MAX_TEXT),
        status: one_line(&status.replace('_', " "), 30),
        url: web_url(incident.shortlink.as_deref()),
    }
}

/// `status.indicator`. An indicator we do not know is not `none`, so it
/// counts as minor rather than green.
fn indicator_level(indicator: &str) -> Level {
    match indicator {
        "none" => Level::Operational,
        "maintenance" => Level::Maintenance,
        "major" => Level::Major,
        "critical" => Level::Critical,
        _ => Level::Minor,
    }
}

/// An open incident's `impact`; an open incident with `none` (or no
/// impact) is listed but does not raise the level.
fn impact_level(impact: Option<&str>) -> Level {
    match impact {
        None | Some("none") => Level::Operational,
        Some(other) => indicator_level(other),
    }
}

/// A component's `status`. Components alone never make a page critical:
/// Statuspage's own roll-up calls one major outage "major", and critical is
/// left to the page's indicator and incident impacts, which people set.
/// An unknown word is ignored: loose copies invent their own.
fn component_level(status: &str) -> Option<Level> {
    Some(match status {
        "operational" => Level::Operational,
        "under_maintenance" => Level::Maintenance,
        "degraded_performance" => Level::Minor,
        "partial_outage" | "major_outage" => Level::Major,
        _ => return None,
    })
}

/// GitHub lists "Visit www.githubstatus.com for more information" as a
/// component: a link, not a service.
fn is_placeholder(component: &Component) -> bool {
    let name = component
        .name
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    name.starts_with("visit ") && name.ends_with("for more information")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const GITHUB_OK: &str =
        include_str!("../../tests/fixtures/providers/statuspage_v2_summary.github.ok.json");
    const GITHUB_INCIDENT: &str =
        include_str!("../../tests/fixtures/providers/statuspage_v2_summary.github.incident.json");

    fn read(body: &str) -> ProviderStatus {
        parse("GitHub".to_owned(), body.as_bytes()).unwrap()
    }

    fn read_json(body: Value) -> ProviderStatus {
        read(&body.to_string())
    }

    #[test]
    fn an_all_green_github_is_operational_with_its_own_words() {
        let status = read(GITHUB_OK);
        assert_eq!(status.level, Level::Operational);
        assert_eq!(status.summary, "All Systems Operational");
        assert!(status.incidents.is_empty());
    }

    #[test]
    fn github_during_an_incident_is_major_with_the_incident_and_the_broken_component() {
        let status = read(GITHUB_INCIDENT);
        assert_eq!(status.level, Level::Major);
        assert_eq!(
            status.summary,
            "Partial System Outage · Affected: Actions (major outage)"
        );
        assert_eq!(
            status.incidents,
            [ProviderIncident {
                title: "Incident with Pages and Actions".into(),
                status: "investigating".into(),
                url: Some("https://stspg.io/mc6sr407p78b".parse().unwrap()),
            }]
        );
    }

    #[test]
    fn a_scheduled_maintenance_that_has_not_started_changes_nothing() {
        // The incident sample lists an upcoming Codespaces maintenance.
        let status = read(GITHUB_INCIDENT);
        assert!(
            !status
                .incidents
                .iter()
                .any(|i| i.title.contains("Codespaces"))
        );
    }

    #[test]
    fn an_open_incident_under_a_none_indicator_still_counts() {
        let status = read_json(json!({
            "status": {"indicator": "none", "description": "All Systems Operational"},
            "components": [],
            "incidents": [{"name": "Slow builds", "status": "identified", "impact": "minor",
                           "shortlink": "https://stspg.io/x"}],
        }));
        assert_eq!(status.level, Level::Minor);
        // The page's "All Systems Operational" would contradict the row.
        assert_eq!(status.summary, "Minor issues");
        assert_eq!(status.incidents.len(), 1);
    }

    #[test]
    fn a_degraded_component_under_a_none_indicator_still_counts() {
        let status = read_json(json!({
            "status": {"indicator": "none", "description": "All Systems Operational"},
            "components": [
                {"name": "API", "status": "degraded_performance", "group": false},
                {"name": "Web", "status": "operational"},
            ],
        }));
        assert_eq!(status.level, Level::Minor);
        assert_eq!(
            status.summary,
            "Minor issues · Affected: API (degraded performance)"
        );
    }

    #[test]
    fn the_worst_of_indicator_impacts_and_components_wins() {
        let status = read_json(json!({
            "status": {"indicator": "minor", "description": "Minor Service Outage"},
            "components": [{"name": "API", "status": "degraded_performance"}],
            "incidents": [{"name": "Everything is down", "status": "investigating", "impact": "critical"}],
        }));
        assert_eq!(status.level, Level::Critical);
    }

    #[test]
    fn a_maintenance_under_way_is_maintenance_and_listed() {
        let status = read_json(json!({
            "status": {"indicator": "maintenance", "description": "Service Under Maintenance"},
            "components": [{"name": "DB", "status": "under_maintenance"}],
            "scheduled_maintenances": [
                {"name": "DB upgrade", "status": "in_progress", "impact": "maintenance"},
                {"name": "Later", "status": "scheduled", "impact": "maintenance"},
            ],
        }));
        assert_eq!(status.level, Level::Maintenance);
        assert_eq!(status.incidents.len(), 1);
        assert_eq!(status.incidents[0].status, "in progress");
    }

    #[test]
    fn null_arrays_and_missing_fields_are_tolerated() {
        let status = read_json(json!({
            "status": {"indicator": "none"},
            "components": null,
            "incidents": null,
            "scheduled_maintenances": null,
        }));
        assert_eq!(status.level, Level::Operational);
        assert_eq!(status.summary, "All systems operational");

        let status = read_json(json!({
            "components": [{"status": "major_outage"}, {}],
            "incidents": [{}],
        }));
        assert_eq!(status.level, Level::Major);
        assert_eq!(status.incidents[0].title, "Untitled");
    }

    #[test]
    fn resolved_incidents_and_group_rows_are_ignored() {
        let status = read_json(json!({
            "status": {"indicator": "none", "description": "All Systems Operational"},
            "components": [{"name": "Group", "status": "major_outage", "group": true}],
            "incidents": [{"name": "Old", "status": "resolved", "impact": "major"},
                          {"name": "Older", "status": "postmortem", "impact": "critical"}],
        }));
        assert_eq!(status.level, Level::Operational);
        assert!(status.incidents.is_empty());
    }

    #[test]
    fn unknown_words_are_never_green_for_the_page_and_ignored_for_components() {
        let status = read_json(json!({
            "status": {"indicator": "degraded", "description": "Something"},
            "components": [{"name": "X", "status": "sparkling"}],
        }));
        assert_eq!(status.level, Level::Minor);
        assert_eq!(status.summary, "Something");
    }

    #[test]
    fn hostile_text_stays_plain_text_on_one_line_and_bad_links_go() {
        let status = read_json(json!({
            "status": {"indicator": "major", "description": "<!channel>\nall\tdown"},
            "components": [],
            "incidents": [{"name": format!("<@U1> {}", "x".repeat(5000)), "status": "investigating",
                           "impact": "major", "shortlink": "javascript:alert(1)"}],
        }));
        // Escaping is the view's job; here it is one plain line, cut short.
        assert_eq!(status.summary, "<!channel> all down");
        assert_eq!(status.incidents[0].title.chars().count(), MAX_TEXT);
        assert_eq!(status.incidents[0].url, None);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let deep = "[".repeat(100_000);
        let bodies: &[&[u8]] = &[
            b"",
            b"<html>502 Bad Gateway</html>",
            b"{}",
            b"[]",
            b"null",
            b"{\"status\": \"none\"}",
            b"{\"components\": 7}",
            b"{\"status\": {\"indicator\": 3}}",
            b"{\"status\": {\"indicator\": \"none\"}",
            b"\xff\xfe{}",
            deep.as_bytes(),
        ];
        for body in bodies {
            let result = parse("X".into(), body);
            assert!(
                matches!(result, Err(FetchError::Unparseable { .. })),
                "{:?}: {result:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
