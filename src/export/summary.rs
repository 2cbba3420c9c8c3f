//! `janus export --summary`: how the last 30 days went, per severity —
//! how many incidents, how long until someone took command, how long until
//! they were resolved (median and 90th percentile).

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use super::markdown::duration;
use crate::config::Config;
use crate::store::{History, StoreError};

/// The window the summary covers.
pub const WINDOW: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// One severity's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub severity: String,
    pub label: String,
    pub count: usize,
    /// From the declaration to the first holder of the first role (the
    /// commander), over the incidents that had one.
    pub to_commander: Figures,
    /// From the declaration to resolution, over the resolved incidents.
    pub to_resolve: Figures,
}

/// Median and 90th percentile, in seconds, of `n` incidents.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub n: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

impl Figures {
    fn of(mut seconds: Vec<i64>) -> Self {
        seconds.sort_unstable();
        // Nearest rank: the smallest value at or above the share asked for.
        let rank = |share: f64| -> Option<i64> {
            if seconds.is_empty() {
                return None;
            }
            let at = ((share * seconds.len() as f64).ceil() as usize).clamp(1, seconds.len());
            Some(seconds[at - 1])
        };
        Self {
            n: seconds.len(),
            median_seconds: rank(0.5),
            p90_seconds: rank(0.9),
        }
    }

    fn shown(&self) -> String {
        match (self.median_seconds, self.p90_seconds) {
            (Some(median), Some(p90)) => {
                format!("{} / {} (n={})", duration(median), duration(p90), self.n)
            }
            _ => "—".to_owned(),
        }
    }
}

/// The figures of the incidents declared in the last [`WINDOW`], one row
/// per configured severity (most severe first), then any others.
pub async fn summary(history: &dyn History, config: &Config) -> Result<Vec<Row>, StoreError> {
    let catalog = &config.incident.catalog;
    let commander = catalog.roles().first().map(|r| r.key().to_owned());
    let incidents = history.declared_within(WINDOW).await?;
    let mut per: Vec<(String, Vec<i64>, Vec<i64>, usize)> = catalog
        .severities()
        .iter()
        .map(|s| (s.value().to_owned(), Vec::new(), Vec::new(), 0))
        .collect();
    for incident in incidents {
        let entries = history.history(incident.id).await?;
        let declared = entries
            .iter()
            .find(|e| e.kind == "declared")
            .map_or(incident.created_at, |e| e.at);
        let took_command = entries.iter().find(|e| {
            e.kind == "role"
                && e.detail.get("holder").and_then(|h| h.as_str()).is_some()
                && e.detail.get("role").and_then(|r| r.as_str()) == commander.as_deref()
        });
        let slot = match per.iter().position(|(s, ..)| *s == incident.severity) {
            Some(i) => i,
            None => {
                per.push((incident.severity.clone(), Vec::new(), Vec::new(), 0));
                per.len() - 1
            }
        };
        let row = &mut per[slot];
        row.3 += 1;
        if let Some(e) = took_command {
            row.1.push((e.at - declared).num_seconds());
        }
        if let Some(resolved) = incident.resolved_at {
            row.2.push((resolved - declared).num_seconds());
        }
    }
    Ok(per
        .into_iter()
        .map(|(severity, commander, resolve, count)| Row {
            label: catalog
                .severity(&severity)
                .map_or_else(|| severity.clone(), |c| c.label().to_owned()),
            severity,
            count,
            to_commander: Figures::of(commander),
            to_resolve: Figures::of(resolve),
        })
        .collect())
}

/// The summary as a Markdown table.
pub fn summary_markdown(rows: &[Row]) -> String {
    let total: usize = rows.iter().map(|r| r.count).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Incidents of the last 30 days: {total}\n\n\
         Median / 90th percentile, from the declaration.\n\n\
         | Severity | Incidents | Until a commander | Until resolved |\n\
         |---|---|---|---|"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.label,
            r.count,
            r.to_commander.shown(),
            r.to_resolve.shown()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Figures;

    #[test]
    fn median_and_p90_are_nearest_ranks() {
        let f = Figures::of(vec![50, 10, 40, 20, 30, 60, 70, 80, 90, 100]);
        assert_eq!(
            (f.n, f.median_seconds, f.p90_seconds),
            (10, Some(50), Some(90))
        );
        let one = Figures::of(vec![7]);
        assert_eq!((one.median_seconds, one.p90_seconds), (Some(7), Some(7)));
        let none = Figures::of(Vec::new());
        assert_eq!((none.n, none.median_seconds), (0, None));
        assert_eq!(none.shown(), "—");
    }
}
