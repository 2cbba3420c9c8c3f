//! How a linked Statuspage incident follows its Janus incident
//! (`statuspage.follow_incident`): which Statuspage status each Janus
//! status means, and what customers are told on each move.
//!
//! A [`FollowPolicy`] is checked once, when the configuration loads, so a
//! follower never meets a status it cannot place. The rules, which keep the
//! mapping unambiguous whatever the statuses are called:
//! - a Janus status maps to at most one Statuspage status, looked up by its
//!   value (never its label);
//! - by default a status named like a Statuspage status (`investigating`,
//!   `identified`, `monitoring`) maps to it, and the resolved status (the
//!   last of `incident.statuses`, whatever its name) maps to `resolved`;
//! - any other status maps to nothing: moving to it leaves Statuspage alone;
//! - `statuspage.status_map` overrides or adds entries; a key that is not a
//!   configured status, or a value that is not a Statuspage incident status,
//!   is refused;
//! - only the resolved status resolves: an open status mapped (or, by its
//!   name, defaulting) to `resolved` is refused, as customers would read
//!   "resolved" while the team still works on it.

use std::collections::BTreeMap;

use super::types::IncidentStatus;
use crate::domain::incident::Catalog;

/// What customers read on a followed move, unless `statuspage.follow_messages`
/// says otherwise: neutral words close to Statuspage's own suggestions. The
/// one place this prose lives.
pub const DEFAULT_FOLLOW_MESSAGES: &[(FollowMessage, &str)] = &[
    (
        FollowMessage::Investigating,
        "We are investigating this issue.",
    ),
    (
        FollowMessage::Identified,
        "The issue has been identified and a fix is being worked on.",
    ),
    (
        FollowMessage::Monitoring,
        "A fix has been put in place and we are monitoring the results.",
    ),
    (FollowMessage::Resolved, "This incident has been resolved."),
    (
        FollowMessage::Reopened,
        "We are looking into this issue again.",
    ),
];

/// Longest message Janus sends on a followed move (Statuspage's own limit is
/// larger; a status line is short).
pub const MAX_FOLLOW_MESSAGE_CHARS: usize = 1000;

/// Which message a followed move sends: one per Statuspage status, and one
/// for a resolved Statuspage incident that goes back to an open status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FollowMessage {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    /// From `resolved` back to any open status.
    Reopened,
}

impl FollowMessage {
    /// Every message, in the order the README lists them.
    pub const ALL: &'static [FollowMessage] = &[
        FollowMessage::Investigating,
        FollowMessage::Identified,
        FollowMessage::Monitoring,
        FollowMessage::Resolved,
        FollowMessage::Reopened,
    ];

    /// Its key in `statuspage.follow_messages`.
    pub fn key(self) -> &'static str {
        match self {
            FollowMessage::Investigating => "investigating",
            FollowMessage::Identified => "identified",
            FollowMessage::Monitoring => "monitoring",
            FollowMessage::Resolved => "resolved",
            FollowMessage::Reopened => "reopened",
        }
    }

    /// The message for a move to `to` from `from` (what Statuspage showed).
    pub fn for_move(from: Option<IncidentStatus>, to: IncidentStatus) -> FollowMessage {
        match (from, to) {
            (Some(IncidentStatus::Resolved), to) if to != IncidentStatus::Resolved => {
                FollowMessage::Reopened
            }
            (_, IncidentStatus::Investigating) => FollowMessage::Investigating,
            (_, IncidentStatus::Identified) => FollowMessage::Identified,
            (_, IncidentStatus::Monitoring) => FollowMessage::Monitoring,
            (_, IncidentStatus::Resolved) => FollowMessage::Resolved,
        }
    }

    fn from_key(key: &str) -> Option<FollowMessage> {
        Self::ALL.iter().copied().find(|m| m.key() == key)
    }
}

/// Why a follow policy was refused. Each names the entry at fault; the
/// configuration turns it into a line naming the key and its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// A `status_map` key that is not a configured status.
    #[error("`{status}` is not a status of `incident.statuses`; expected one of {known}")]
    UnknownStatus { status: String, known: String },
    /// A `status_map` value that is not a Statuspage incident status.
    #[error(
        "`{value}` is not a Statuspage incident status; expected investigating, identified, \
         monitoring or resolved"
    )]
    NotAStatuspageStatus { status: String, value: String },
    /// The resolved status mapped to something else.
    #[error(
        "`{status}` is the resolved status (the last of `incident.statuses`), so it resolves \
         the Statuspage incident: it can only map to `resolved`, not `{value}`"
    )]
    ResolvedMustResolve { status: String, value: String },
    /// An open status that would resolve the Statuspage incident.
    #[error(
        "`{status}` is an open status but {how} `resolved`: customers would read that the \
         incident is over while it is not. Map `{status}` in `statuspage.status_map` to \
         investigating, identified or monitoring"
    )]
    OpenStatusResolves { status: String, how: &'static str },
    /// A `follow_messages` key that is not one of the messages.
    #[error("`{key}` is not a message Janus sends; expected one of {known}")]
    UnknownMessage { key: String, known: String },
    /// A blank or overlong message.
    #[error("the message for `{key}` must be 1 to {MAX_FOLLOW_MESSAGE_CHARS} characters")]
    BadMessage { key: String },
}

impl FollowError {
    /// The configuration key at fault, below `statuspage.`.
    pub fn key(&self) -> String {
        match self {
            FollowError::UnknownStatus { status, .. }
            | FollowError::NotAStatuspageStatus { status, .. }
            | FollowError::ResolvedMustResolve { status, .. } => format!("status_map.{status}"),
            FollowError::OpenStatusResolves { .. } => "status_map".to_owned(),
            FollowError::UnknownMessage { key, .. } | FollowError::BadMessage { key } => {
                format!("follow_messages.{key}")
            }
        }
    }
}

/// The checked mapping and messages of `statuspage.follow_incident`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowPolicy {
    /// Janus status value → the Statuspage status it shows. A status not
    /// here leaves Statuspage alone.
    map: BTreeMap<String, IncidentStatus>,
    messages: BTreeMap<FollowMessage, String>,
}

impl FollowPolicy {
    /// Checks `map` (Janus status → Statuspage status, on top of the
    /// defaults) and `messages` (message key → text, on top of
    /// [`DEFAULT_FOLLOW_MESSAGES`]) against the statuses of `catalog`.
    pub fn new(
        catalog: &Catalog,
        map: &BTreeMap<String, String>,
        messages: &BTreeMap<String, String>,
    ) -> Result<FollowPolicy, FollowError> {
        let resolved = catalog.resolved_status().value();
        let known = || {
            catalog
                .statuses()
                .iter()
                .map(|c| c.value())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut checked = BTreeMap::new();
        for choice in catalog.statuses() {
            let status = choice.value();
            let default = if status == resolved {
                Some(IncidentStatus::Resolved)
            } else {
                IncidentStatus::from_wire(status)
            };
            if let Some(default) = default {
                checked.insert(status.to_owned(), default);
            }
        }
        for (status, value) in map {
            if catalog.status(status).is_none() {
                return Err(FollowError::UnknownStatus {
                    status: status.clone(),
                    known: known(),
                });
            }
            let target = IncidentStatus::from_wire(value.trim()).ok_or_else(|| {
                FollowError::NotAStatuspageStatus {
                    status: status.clone(),
                    value: value.clone(),
                }
            })?;
            if status == resolved && target != IncidentStatus::Resolved {
                return Err(FollowError::ResolvedMustResolve {
                    status: status.clone(),
                    value: value.clone(),
                });
            }
            checked.insert(status.clone(), target);
        }
        if let Some((status, _)) = checked
            .iter()
            .find(|(status, target)| *status != resolved && **target == IncidentStatus::Resolved)
        {
            let how = if map.contains_key(status) {
                "`statuspage.status_map` maps it to"
            } else {
                "by its name it would map to"
            };
            return Err(FollowError::OpenStatusResolves {
                status: status.clone(),
                how,
            });
        }
        let mut texts: BTreeMap<FollowMessage, String> = DEFAULT_FOLLOW_MESSAGES
            .iter()
            .map(|(m, text)| (*m, (*text).to_owned()))
            .collect();
        for (key, text) in messages {
            let message =
                FollowMessage::from_key(key).ok_or_else(|| FollowError::UnknownMessage {
                    key: key.clone(),
                    known: FollowMessage::ALL
                        .iter()
                        .map(|m| m.key())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            let text = text.trim();
            if !(1..=MAX_FOLLOW_MESSAGE_CHARS).contains(&text.chars().count()) {
                return Err(FollowError::BadMessage { key: key.clone() });
            }
            texts.insert(message, text.to_owned());
        }
        Ok(FollowPolicy {
            map: checked,
            messages: texts,
        })
    }

    /// The Statuspage status Janus status `status` shows; `None`: leave
    /// Statuspage alone.
    pub fn target(&self, status: &str) -> Option<IncidentStatus> {
        self.map.get(status).copied()
    }

    /// What customers are told on a move to `to` from `from`.
    pub fn message(&self, from: Option<IncidentStatus>, to: IncidentStatus) -> &str {
        self.messages
            .get(&FollowMessage::for_move(from, to))
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The statuses that leave Statuspage alone, in the catalog's order
    /// (for the start-up warning: custom names nobody mapped).
    pub fn unmapped<'c>(&self, catalog: &'c Catalog) -> Vec<&'c str> {
        catalog
            .statuses()
            .iter()
            .map(|c| c.value())
            .filter(|s| !self.map.contains_key(*s))
            .collect()
    }
}
