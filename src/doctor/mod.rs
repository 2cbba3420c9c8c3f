//! `janus doctor`: live checks of everything `janus run` needs, one line
//! each, so an operator finds a wrong token, a missing scope or an
//! unmigrated database before the first incident does.
//!
//! Unlike `janus check` (offline: config and templates), doctor talks to
//! Slack, the status providers, Statuspage and the database. Checks that do
//! not depend on each other run at once, each within [`CHECK_TIMEOUT`]; the
//! report is printed in a fixed order whatever finished first.
//!
//! What must stay true:
//! - nothing here prints a token, a key or the database password: messages
//!   are built from error types that never hold them, and every line goes
//!   through a `Redactor` as well, in case a driver quotes its input;
//! - doctor never changes anything: it opens no websocket (the Socket Mode
//!   URL is asked for and dropped), posts nothing, joins nothing and does
//!   not migrate;
//! - each failure says what is wrong *and* what to do about it.

mod database;
mod integrations;
mod redact;
mod slack;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::egress::Egress;
use crate::render::Renderer;

use database::check_database;
use integrations::{check_providers, check_statuspage};
use redact::Redactor;
pub use slack::REQUIRED_BOT_SCOPES;
use slack::{check_proxy, check_slack};

/// How long any one check may take before it is reported as failed: doctor
/// must never hang on a black-holed firewall.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Broken: `janus run` would fail or misbehave.
    Fail,
    /// Not checked: the feature is off, or a check it needs failed.
    Skip,
}

impl Verdict {
    /// The label printed in the first column, padded so details line up.
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok    ",
            Verdict::Fail => "FAIL  ",
            Verdict::Skip => "skip  ",
        }
    }
}

/// One line of the report: which check, how it came out, and the detail
/// (on failure: what is wrong and what to do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Short name of the check, e.g. `bot token` or `provider github`.
    pub check: String,
    /// Pass, fail or skip.
    pub verdict: Verdict,
    /// One line, no token in it.
    pub detail: String,
}

impl Finding {
    fn new(check: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Finding {
        Finding {
            check: check.into(),
            verdict,
            detail: detail.into(),
        }
    }

    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(check, Verdict::Ok, detail)
    }

    fn fail(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(check, Verdict::Fail, detail)
    }

    fn skip(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(check, Verdict::Skip, detail)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}: {}", self.verdict.label(), self.check, self.detail)
    }
}

/// Every finding, in the fixed check order, and the warnings met on the way
/// (config and template warnings, which do not fail anything).
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// For stderr, like `janus check` prints them.
    pub warnings: Vec<String>,
}

impl Report {
    /// How many checks failed: doctor exits non-zero unless this is 0.
    pub fn failures(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict == Verdict::Fail)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.findings.iter().try_for_each(|l| writeln!(f, "{l}"))
    }
}

/// Runs every check. `config` is what loading gave (its error, already one
/// readable line, becomes the first and only finding: nothing else can be
/// checked without it); `files` are the files it was read from besides the
/// environment (the config file, the `.env` file), named in that finding.
pub async fn diagnose(config: Result<Config, String>, files: &[&Path]) -> Report {
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            return Report {
                findings: vec![Finding::fail(
                    "config",
                    format!("{e} — fix it, then run `janus doctor` again"),
                )],
                warnings: Vec::new(),
            };
        }
    };
    let redactor = Redactor::for_config(&config);
    let mut report = Report {
        findings: vec![Finding::ok(
            "config",
            files
                .iter()
                .map(|path| format!("{} and ", path.display()))
                .chain(["the environment".to_owned()])
                .fold("loaded from ".to_owned(), |line, part| line + &part),
        )],
        warnings: config.warnings(),
    };
    match Renderer::load(config.templates_dir.as_deref()) {
        Ok(renderer) => {
            report.findings.push(templates_ok(&renderer, &config));
            report.warnings.extend(renderer.warnings().iter().cloned());
        }
        Err(e) => report.findings.push(Finding::fail(
            "templates",
            format!("{e} — fix the template (`janus check` shows the same)"),
        )),
    }
    let egress = Egress::new(&config.egress);
    let (proxy, slack, providers, statuspage, database) = tokio::join!(
        check_proxy(&config, &egress),
        check_slack(&config, &egress),
        check_providers(&config, &egress),
        check_statuspage(&config, &egress),
        check_database(&config),
    );
    report.findings.extend(proxy);
    report.findings.extend(slack);
    report.findings.extend(providers);
    report.findings.extend(statuspage);
    report.findings.push(database);
    for finding in &mut report.findings {
        finding.detail = redactor.redact(&finding.detail);
    }
    for warning in &mut report.warnings {
        *warning = redactor.redact(warning);
    }
    report
}

fn templates_ok(renderer: &Renderer, config: &Config) -> Finding {
    let names: Vec<&str> = Renderer::names().collect();
    let overridden = names
        .iter()
        .filter(|n| {
            renderer
                .origin(n)
                .is_some_and(|origin| !origin.ends_with("(built-in)"))
        })
        .count();
    let detail = match &config.templates_dir {
        Some(dir) => format!(
            "{} templates render and validate ({overridden} from {})",
            names.len(),
            dir.display()
        ),
        None => format!("{} built-in templates render and validate", names.len()),
    };
    Finding::ok("templates", detail)
}

/// Runs `check` within [`CHECK_TIMEOUT`]; running out is a failure of `name`.
async fn timed(name: impl Into<String>, check: impl Future<Output = Finding>) -> Finding {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| {
            Finding::fail(
                name,
                format!(
                    "no answer within {} s — check that this host can reach it \
                     (firewall, proxy, DNS)",
                    CHECK_TIMEOUT.as_secs()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_starts_with_a_fixed_width_verdict() {
        assert_eq!(
            Finding::ok("bot token", "accepted").to_string(),
            "ok    bot token: accepted"
        );
        assert_eq!(
            Finding::fail("scopes", "missing x").to_string(),
            "FAIL  scopes: missing x"
        );
        assert_eq!(
            Finding::skip("statuspage", "not configured").to_string(),
            "skip  statuspage: not configured"
        );
    }

    #[test]
    fn only_failures_count_against_the_report() {
        let report = Report {
            findings: vec![
                Finding::ok("a", "fine"),
                Finding::skip("b", "off"),
                Finding::fail("c", "broken"),
            ],
            warnings: Vec::new(),
        };
        assert_eq!(report.failures(), 1);
        assert_eq!(
            report.to_string(),
            "ok    a: fine\nskip  b: off\nFAIL  c: broken\n"
        );
    }
}
