//! The data of the `provider_snapshot` template
//! ([`crate::render::context::ProviderSnapshot`]). This is where third-party text becomes
//! `mrkdwn`: every string from a provider goes through
//! [`SlackText::from_user`] and is cut to a length that keeps each row well
//! inside Slack's 3000-character section limit.

use chrono::{DateTime, Utc};
use url::Url;

use super::{Level, ProviderIncident, ProviderResult, WARNING_EMOJI};
use crate::domain::text::{SlackText, escape_mrkdwn};
use crate::render::context::{ProviderIncidentRow, ProviderRow, ProviderSnapshot, Worst};

/// Incidents listed per provider; the rest are counted. Three titles with
/// links is what fits a glance, and keeps a row under the section limit.
pub const MAX_INCIDENTS_SHOWN: usize = 3;
/// Providers shown; with a header, a context and an actions block this
/// stays under Slack's 50 blocks per message.
pub const MAX_PROVIDERS_SHOWN: usize = 45;

const MAX_NAME: usize = 50;
const MAX_SUMMARY: usize = 300;
const MAX_TITLE: usize = 150;
const MAX_STATUS: usize = 30;
/// Longer links are dropped (the title stays): a status page's incident
/// link is short, and a long one would crowd out the rest of the row.
const MAX_URL: usize = 500;

/// The level of a row we could not read, in the template data.
const UNKNOWN: &str = "unknown";

/// The template data for `results`, checked at `checked_at`.
pub fn view(results: &[ProviderResult], checked_at: DateTime<Utc>) -> ProviderSnapshot {
    ProviderSnapshot {
        worst: worst(results),
        providers: results.iter().take(MAX_PROVIDERS_SHOWN).map(row).collect(),
        more_providers: results.len().saturating_sub(MAX_PROVIDERS_SHOWN),
        unreachable: results.iter().filter(|r| r.is_warning()).count(),
        checked_at: crate::domain::text::slack_time(checked_at),
    }
}

/// The worst level among providers that answered. A provider that did not
/// answer is worse than green (we do not know) but not an outage.
fn worst(results: &[ProviderResult]) -> Worst {
    let answered = results.iter().filter_map(ProviderResult::level).max();
    let any_failed = results.iter().any(ProviderResult::is_warning);
    match answered {
        Some(level) if level >= Level::Minor || !any_failed => Worst {
            level: level.as_str(),
            label: level.label(),
            emoji: level.emoji(),
        },
        None if !any_failed => Worst {
            level: Level::Operational.as_str(),
            label: Level::Operational.label(),
            emoji: Level::Operational.emoji(),
        },
        _ => Worst {
            level: UNKNOWN,
            label: "Not every provider answered",
            emoji: WARNING_EMOJI,
        },
    }
}

fn row(result: &ProviderResult) -> ProviderRow {
    let name = SlackText::from_user(result.name()).truncate_chars(MAX_NAME);
    match result {
        ProviderResult::Answered(status) => {
            let shown = status.incidents.iter().take(MAX_INCIDENTS_SHOWN);
            ProviderRow {
                name,
                level: status.level.as_str(),
                emoji: status.level.emoji(),
                summary: SlackText::from_user(&status.summary).truncate_chars(MAX_SUMMARY),
                warning: false,
                incidents: shown.map(incident_row).collect(),
                more_incidents: status.incidents.len().saturating_sub(MAX_INCIDENTS_SHOWN),
            }
        }
        ProviderResult::Failed { reason, .. } => ProviderRow {
            name,
            level: UNKNOWN,
            emoji: WARNING_EMOJI,
            summary: SlackText::from_user(&reason.to_string()),
            warning: true,
            incidents: Vec::new(),
            more_incidents: 0,
        },
    }
}

fn incident_row(incident: &ProviderIncident) -> ProviderIncidentRow {
    ProviderIncidentRow {
        title: SlackText::from_user(&incident.title).truncate_chars(MAX_TITLE),
        status: SlackText::from_user(&status_label(&incident.status)).truncate_chars(MAX_STATUS),
        url: incident.url.as_ref().and_then(link_target),
    }
}

/// A provider's incident status as people read it: a Statuspage status's
/// label (`Identified`, not `identified`), any other word made into one.
fn status_label(status: &str) -> String {
    crate::statuspage::IncidentStatus::from_wire(status).map_or_else(
        || crate::domain::text::humanize(status),
        |s| s.label().to_owned(),
    )
}

/// A URL as the target of a `<url|text>` link: `&`, `<`, `>` escaped as
/// Slack asks, and `|` percent-encoded so it cannot end the target early.
/// Only `http(s)`, which the parsers already guarantee; checked again here
/// because this is the line that makes a string clickable.
fn link_target(url: &Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let target = escape_mrkdwn(url.as_str()).replace('|', "%7C");
    // Measured escaped: each `&` grows to five characters.
    (target.chars().count() <= MAX_URL).then_some(target)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use chrono::TimeZone;
    use serde_json::{Value, json};

    use super::*;
    use crate::providers::{FetchError, ProviderStatus};
    use crate::render::Renderer;

    /// The snapshot as the template receives it.
    fn view(results: &[ProviderResult], checked_at: DateTime<Utc>) -> Value {
        serde_json::to_value(super::view(results, checked_at)).unwrap()
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 15, 42, 10).unwrap()
    }

    fn answered(name: &str, level: Level, incidents: usize) -> ProviderResult {
        ProviderResult::Answered(ProviderStatus {
            name: name.into(),
            level,
            summary: level.label().into(),
            incidents: (0..incidents)
                .map(|i| ProviderIncident {
                    title: format!("Incident {i}"),
                    status: "investigating".into(),
                    url: Some(format!("https://stspg.io/{i}").parse().unwrap()),
                })
                .collect(),
        })
    }

    fn failed(name: &str) -> ProviderResult {
        ProviderResult::Failed {
            name: name.into(),
            reason: FetchError::Timeout(Duration::from_secs(5)),
        }
    }

    #[test]
    fn the_worst_answered_level_heads_the_snapshot() {
        let v = view(
            &[
                answered("GitHub", Level::Minor, 0),
                answered("Heroku", Level::Critical, 0),
                answered("Slack", Level::Operational, 0),
            ],
            at(),
        );
        assert_eq!(
            v["worst"],
            json!({"level": "critical", "label": "Critical outage", "emoji": "🔴"})
        );
        let shown = v["checked_at"].as_str().unwrap();
        assert!(
            shown.starts_with("<!date^"),
            "each reader's own zone: {shown}"
        );
        assert!(
            shown.ends_with("|15:42 UTC>"),
            "with a UTC fallback: {shown}"
        );
        assert_eq!(v["unreachable"], 0);
    }

    #[test]
    fn a_failed_provider_is_a_warning_row_and_keeps_an_all_green_snapshot_from_being_green() {
        let v = view(
            &[answered("Slack", Level::Operational, 0), failed("GitHub")],
            at(),
        );
        assert_eq!(v["worst"]["level"], "unknown");
        assert_eq!(v["worst"]["emoji"], "⚠️");
        assert_eq!(v["unreachable"], 1);
        let row = &v["providers"][1];
        assert_eq!(row["name"], "GitHub");
        assert_eq!(row["warning"], true);
        assert_eq!(row["level"], "unknown");
        assert_eq!(row["summary"], "no answer in 5 s");

        // An outage someone reported is still the headline.
        let v = view(
            &[answered("Slack", Level::Major, 0), failed("GitHub")],
            at(),
        );
        assert_eq!(v["worst"]["level"], "major");
    }

    #[test]
    fn incidents_are_capped_and_the_rest_counted() {
        let v = view(&[answered("GitHub", Level::Major, 5)], at());
        let row = &v["providers"][0];
        assert_eq!(
            row["incidents"].as_array().unwrap().len(),
            MAX_INCIDENTS_SHOWN
        );
        assert_eq!(row["more_incidents"], 2);
        assert_eq!(row["incidents"][0]["url"], "https://stspg.io/0");
    }

    #[test]
    fn providers_beyond_the_cap_are_counted() {
        let many: Vec<_> = (0..50)
            .map(|i| answered(&format!("P{i}"), Level::Operational, 0))
            .collect();
        let v = view(&many, at());
        assert_eq!(
            v["providers"].as_array().unwrap().len(),
            MAX_PROVIDERS_SHOWN
        );
        assert_eq!(v["more_providers"], 5);
    }

    #[test]
    fn third_party_text_is_escaped_and_links_cannot_break_out() {
        let hostile = ProviderResult::Answered(ProviderStatus {
            name: "Evil <!here>".into(),
            level: Level::Minor,
            summary: "<!channel> & <@U1>".into(),
            incidents: vec![ProviderIncident {
                title: "<http://evil.example|click> & co".into(),
                status: "<b>".into(),
                url: Some("https://evil.example/a|b?x=1&y=<2>".parse().unwrap()),
            }],
        });
        let v = view(&[hostile], at());
        let row = &v["providers"][0];
        assert_eq!(row["name"], "Evil &lt;!here&gt;");
        assert_eq!(row["summary"], "&lt;!channel&gt; &amp; &lt;@U1&gt;");
        let incident = &row["incidents"][0];
        assert_eq!(
            incident["title"],
            "&lt;http://evil.example|click&gt; &amp; co"
        );
        assert_eq!(incident["status"], "&lt;b&gt;");
        assert_eq!(
            incident["url"],
            "https://evil.example/a%7Cb?x=1&amp;y=%3C2%3E"
        );
    }

    fn render(data: &Value) -> Value {
        crate::install_crypto_provider();
        Renderer::load(None)
            .unwrap()
            .render("provider_snapshot", data)
            .unwrap()
    }

    /// Every object key, by path, with array items merged.
    fn shape(v: &Value, path: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let p = format!("{path}.{k}");
                    out.insert(p.clone());
                    shape(v, &p, out);
                }
            }
            Value::Array(items) => items
                .iter()
                .for_each(|v| shape(v, &format!("{path}[]"), out)),
            _ => {}
        }
    }

    #[test]
    fn the_view_has_the_shape_of_the_template_sample() {
        let sample = Renderer::sample("provider_snapshot").unwrap();
        let ours = view(
            &[answered("GitHub", Level::Major, 1), failed("Heroku")],
            at(),
        );
        let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
        shape(&sample, "", &mut a);
        shape(&ours, "", &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn the_snapshot_message_has_a_row_per_provider_links_and_a_refresh_button() {
        let v = view(
            &[
                answered("GitHub", Level::Major, 4),
                failed("Heroku"),
                answered("Slack", Level::Operational, 0),
            ],
            at(),
        );
        let out = render(&v);
        let blocks = out.as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"], "🟠 Third-party status");
        assert_eq!(
            blocks[1]["text"]["text"],
            "🟠 *GitHub*: Major outage\n\
             • <https://stspg.io/0|Incident 0> · _Investigating_\n\
             • <https://stspg.io/1|Incident 1> · _Investigating_\n\
             • <https://stspg.io/2|Incident 2> · _Investigating_\n\
             • …and 1 more"
        );
        assert_eq!(blocks[2]["text"]["text"], "⚠️ *Heroku*: _no answer in 5 s_");
        assert_eq!(
            blocks[3]["text"]["text"],
            "🟢 *Slack*: All systems operational"
        );
        let context = blocks[4]["elements"][0]["text"].as_str().unwrap();
        assert!(
            context.starts_with("Checked at <!date^")
                && context.contains("|15:42 UTC> · 1 did not answer"),
            "{context}"
        );
        let button = &blocks[5]["elements"][0];
        assert_eq!(
            button["action_id"],
            crate::domain::block_ids::action::PROVIDERS_REFRESH
        );
        assert_eq!(button["text"]["text"], "Refresh");
        assert_eq!(blocks.len(), 6);
    }

    #[test]
    fn the_template_sample_renders_without_pings() {
        let out = render(&Renderer::sample("provider_snapshot").unwrap());
        let all = out.to_string();
        assert!(!crate::domain::text::has_special_mention(&all), "{all}");
        assert!(!all.contains("<http://evil"), "{all}");
        assert!(
            all.contains("<https://stspg.io/mc6sr407p78b|Incident with Pages and Actions>"),
            "{all}"
        );
    }

    #[test]
    fn many_long_providers_fit_slack_limits() {
        let long = |i: usize| {
            ProviderResult::Answered(ProviderStatus {
                name: format!("provider-{i}-{}", "n".repeat(100)),
                level: Level::Critical,
                summary: "<&>".repeat(400),
                incidents: (0..10)
                    .map(|j| ProviderIncident {
                        title: "<&>".repeat(400),
                        status: "&".repeat(100),
                        url: Some(
                            format!("https://e.example/{j}/{}", "&".repeat(440))
                                .parse()
                                .unwrap(),
                        ),
                    })
                    .collect(),
            })
        };
        for n in [1, 15, 60] {
            let results: Vec<_> = (0..n).map(long).collect();
            // `render` validates: block count, section text length, ids.
            let out = render(&view(&results, at()));
            assert!(out.as_array().unwrap().len() <= 50, "{n}");
        }
    }

    #[test]
    fn overlong_text_and_links_are_cut() {
        let long = ProviderResult::Answered(ProviderStatus {
            name: "x".repeat(500),
            level: Level::Minor,
            summary: "&".repeat(2000),
            incidents: vec![ProviderIncident {
                title: "t".repeat(1000),
                status: "s".repeat(100),
                url: Some(
                    format!("https://e.example/{}", "p".repeat(600))
                        .parse()
                        .unwrap(),
                ),
            }],
        });
        let v = view(&[long], at());
        let row = &v["providers"][0];
        let chars = |v: &Value| v.as_str().unwrap().chars().count();
        assert!(chars(&row["name"]) <= MAX_NAME);
        assert!(chars(&row["summary"]) <= MAX_SUMMARY);
        assert!(row["summary"].as_str().unwrap().ends_with("&amp;…"));
        assert!(chars(&row["incidents"][0]["title"]) <= MAX_TITLE);
        assert!(chars(&row["incidents"][0]["status"]) <= MAX_STATUS);
        assert_eq!(row["incidents"][0]["url"], Value::Null);
    }
}
