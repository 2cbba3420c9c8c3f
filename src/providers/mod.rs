//! Third-party status: what GitHub, Heroku, Slack (and any other Statuspage
//! page) say about themselves, fetched when an incident is declared and
//! posted as one message in its channel.
//!
//! - [`ProviderClient`] fetches every configured provider at once, with its
//!   own HTTP client (short timeout, few redirects, a body cap, never an
//!   auth header) and turns each answer into a [`ProviderResult`].
//! - `statuspage_v2`, `heroku` and `slack` each read one format into a
//!   [`ProviderStatus`]: no IO, so they are tested over the samples alone.
//! - [`view`] turns the results into the data of the `provider_snapshot`
//!   template.
//!
//! What must stay true: a provider that cannot be read is a warning row,
//! never green and never an error that stops the incident; and third-party
//! text is plain text here, escaped for `mrkdwn` only in [`view`].

mod client;
mod heroku;
mod slack;
mod source;
mod statuspage_v2;
mod view;

use std::time::Duration;

use url::Url;

pub use client::{DEFAULT_TIMEOUT, MAX_BODY_BYTES, ProviderClient};
pub use source::{Format, display_name, endpoint};
pub use view::{MAX_INCIDENTS_SHOWN, MAX_PROVIDERS_SHOWN, view};

/// How bad things are at a provider. The order is the "worst of" order:
/// a planned maintenance is better than any outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Operational,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Level {
    /// The stable name templates and logs see.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Operational => "operational",
            Level::Maintenance => "maintenance",
            Level::Minor => "minor",
            Level::Major => "major",
            Level::Critical => "critical",
        }
    }

    /// Our own words for the level, used when the provider gave none.
    pub fn label(self) -> &'static str {
        match self {
            Level::Operational => "All systems operational",
            Level::Maintenance => "Under maintenance",
            Level::Minor => "Minor issues",
            Level::Major => "Major outage",
            Level::Critical => "Critical outage",
        }
    }

    pub fn emoji(self) -> &'static str {
        match self {
            Level::Operational => "🟢",
            Level::Maintenance => "🔧",
            Level::Minor => "🟡",
            Level::Major => "🟠",
            Level::Critical => "🔴",
        }
    }
}

/// The emoji of a row we could not read.
pub const WARNING_EMOJI: &str = "⚠️";

/// What one provider says about itself. All text is plain, as the
/// provider wrote it (one line, cut short): not yet safe for `mrkdwn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderStatus {
    /// Display name, e.g. `GitHub`.
    pub name: String,
    /// The worst of everything the provider reports.
    pub level: Level,
    /// One short line: the provider's headline and what is affected.
    pub summary: String,
    /// Open incidents and maintenances in progress, in the provider's order.
    pub incidents: Vec<ProviderIncident>,
}

/// An open incident (or a maintenance in progress) at a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderIncident {
    pub title: String,
    /// The provider's word for it, e.g. `investigating`.
    pub status: String,
    /// Its page; only ever `http` or `https`.
    pub url: Option<Url>,
}

/// One row of the snapshot: a reading, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderResult {
    Answered(ProviderStatus),
    /// Shown as a warning row: we do not know, so it is not green.
    Failed {
        name: String,
        reason: FetchError,
    },
}

impl ProviderResult {
    /// The display name of the provider.
    pub fn name(&self) -> &str {
        match self {
            ProviderResult::Answered(status) => &status.name,
            ProviderResult::Failed { name, .. } => name,
        }
    }

    /// The provider's level, or `None` when it could not be read.
    pub fn level(&self) -> Option<Level> {
        match self {
            ProviderResult::Answered(status) => Some(status.level),
            ProviderResult::Failed { .. } => None,
        }
    }

    pub fn is_warning(&self) -> bool {
        matches!(self, ProviderResult::Failed { .. })
    }
}

/// Why a provider has no reading. Each message is a short plain phrase
/// that completes "GitHub: …" for the person reading the channel; details
/// (the underlying error, the URL) go to the log instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("no answer in {}", seconds(*.0))]
    Timeout(Duration),
    #[error("could not connect")]
    Connect,
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("too many redirects")]
    Redirects,
    #[error("answer larger than {} KiB", .0 / 1024)]
    TooLarge(usize),
    /// The detail (a serde error, a missing field) is for the log.
    #[error("the answer is not a status we understand")]
    Unparseable { detail: String },
    #[error("no status URL configured")]
    NoUrl,
    #[error("the status URL is not http or https")]
    BadScheme,
    /// Anything else reqwest reports (TLS, a broken body); detail for the log.
    #[error("the request failed")]
    Other { detail: String },
}

impl FetchError {
    fn unparseable(detail: impl ToString) -> FetchError {
        FetchError::Unparseable {
            detail: detail.to_string(),
        }
    }
}

/// `5 s`, `0.25 s`: how a person reads a timeout.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

/// Longest title or status we keep from a provider, in characters.
const MAX_TEXT: usize = 200;
/// Most incidents we keep from one answer; the view shows fewer.
const MAX_INCIDENTS_KEPT: usize = 20;
/// Most affected components or systems named in a summary.
const MAX_AFFECTED_NAMED: usize = 3;

/// Third-party text as one plain line: whitespace runs (newlines included)
/// become one space, other control characters go, and it is cut to `max`
/// characters with an ellipsis.
fn one_line(raw: &str, max: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(max * 4));
    let mut count = 0;
    for word in raw.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if count > 0 {
            out.push(' ');
            count += 1;
        }
        for c in word.chars().filter(|c| !c.is_control()) {
            out.push(c);
            count += 1;
        }
        if count > max {
            break;
        }
    }
    if count > max {
        let cut = out
            .char_indices()
            .nth(max.saturating_sub(1))
            .map_or(out.len(), |(i, _)| i);
        out.truncate(cut);
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('…');
    }
    out
}

/// `Affected: A, B, C +2 more`, or `None` when nothing is affected.
fn affected(names: &[String]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let shown = names.iter().take(MAX_AFFECTED_NAMED);
    let mut out = format!(
        "Affected: {}",
        shown.cloned().collect::<Vec<_>>().join(", ")
    );
    if names.len() > MAX_AFFECTED_NAMED {
        out.push_str(&format!(" +{} more", names.len() - MAX_AFFECTED_NAMED));
    }
    Some(out)
}

/// `headline · Affected: …`, one line.
fn summary_line(headline: &str, affected_names: &[String]) -> String {
    let line = match affected(affected_names) {
        Some(affected) => format!("{headline} · {affected}"),
        None => headline.to_owned(),
    };
    one_line(&line, 2 * MAX_TEXT)
}

/// A link we are willing to show: parsed, and `http` or `https` only (no
/// `javascript:`, no `slack://`).
fn web_url(raw: Option<&str>) -> Option<Url> {
    let url = Url::parse(raw?.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// Incident and maintenance states that mean "over", across the formats.
fn is_closed(state: &str) -> bool {
    matches!(
        state.trim().to_ascii_lowercase().as_str(),
        "resolved" | "postmortem" | "completed" | "closed"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_order_from_operational_to_critical() {
        use Level::*;
        let mut levels = [Critical, Operational, Major, Maintenance, Minor];
        levels.sort();
        assert_eq!(levels, [Operational, Maintenance, Minor, Major, Critical]);
        assert_eq!([Minor, Critical, Major].into_iter().max(), Some(Critical));
    }

    #[test]
    fn a_failed_provider_has_no_level_and_is_a_warning() {
        let failed = ProviderResult::Failed {
            name: "GitHub".into(),
            reason: FetchError::Timeout(Duration::from_secs(5)),
        };
        assert_eq!(failed.level(), None);
        assert!(failed.is_warning());
        assert_eq!(failed.name(), "GitHub");
    }

    #[test]
    fn failure_reasons_read_as_short_phrases() {
        let cases = [
            (
                FetchError::Timeout(Duration::from_secs(5)),
                "no answer in 5 s",
            ),
            (
                FetchError::Timeout(Duration::from_millis(250)),
                "no answer in 0.25 s",
            ),
            (FetchError::Status(503), "answered HTTP 503"),
            (FetchError::TooLarge(1 << 20), "answer larger than 1024 KiB"),
            (
                FetchError::unparseable("expected value at line 1"),
                "the answer is not a status we understand",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn one_line_collapses_whitespace_and_drops_control_characters() {
        assert_eq!(one_line("  a\n\n b\tc\u{0}\u{1b}d  ", 50), "a b cd");
        assert_eq!(one_line("", 10), "");
    }

    #[test]
    fn one_line_cuts_long_text_with_an_ellipsis() {
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("ab cd ef", 4), "ab…");
        assert_eq!(one_line("🔥🔥🔥🔥🔥", 3), "🔥🔥…");
        assert_eq!(one_line(&"x ".repeat(100_000), 10).chars().count(), 10);
    }

    #[test]
    fn only_web_links_are_kept() {
        assert!(web_url(Some("https://stspg.io/x")).is_some());
        assert!(web_url(Some("http://status.example.com/i/1")).is_some());
        for bad in ["javascript:alert(1)", "slack://open", "not a url", ""] {
            assert_eq!(web_url(Some(bad)), None, "{bad}");
        }
        assert_eq!(web_url(None), None);
    }

    #[test]
    fn a_summary_names_at_most_three_affected_things() {
        let names: Vec<String> = ["A", "B", "C", "D", "E"].map(String::from).into();
        assert_eq!(
            summary_line("Minor issues", &names),
            "Minor issues · Affected: A, B, C +2 more"
        );
        assert_eq!(summary_line("Fine", &[]), "Fine");
    }
}
