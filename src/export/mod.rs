//! `janus export INCIDENT`: a postmortem draft, from the database alone.
//!
//! The incident's history (`incident_events`: every change, who made it and
//! when) and its marked messages are read back and laid out as what a
//! postmortem starts from: what happened, who held which role and when, the
//! status history with the time to each status and to resolution, the
//! updates posted, the messages people marked, and a Mermaid `gantt` block
//! of the same (GitHub, GitLab, Confluence and Notion render it). Times are
//! in `incident.timezone`. [`Draft`] is also the JSON form.

mod markdown;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::store::{History, HistoryEntry, Incident, Mark, StoreError, TimelineMarks};

pub use markdown::markdown;

/// Why there is no draft.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no incident is named {0:?} (give its channel name, channel id or number)")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A postmortem draft: everything the database knows of one incident.
#[derive(Debug, Clone, Serialize)]
pub struct Draft {
    pub id: i64,
    /// The channel's name (`inc-…`), once it had one.
    pub name: Option<String>,
    pub channel_id: Option<String>,
    pub description: String,
    pub private: bool,
    /// The zone every time below is in (`incident.timezone`).
    pub timezone: String,
    pub declared: Moment,
    pub declared_by: String,
    pub severity: Choice,
    pub status: Choice,
    /// When it was resolved last, while it is.
    pub resolved: Option<Moment>,
    /// From the declaration to the last resolution.
    pub time_to_resolve_seconds: Option<i64>,
    /// Each status it was in, in order, for how long.
    pub statuses: Vec<Span>,
    /// When each status was first reached, after the declaration.
    pub time_to_status: Vec<Reached>,
    /// Each severity it had, in order.
    pub severities: Vec<Span>,
    /// Who held which role, from when to when.
    pub roles: Vec<Tenure>,
    /// Updates posted to stakeholders.
    pub updates: Vec<Update>,
    /// Messages people marked for the timeline.
    pub marked: Vec<Marked>,
    /// Everything that happened, one line each, oldest first.
    pub timeline: Vec<Entry>,
}

/// A point in time, as UTC and in the draft's zone.
#[derive(Debug, Clone, Serialize)]
pub struct Moment {
    pub utc: DateTime<Utc>,
    /// `2026-11-27 15:30:00`, in the draft's zone.
    pub local: String,
}

/// A status or severity value and its label.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// A stretch of time in one status (or severity); open while it lasts.
#[derive(Debug, Clone, Serialize)]
pub struct Span {
    pub value: Choice,
    pub from: Moment,
    pub to: Option<Moment>,
    pub seconds: Option<i64>,
}

/// The first time a status was reached.
#[derive(Debug, Clone, Serialize)]
pub struct Reached {
    pub status: Choice,
    pub after_seconds: i64,
}

/// Someone holding a role.
#[derive(Debug, Clone, Serialize)]
pub struct Tenure {
    pub role: String,
    pub label: String,
    pub holder: String,
    pub from: Moment,
    pub to: Option<Moment>,
}

/// An update posted to stakeholders.
#[derive(Debug, Clone, Serialize)]
pub struct Update {
    pub at: Moment,
    pub by: String,
    pub text: String,
    pub status: Option<Choice>,
}

/// A message marked for the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Marked {
    /// When it was written.
    pub at: Moment,
    pub author: Option<String>,
    pub text: String,
    pub link: Option<String>,
    pub marked_by: String,
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub at: Moment,
    pub actor: String,
    pub kind: String,
    /// What happened, as a sentence.
    pub what: String,
}

/// Reads incident `key` (channel name, channel id or number) and drafts its
/// postmortem.
pub async fn draft<S>(store: &S, config: &Config, key: &str) -> Result<Draft, ExportError>
where
    S: History + TimelineMarks + ?Sized,
{
    let incident = store
        .find_incident(key)
        .await?
        .ok_or_else(|| ExportError::NotFound(key.to_owned()))?;
    let history = store.history(incident.id).await?;
    let marks = store.marks(incident.id).await?;
    Ok(build(config, &incident, &history, &marks))
}

/// The draft of `incident` from its history and marks, read already.
pub fn build(
    config: &Config,
    incident: &Incident,
    history: &[HistoryEntry],
    marks: &[Mark],
) -> Draft {
    let catalog = &config.incident.catalog;
    let moment = |utc: DateTime<Utc>| Moment {
        utc,
        local: config
            .incident
            .local_time(utc)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
    };
    let status = |v: &str| Choice {
        value: v.to_owned(),
        label: catalog
            .status(v)
            .map_or_else(|| v.to_owned(), |c| c.label().to_owned()),
    };
    let severity = |v: &str| Choice {
        value: v.to_owned(),
        label: catalog
            .severity(v)
            .map_or_else(|| v.to_owned(), |c| c.label().to_owned()),
    };
    let role_label = |key: &str| {
        catalog
            .role(key)
            .map_or_else(|| key.to_owned(), |r| r.label().to_owned())
    };
    let text =
        |e: &HistoryEntry, key: &str| e.detail.get(key).and_then(Value::as_str).map(str::to_owned);
    let declared_at = history
        .iter()
        .find(|e| e.kind == "declared")
        .map_or(incident.created_at, |e| e.at);
    let first = |kind: &str, key: &str, current: &str| {
        history
            .iter()
            .find(|e| e.kind == kind)
            .and_then(|e| text(e, "from"))
            .or_else(|| {
                history
                    .iter()
                    .find(|e| e.kind == "declared")
                    .and_then(|e| text(e, key))
            })
            .unwrap_or_else(|| current.to_owned())
    };

    // Status and severity spans: from the declaration, each change closing
    // the span before it.
    let spans = |kind: &str, initial: String, choice: &dyn Fn(&str) -> Choice| {
        let mut spans: Vec<Span> = vec![Span {
            value: choice(&initial),
            from: moment(declared_at),
            to: None,
            seconds: None,
        }];
        for e in history.iter().filter(|e| e.kind == kind) {
            let Some(to) = text(e, "to") else { continue };
            if let Some(last) = spans.last_mut() {
                last.to = Some(moment(e.at));
                last.seconds = Some((e.at - last.from.utc).num_seconds());
            }
            spans.push(Span {
                value: choice(&to),
                from: moment(e.at),
                to: None,
                seconds: None,
            });
        }
        spans
    };
    let statuses = spans(
        "status",
        first("status", "status", &incident.status),
        &status,
    );
    let severities = spans(
        "severity",
        first("severity", "severity", &incident.severity),
        &severity,
    );
    let mut time_to_status: Vec<Reached> = Vec::new();
    for span in statuses.iter().skip(1) {
        if !time_to_status
            .iter()
            .any(|r| r.status.value == span.value.value)
        {
            time_to_status.push(Reached {
                status: span.value.clone(),
                after_seconds: (span.from.utc - declared_at).num_seconds(),
            });
        }
    }
    let resolved_value = catalog.resolved_status().value();
    let resolved = incident.resolved_at.map(|at| {
        statuses
            .iter()
            .rev()
            .find(|s| s.value.value == resolved_value)
            .map_or_else(|| moment(at), |s| s.from.clone())
    });
    let time_to_resolve_seconds = resolved
        .as_ref()
        .map(|r| (r.utc - declared_at).num_seconds());

    // Role tenures: a claim or assignment opens one (closing the holder's
    // before it), a release closes it.
    let mut roles: Vec<Tenure> = Vec::new();
    for e in history.iter().filter(|e| e.kind == "role") {
        let Some(role) = text(e, "role") else {
            continue;
        };
        if let Some(open) = roles.iter_mut().find(|t| t.role == role && t.to.is_none()) {
            open.to = Some(moment(e.at));
        }
        if let Some(holder) = text(e, "holder") {
            roles.push(Tenure {
                label: role_label(&role),
                role,
                holder,
                from: moment(e.at),
                to: None,
            });
        }
    }

    let updates = history
        .iter()
        .filter(|e| e.kind == "update")
        .map(|e| Update {
            at: moment(e.at),
            by: e.actor.clone(),
            text: text(e, "text").unwrap_or_default(),
            status: text(e, "status").map(|s| status(&s)),
        })
        .collect();

    let marked = marks
        .iter()
        .map(|m| Marked {
            at: moment(ts_time(m.ts.as_str()).unwrap_or(declared_at)),
            author: m.author.as_ref().map(|a| a.as_str().to_owned()),
            text: m.text.clone(),
            link: m.permalink.clone(),
            marked_by: m.marked_by.as_str().to_owned(),
        })
        .collect();

    let timeline = history
        .iter()
        .map(|e| Entry {
            at: moment(e.at),
            actor: e.actor.clone(),
            kind: e.kind.clone(),
            what: describe(e, &status, &severity, &role_label),
        })
        .collect();

    Draft {
        id: incident.id.0,
        name: incident.channel_name.clone(),
        channel_id: incident.channel_id.as_ref().map(|c| c.as_str().to_owned()),
        description: incident.description.clone(),
        private: incident.private,
        timezone: config.incident.timezone.name().to_owned(),
        declared: moment(declared_at),
        declared_by: incident.created_by.as_str().to_owned(),
        severity: severity(&incident.severity),
        status: status(&incident.status),
        resolved,
        time_to_resolve_seconds,
        statuses,
        time_to_status,
        severities,
        roles,
        updates,
        marked,
        timeline,
    }
}

/// A Slack message ts (`1700000000.000100`) as the time it was written.
fn ts_time(ts: &str) -> Option<DateTime<Utc>> {
    let (secs, micros) = ts.split_once('.')?;
    let micros: u32 = micros.parse().ok()?;
    DateTime::from_timestamp(secs.parse().ok()?, micros.saturating_mul(1000))
}

/// One history entry as a sentence (people by their Slack id).
fn describe(
    e: &HistoryEntry,
    status: &dyn Fn(&str) -> Choice,
    severity: &dyn Fn(&str) -> Choice,
    role_label: &dyn Fn(&str) -> String,
) -> String {
    let text = |key: &str| e.detail.get(key).and_then(Value::as_str).unwrap_or("");
    match e.kind.as_str() {
        "declared" => format!(
            "declared the incident ({}, {})",
            status(text("status")).label,
            severity(text("severity")).label
        ),
        "status" => format!(
            "moved the status from {} to {}",
            status(text("from")).label,
            status(text("to")).label
        ),
        "severity" => format!(
            "changed the severity from {} to {}",
            severity(text("from")).label,
            severity(text("to")).label
        ),
        "role" => match text("how") {
            "claimed" => format!("claimed {}", role_label(text("role"))),
            "released" if text("previous") == e.actor => {
                format!("stepped down as {}", role_label(text("role")))
            }
            "released" => format!(
                "released {} from {}",
                text("previous"),
                role_label(text("role"))
            ),
            _ => format!(
                "assigned {} as {}",
                text("holder"),
                role_label(text("role"))
            ),
        },
        "statuspage" => format!(
            "{} the Statuspage incident ({})",
            match text("action") {
                "" => "changed",
                action => action,
            },
            status(text("status")).label
        ),
        "update" => "posted an update".to_owned(),
        other => other.replace('_', " "),
    }
}
