//! What an incident is made of: its channel name, and the catalog of statuses, severities
//! and roles it can take.
//!
//! Everything here is pure (no clock, no IO): the caller supplies the time, already in the
//! configured zone, and a fallback id, so a name is a function of its inputs and every rule
//! can be unit tested.
//!
//! [`IncidentName`] is parse-don't-validate: the only ways to get one are building it from a
//! description ([`IncidentName::new`]) or reading back a name that obeys Slack's channel-name
//! rules ([`IncidentName::parse`]), so `conversations.create` never sees a name Slack would
//! reject.
//!
//! A [`Catalog`] is checked once, when the configuration is loaded; after that a value
//! coming back from a click or the database is trusted only if the catalog knows it
//! ([`Catalog::status`], [`Catalog::severity`], [`Catalog::role`] return `None` otherwise).

use std::fmt;
use std::hash::{Hash, Hasher};

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};

/// Slack's limit on a channel name, in characters.
pub const MAX_NAME_LEN: usize = 80;

/// Every name Janus builds starts with this, so incident channels sort together.
const NAME_PREFIX: &str = "inc-";

// --- the channel name ------------------------------------------------------------------

/// The name of an incident channel: `inc-YYYYMMDDHHMM-<slug>`, at most 80 characters of
/// `[a-z0-9-_]`.
///
/// Equality, ordering and hashing look at the name alone, so a name built here equals the
/// same name read back from the database.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IncidentName {
    name: String,
    /// The name without any `-N` suffix, kept so [`IncidentName::with_suffix`] always starts
    /// from it and never stacks suffixes (`…-2-3`).
    stem: String,
}

/// Why a string is not a usable channel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a Slack channel name (1 to 80 lowercase letters, digits, `-` and `_`)")]
pub struct InvalidIncidentName {
    value: String,
}

impl IncidentName {
    /// Builds the name for an incident declared at `at` (a wall-clock time the caller has
    /// already converted to the configured zone) with this `description`.
    ///
    /// The slug is the description transliterated to ASCII (`café` → `cafe`,
    /// `Straße` → `strasse`), lowercased, with every run of other characters (spaces,
    /// punctuation, emoji, control characters) turned into one `-`, trimmed of `-` and cut
    /// so the whole name fits in 80 characters. When nothing is left (a description of
    /// emoji only), `fallback_id` takes its place, so the name is still unique.
    ///
    /// `fallback_id` must be 1 to 16 lowercase ASCII letters and digits (e.g. 6 characters
    /// derived from the incident id); it is checked even when the description makes it
    /// unnecessary, so a bad id fails every time rather than once in a while.
    ///
    /// Emoji are dropped rather than spelt out: `deunicode` would turn 🔥 into `fire`,
    /// which reads as if the reporter had typed it.
    pub fn new(
        at: NaiveDateTime,
        description: &str,
        fallback_id: &str,
    ) -> Result<IncidentName, InvalidFallbackId> {
        let valid = (1..=MAX_FALLBACK_LEN).contains(&fallback_id.len())
            && fallback_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(InvalidFallbackId {
                value: fallback_id.chars().take(40).collect(),
            });
        }
        let head = format!(
            "{NAME_PREFIX}{:04}{:02}{:02}{:02}{:02}-",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute()
        );
        let budget = MAX_NAME_LEN.saturating_sub(head.len());
        let mut slug = slugify(description);
        cut(&mut slug, budget);
        if slug.is_empty() {
            slug = fallback_id.to_owned();
            cut(&mut slug, budget);
        }
        let name = head + &slug;
        Ok(IncidentName {
            stem: name.clone(),
            name,
        })
    }

    /// Reads back a name stored earlier. Only Slack's rules are checked (1 to 80 characters
    /// of `a-z`, `0-9`, `-`, `_`), not the `inc-…` shape: the database is the authority on
    /// which channel an incident has.
    pub fn parse(value: &str) -> Result<IncidentName, InvalidIncidentName> {
        let valid = !value.is_empty()
            && value.len() <= MAX_NAME_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(IncidentName {
                name: value.to_owned(),
                stem: value.to_owned(),
            })
        } else {
            Err(InvalidIncidentName {
                value: value.chars().take(100).collect(),
            })
        }
    }

    /// The name to try on attempt `attempt` after Slack answered `name_taken`: attempt 1 is
    /// the name itself, attempt `n ≥ 2` appends `-n` (`-2`, `-3`, …), cutting the slug
    /// further so the whole name stays within 80 characters.
    ///
    /// Taken names are normal, not exceptional: archived channels keep their names forever.
    /// The suffix always replaces an earlier one, so calling this on a suffixed name gives
    /// the same result as calling it on the original.
    pub fn with_suffix(&self, attempt: u32) -> IncidentName {
        if attempt <= 1 {
            return IncidentName {
                name: self.stem.clone(),
                stem: self.stem.clone(),
            };
        }
        let suffix = format!("-{attempt}");
        let mut name = self.stem.clone();
        cut(&mut name, MAX_NAME_LEN - suffix.len());
        name.push_str(&suffix);
        IncidentName {
            name,
            stem: self.stem.clone(),
        }
    }

    /// The name as Slack spells it.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl PartialEq for IncidentName {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for IncidentName {}

impl Hash for IncidentName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl PartialOrd for IncidentName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IncidentName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name.cmp(&other.name)
    }
}

impl fmt::Display for IncidentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl TryFrom<String> for IncidentName {
    type Error = InvalidIncidentName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        IncidentName::parse(&value)
    }
}

impl From<IncidentName> for String {
    fn from(name: IncidentName) -> String {
        name.name
    }
}

/// Longest fallback id: short enough to leave most of the 80 characters to descriptions.
const MAX_FALLBACK_LEN: usize = 16;

/// Why a fallback id cannot stand in for a slug (a bug in the caller, not user input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a fallback id (1 to 16 lowercase letters and digits)")]
pub struct InvalidFallbackId {
    value: String,
}

/// The description as `[a-z0-9]` runs joined by single `-`, without leading or trailing `-`.
fn slugify(description: &str) -> String {
    let mut slug = String::with_capacity(description.len().min(4 * MAX_NAME_LEN));
    // Set by any character that is not kept; turned into one `-` before the next kept one,
    // which also trims the start and the end for free.
    let mut gap = false;
    let push = |slug: &mut String, gap: &mut bool, text: &str| {
        for c in text.chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                if *gap && !slug.is_empty() {
                    slug.push('-');
                }
                *gap = false;
                slug.push(c);
            } else {
                *gap = true;
            }
        }
    };
    for c in description.chars() {
        // A description can be pasted logs; the name needs at most 80 characters of it.
        if slug.len() > MAX_NAME_LEN {
            break;
        }
        if c.is_ascii() {
            push(&mut slug, &mut gap, c.encode_utf8(&mut [0; 4]));
            continue;
        }
        match deunicode::deunicode_char(c) {
            // Letters and digits of any script are spelt in ASCII: é → e, ß → ss, 中 → zhong.
            Some(ascii) if c.is_alphanumeric() => push(&mut slug, &mut gap, ascii),
            // Zero-width characters (combining accents, direction marks, joiners) vanish
            // without splitting a word: `e` + U+0301 is still one word.
            Some("") => {}
            // Emoji and other symbols separate words like punctuation does.
            _ => gap = true,
        }
    }
    slug
}

/// Cuts `text` (ASCII, so every byte is a character boundary) to at most `max` characters,
/// then drops any `-` left dangling at the end.
fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let trimmed = text.trim_end_matches('-').len();
    text.truncate(trimmed);
}

// --- the catalog ------------------------------------------------------------------------

/// Longest key: it becomes part of Slack action ids (≤ 255 characters) and of database rows.
pub const MAX_KEY_LEN: usize = 64;
/// Longest label: Slack's limit for a button's or an option's text.
pub const MAX_LABEL_LEN: usize = 75;
/// Longest duties text: it is DMed inside one section (≤ 3000 characters) with some words
/// of ours around it.
pub const MAX_DUTIES_LEN: usize = 2000;
/// Most statuses or severities: a Slack select holds at most 100 options.
pub const MAX_CHOICES: usize = 100;
/// Most roles: the control message has a row per role and a message holds at most 50 blocks.
pub const MAX_ROLES: usize = 20;

/// One entry of a status or severity list: the stored value and what people see.
///
/// Only a [`Catalog`] hands these out, so holding one proves the value is configured.
/// Serializes as `{"value": …, "label": …}` for templates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    value: String,
    label: String,
}

impl Choice {
    /// The stored value, also used in action values, e.g. `investigating`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What people see, e.g. on a select option (≤ 75 characters).
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// A role people can claim, and what holding it means.
///
/// Only a [`Catalog`] hands these out. Serializes as `{"key", "label", "duties"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleDef {
    key: String,
    label: String,
    duties: String,
}

impl RoleDef {
    /// The stored key, also used in action ids, e.g. `incident_commander`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What people see, e.g. `Incident commander` (≤ 75 characters).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Plain text DMed to whoever takes the role: what they are expected to do.
    pub fn duties(&self) -> &str {
        &self.duties
    }
}

/// An unchecked status or severity, as the configuration gives it; [`Catalog::new`] checks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChoiceSpec {
    /// Stored value: 1 to 64 of `a-z`, `0-9`, `_`.
    pub value: String,
    /// Shown text: 1 to 75 characters.
    pub label: String,
}

impl ChoiceSpec {
    /// A choice whose label is its value made readable: `root_cause_found` → `Root cause
    /// found`. For operators who list values only.
    pub fn from_value(value: impl Into<String>) -> ChoiceSpec {
        let value = value.into();
        let mut label = value.replace('_', " ");
        if let Some(first) = label.get(..1) {
            label = first.to_uppercase() + &label[1..];
        }
        ChoiceSpec { value, label }
    }
}

/// An unchecked role, as the configuration gives it; [`Catalog::new`] checks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSpec {
    /// Stored key: 1 to 64 of `a-z`, `0-9`, `_`.
    pub key: String,
    /// Shown name: 1 to 75 characters.
    pub label: String,
    /// What the holder does: 1 to 2000 characters.
    pub duties: String,
}

/// Which list of the catalog a [`CatalogError`] is about, so the configuration can blame
/// the right key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatalogPart {
    Statuses,
    Severities,
    DefaultSeverity,
    Roles,
}

impl fmt::Display for CatalogPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CatalogPart::Statuses => "statuses",
            CatalogPart::Severities => "severities",
            CatalogPart::DefaultSeverity => "default severity",
            CatalogPart::Roles => "roles",
        })
    }
}

/// Why a list of statuses, severities or roles cannot be used.
///
/// The messages read well after "invalid value for `incident.<part>`:".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// Too few or too many entries.
    #[error("expected {min} to {max} {part}, found {found}")]
    Count {
        part: CatalogPart,
        min: usize,
        max: usize,
        /// How many were given.
        found: usize,
    },
    /// A value or key with characters that cannot go in an action id.
    #[error(
        "{key:?} is not a valid key: expected 1 to {MAX_KEY_LEN} lowercase letters, digits and `_`"
    )]
    InvalidKey {
        part: CatalogPart,
        /// The key as given.
        key: String,
    },
    /// The same value or key twice.
    #[error("{key:?} appears more than once")]
    Duplicate { part: CatalogPart, key: String },
    /// A label that is blank or too long for a button.
    #[error("the label of {key:?} must be 1 to {MAX_LABEL_LEN} characters, found {found}")]
    InvalidLabel {
        part: CatalogPart,
        key: String,
        /// Its length in characters, after trimming.
        found: usize,
    },
    /// Duties that are blank or too long for one message.
    #[error("the duties of role {key:?} must be 1 to {MAX_DUTIES_LEN} characters, found {found}")]
    InvalidDuties {
        key: String,
        /// Their length in characters, after trimming.
        found: usize,
    },
    /// A default severity that is not in the list.
    #[error("{value:?} is not one of the severities ({known})")]
    UnknownDefaultSeverity {
        /// The default as given.
        value: String,
        /// The severities, comma-separated.
        known: String,
    },
}

impl CatalogError {
    /// Which list is at fault.
    pub fn part(&self) -> CatalogPart {
        match self {
            CatalogError::Count { part, .. }
            | CatalogError::InvalidKey { part, .. }
            | CatalogError::Duplicate { part, .. }
            | CatalogError::InvalidLabel { part, .. } => *part,
            CatalogError::InvalidDuties { .. } => CatalogPart::Roles,
            CatalogError::UnknownDefaultSeverity { .. } => CatalogPart::DefaultSeverity,
        }
    }
}

/// The statuses, severities and roles incidents use, checked once at start.
///
/// Statuses are ordered: the **first** is the status of a new incident and the **last** is
/// the resolved one (which posts a resolution message and marks the digest resolved). Any
/// move between statuses is allowed, including out of the resolved one (reopening).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    statuses: Vec<Choice>,
    severities: Vec<Choice>,
    /// Index into `severities`.
    default_severity: usize,
    roles: Vec<RoleDef>,
}

impl Catalog {
    /// Checks and builds a catalog. Keys must be 1 to 64 of `[a-z0-9_]` (they end up in
    /// action ids and database rows) and unique within their list; labels 1 to 75 characters
    /// (trimmed); duties 1 to 2000 characters (trimmed). There must be 2 to 100 statuses
    /// (a first and a different last), 1 to 100 severities, and 1 to 20 roles; the default
    /// severity must be one of the severities.
    pub fn new(
        statuses: Vec<ChoiceSpec>,
        severities: Vec<ChoiceSpec>,
        default_severity: &str,
        roles: Vec<RoleSpec>,
    ) -> Result<Catalog, CatalogError> {
        let statuses = choices(CatalogPart::Statuses, statuses, 2)?;
        let severities = choices(CatalogPart::Severities, severities, 1)?;
        let default_severity = severities
            .iter()
            .position(|choice| choice.value == default_severity)
            .ok_or_else(|| CatalogError::UnknownDefaultSeverity {
                value: default_severity.to_owned(),
                known: severities
                    .iter()
                    .map(|choice| choice.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let part = CatalogPart::Roles;
        count(part, roles.len(), 1, MAX_ROLES)?;
        let mut checked: Vec<RoleDef> = Vec::with_capacity(roles.len());
        for role in roles {
            check_key(part, &role.key)?;
            if checked.iter().any(|known| known.key == role.key) {
                return Err(CatalogError::Duplicate {
                    part,
                    key: role.key,
                });
            }
            let label = check_label(part, &role.key, &role.label)?;
            let duties = role.duties.trim();
            let found = duties.chars().count();
            if !(1..=MAX_DUTIES_LEN).contains(&found) {
                return Err(CatalogError::InvalidDuties {
                    key: role.key,
                    found,
                });
            }
            checked.push(RoleDef {
                key: role.key,
                label,
                duties: duties.to_owned(),
            });
        }
        Ok(Catalog {
            statuses,
            severities,
            default_severity,
            roles: checked,
        })
    }

    /// The status of a new incident: the first of the list.
    pub fn initial_status(&self) -> &Choice {
        &self.statuses[0]
    }

    /// The resolved status: the last of the list.
    pub fn resolved_status(&self) -> &Choice {
        &self.statuses[self.statuses.len() - 1]
    }

    /// Whether `status` is the resolved one.
    pub fn is_resolved(&self, status: &str) -> bool {
        self.resolved_status().value == status
    }

    /// The configured status with this value, if there is one.
    pub fn status(&self, value: &str) -> Option<&Choice> {
        self.statuses.iter().find(|c| c.value == value)
    }

    /// The configured severity with this value, if there is one.
    pub fn severity(&self, value: &str) -> Option<&Choice> {
        self.severities.iter().find(|c| c.value == value)
    }

    /// The severity of a new incident.
    pub fn default_severity(&self) -> &Choice {
        &self.severities[self.default_severity]
    }

    /// Every status, in order: initial first, resolved last.
    pub fn statuses(&self) -> &[Choice] {
        &self.statuses
    }

    /// Every severity, in the configured order (the order of the select).
    pub fn severities(&self) -> &[Choice] {
        &self.severities
    }

    /// Every role, in the configured order (the order of the control message's rows).
    pub fn roles(&self) -> &[RoleDef] {
        &self.roles
    }

    /// The configured role with this key, if there is one.
    pub fn role(&self, key: &str) -> Option<&RoleDef> {
        self.roles.iter().find(|r| r.key == key)
    }
}

/// The workflow of the brief: four statuses, `sev1`…`sev4` defaulting to `sev4`, and the
/// three classic roles with duties in our own words.
impl Default for Catalog {
    fn default() -> Catalog {
        Catalog::new(
            default_statuses(),
            default_severities(),
            DEFAULT_SEVERITY,
            default_roles(),
        )
        .expect("the built-in catalog is valid")
    }
}

/// Value of the built-in default severity.
pub const DEFAULT_SEVERITY: &str = "sev4";

/// The built-in statuses, in order.
pub fn default_statuses() -> Vec<ChoiceSpec> {
    ["investigating", "identified", "monitoring", "resolved"]
        .into_iter()
        .map(ChoiceSpec::from_value)
        .collect()
}

/// The built-in severities, most severe first.
pub fn default_severities() -> Vec<ChoiceSpec> {
    (1..=4)
        .map(|n| ChoiceSpec {
            value: format!("sev{n}"),
            label: format!("SEV{n}"),
        })
        .collect()
}

/// The built-in roles and what each holder does.
pub fn default_roles() -> Vec<RoleSpec> {
    let role = |key: &str, label: &str, duties: &str| RoleSpec {
        key: key.to_owned(),
        label: label.to_owned(),
        duties: duties.to_owned(),
    };
    vec![
        role(
            "incident_commander",
            "Incident commander",
            "You run the response: decide what is tried next, who does it, and when to call \
             in more people or escalate. Keep everyone aimed at restoring service, not at \
             finding the root cause, and keep the incident's status and severity current. \
             Leave hands-on fixing to others so you can keep the whole picture; once service \
             is stable, resolve the incident and make sure someone owns the follow-up review.",
        ),
        role(
            "communications_liaison",
            "Communications liaison",
            "You keep everyone outside the response informed, so responders can stay \
             heads-down. Post regular updates to stakeholders (and the status page, if one is \
             used): what is affected, what is being done, and when the next update will come, \
             even when nothing has changed. Collect questions and requests from outside and \
             bring them to the incident commander rather than to the responders.",
        ),
        role(
            "technical_lead",
            "Technical lead",
            "You lead the technical investigation: form hypotheses, read dashboards and logs, \
             and propose fixes to the incident commander. Direct the engineers working on the \
             problem and agree risky changes before anyone makes them. Note in the channel what \
             was tried and what was found as you go, so the timeline can be rebuilt afterwards.",
        ),
    ]
}

fn count(part: CatalogPart, found: usize, min: usize, max: usize) -> Result<(), CatalogError> {
    if (min..=max).contains(&found) {
        Ok(())
    } else {
        Err(CatalogError::Count {
            part,
            min,
            max,
            found,
        })
    }
}

fn check_key(part: CatalogPart, key: &str) -> Result<(), CatalogError> {
    let valid = (1..=MAX_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(CatalogError::InvalidKey {
            part,
            key: key.chars().take(80).collect(),
        })
    }
}

fn check_label(part: CatalogPart, key: &str, label: &str) -> Result<String, CatalogError> {
    let label = label.trim();
    let found = label.chars().count();
    if (1..=MAX_LABEL_LEN).contains(&found) {
        Ok(label.to_owned())
    } else {
        Err(CatalogError::InvalidLabel {
            part,
            key: key.to_owned(),
            found,
        })
    }
}

fn choices(
    part: CatalogPart,
    specs: Vec<ChoiceSpec>,
    min: usize,
) -> Result<Vec<Choice>, CatalogError> {
    count(part, specs.len(), min, MAX_CHOICES)?;
    let mut checked: Vec<Choice> = Vec::with_capacity(specs.len());
    for spec in specs {
        check_key(part, &spec.value)?;
        if checked.iter().any(|c| c.value == spec.value) {
            return Err(CatalogError::Duplicate {
                part,
                key: spec.value,
            });
        }
        let label = check_label(part, &spec.value, &spec.label)?;
        checked.push(Choice {
            value: spec.value,
            label,
        });
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 59)
            .unwrap()
    }

    fn noon() -> NaiveDateTime {
        at(2026, 3, 14, 12, 30)
    }

    const FALLBACK: &str = "x7k2q9";

    fn build(at: NaiveDateTime, description: &str) -> IncidentName {
        IncidentName::new(at, description, FALLBACK).unwrap()
    }

    fn name(description: &str) -> String {
        build(noon(), description).as_str().to_owned()
    }

    fn assert_valid(name: &IncidentName) {
        assert!(name.as_str().len() <= MAX_NAME_LEN, "{name} is too long");
        assert_eq!(IncidentName::parse(name.as_str()).as_ref(), Ok(name));
        assert!(!name.as_str().ends_with('-'), "{name} ends with -");
        assert!(!name.as_str().contains("--"), "{name} has a double -");
    }

    // --- names ---

    #[test]
    fn a_plain_description_becomes_a_dated_slug() {
        assert_eq!(name("www down"), "inc-202603141230-www-down");
    }

    #[test]
    fn the_date_is_zero_padded_and_ignores_seconds() {
        let name = build(at(2026, 1, 5, 7, 8), "db");
        assert_eq!(name.as_str(), "inc-202601050708-db");
    }

    #[test]
    fn accents_are_transliterated_and_case_folded() {
        assert_eq!(name("Café au LAIT"), "inc-202603141230-cafe-au-lait");
        assert_eq!(name("Straße gesperrt"), "inc-202603141230-strasse-gesperrt");
        // A decomposed accent (e + U+0301) does not split the word.
        assert_eq!(name("cafe\u{301} open"), "inc-202603141230-cafe-open");
    }

    #[test]
    fn quotes_mentions_and_emoji_collapse_into_single_dashes() {
        let built = build(noon(), "db \"primary\" <!channel> café 🔥");
        assert_valid(&built);
        assert_eq!(built.as_str(), "inc-202603141230-db-primary-channel-cafe");
    }

    #[test]
    fn emoji_between_words_separate_them_without_being_spelt_out() {
        assert_eq!(name("api🔥gateway"), "inc-202603141230-api-gateway");
        assert_eq!(name("👨‍👩‍👧 family 🇩🇪 flag"), "inc-202603141230-family-flag");
    }

    #[test]
    fn an_emoji_only_description_uses_the_fallback_id() {
        assert_eq!(name("🔥🔥 🚒"), "inc-202603141230-x7k2q9");
        assert_eq!(name("!!! ???"), "inc-202603141230-x7k2q9");
        assert_eq!(name(""), "inc-202603141230-x7k2q9");
    }

    #[test]
    fn control_characters_are_separators() {
        let built = build(noon(), "\u{0}db\tdown\r\n\u{7f}now\u{1b}[31m");
        assert_valid(&built);
        assert_eq!(built.as_str(), "inc-202603141230-db-down-now-31m");
    }

    #[test]
    fn right_to_left_text_is_transliterated_and_direction_marks_vanish() {
        let built = build(noon(), "\u{202B}שלום עולם\u{202C} db");
        assert_valid(&built);
        assert_eq!(built.as_str(), "inc-202603141230-shlvm-vlm-db");
        let arabic = build(noon(), "خطأ في الخادم");
        assert_valid(&arabic);
        assert!(arabic.as_str().len() > "inc-202603141230-".len());
    }

    #[test]
    fn other_scripts_are_spelt_in_ascii() {
        assert_eq!(name("数据库 down"), "inc-202603141230-shu-ju-ku-down");
    }

    #[test]
    fn a_very_long_description_is_cut_to_80_characters_without_a_trailing_dash() {
        let description = "ab ".repeat(3_334);
        assert!(description.len() >= 10_000);
        let built = build(noon(), &description);
        assert_valid(&built);
        // 17 for the head, then `ab-ab-…`: 63 characters would end in `-`, so 62 are kept.
        assert_eq!(built.as_str().len(), 79);
        assert!(built.as_str().ends_with("-ab"));

        let built = build(noon(), &"x".repeat(10_000));
        assert_eq!(built.as_str().len(), MAX_NAME_LEN);
    }

    #[test]
    fn a_long_non_ascii_description_is_cut_on_the_transliterated_text() {
        let built = build(noon(), &"é🔥ß".repeat(5_000));
        assert_valid(&built);
        assert!(built.as_str().starts_with("inc-202603141230-e-sse-sse-"));
    }

    #[test]
    fn a_suffix_is_appended_for_a_taken_name() {
        let base = build(noon(), "www down");
        assert_eq!(base.with_suffix(1).as_str(), "inc-202603141230-www-down");
        assert_eq!(base.with_suffix(2).as_str(), "inc-202603141230-www-down-2");
        assert_eq!(
            base.with_suffix(13).as_str(),
            "inc-202603141230-www-down-13"
        );
    }

    #[test]
    fn suffixes_replace_each_other_instead_of_stacking() {
        let base = build(noon(), "www down");
        assert_eq!(
            base.with_suffix(2).with_suffix(3).as_str(),
            "inc-202603141230-www-down-3"
        );
        assert_eq!(base.with_suffix(2).with_suffix(1), base);
    }

    #[test]
    fn a_suffix_at_the_80_character_limit_cuts_the_slug_further() {
        let base = build(noon(), &"x".repeat(200));
        assert_eq!(base.as_str().len(), 80);
        let second = base.with_suffix(2);
        assert_valid(&second);
        assert_eq!(second.as_str().len(), 80);
        assert!(second.as_str().ends_with("xx-2"));
        let big = base.with_suffix(u32::MAX);
        assert_valid(&big);
        assert!(big.as_str().ends_with("x-4294967295"));
    }

    #[test]
    fn a_suffix_never_leaves_a_double_dash_where_the_slug_was_cut() {
        // The cut for `-2` lands right after a `-` of the slug.
        let slug = format!("{}-b", "a".repeat(61));
        let base = build(noon(), &slug);
        assert_eq!(base.as_str().len(), 80);
        let second = base.with_suffix(2);
        assert_valid(&second);
        assert!(second.as_str().ends_with(&format!("{}-2", "a".repeat(61))));
    }

    #[test]
    fn names_read_back_must_follow_slack_rules() {
        assert!(IncidentName::parse("inc-202603141230-www-down").is_ok());
        assert!(IncidentName::parse("legacy_name-2").is_ok());
        assert!(IncidentName::parse("").is_err());
        assert!(IncidentName::parse("Inc-1").is_err());
        assert!(IncidentName::parse("inc 1").is_err());
        assert!(IncidentName::parse("inc-café").is_err());
        assert!(IncidentName::parse(&"a".repeat(81)).is_err());
        assert!(IncidentName::parse(&"a".repeat(80)).is_ok());
    }

    #[test]
    fn a_name_read_back_equals_the_name_built() {
        let built = build(noon(), "www down").with_suffix(2);
        let read: IncidentName = serde_json::from_str("\"inc-202603141230-www-down-2\"").unwrap();
        assert_eq!(read, built);
        assert_eq!(
            serde_json::to_string(&built).unwrap(),
            "\"inc-202603141230-www-down-2\""
        );
        assert!(serde_json::from_str::<IncidentName>("\"Not Valid\"").is_err());
    }

    #[test]
    fn a_fallback_id_must_be_short_lowercase_alphanumerics() {
        assert!(IncidentName::new(noon(), "", "a1b2c3").is_ok());
        assert!(IncidentName::new(noon(), "", "0000000000000001").is_ok());
        for bad in [
            "",
            "ABC123",
            "abc-12",
            "abc 12",
            "ab\u{e9}",
            &"a".repeat(17),
        ] {
            let error = IncidentName::new(noon(), "www down", bad).unwrap_err();
            assert!(
                error.to_string().contains("is not a fallback id"),
                "{bad:?}"
            );
        }
    }

    // --- catalog ---

    fn spec(value: &str, label: &str) -> ChoiceSpec {
        ChoiceSpec {
            value: value.to_owned(),
            label: label.to_owned(),
        }
    }

    fn catalog_with(
        statuses: Vec<ChoiceSpec>,
        severities: Vec<ChoiceSpec>,
        default_severity: &str,
        roles: Vec<RoleSpec>,
    ) -> Result<Catalog, CatalogError> {
        Catalog::new(statuses, severities, default_severity, roles)
    }

    #[test]
    fn the_default_catalog_is_the_workflow_of_the_brief() {
        let catalog = Catalog::default();
        let statuses: Vec<&str> = catalog.statuses().iter().map(|c| c.value()).collect();
        assert_eq!(
            statuses,
            ["investigating", "identified", "monitoring", "resolved"]
        );
        assert_eq!(catalog.initial_status().value(), "investigating");
        assert_eq!(catalog.initial_status().label(), "Investigating");
        assert_eq!(catalog.resolved_status().value(), "resolved");
        let severities: Vec<&str> = catalog.severities().iter().map(|c| c.value()).collect();
        assert_eq!(severities, ["sev1", "sev2", "sev3", "sev4"]);
        assert_eq!(catalog.default_severity().value(), "sev4");
        let roles: Vec<(&str, &str)> = catalog
            .roles()
            .iter()
            .map(|r| (r.key(), r.label()))
            .collect();
        assert_eq!(
            roles,
            [
                ("incident_commander", "Incident commander"),
                ("communications_liaison", "Communications liaison"),
                ("technical_lead", "Technical lead"),
            ]
        );
        assert!(catalog.roles().iter().all(|r| r.duties().len() > 100));
    }

    #[test]
    fn known_values_are_found_and_unknown_ones_are_not() {
        let catalog = Catalog::default();
        assert_eq!(catalog.status("monitoring").unwrap().label(), "Monitoring");
        assert_eq!(catalog.severity("sev1").unwrap().label(), "SEV1");
        assert_eq!(
            catalog.role("technical_lead").unwrap().label(),
            "Technical lead"
        );
        assert!(catalog.status("fixed").is_none());
        assert!(catalog.status("Resolved").is_none());
        assert!(catalog.severity("sev5").is_none());
        assert!(catalog.role("scribe").is_none());
    }

    #[test]
    fn the_last_status_is_the_resolved_one() {
        let catalog = catalog_with(
            vec![
                spec("open", "Open"),
                spec("fixing", "Fixing"),
                spec("closed", "Closed"),
            ],
            vec![spec("p1", "P1")],
            "p1",
            default_roles(),
        )
        .unwrap();
        assert_eq!(catalog.initial_status().value(), "open");
        assert!(catalog.is_resolved("closed"));
        assert!(!catalog.is_resolved("fixing"));
        assert!(!catalog.is_resolved("resolved"));
    }

    #[test]
    fn a_label_derived_from_a_value_is_capitalised_with_spaces() {
        assert_eq!(
            ChoiceSpec::from_value("root_cause_found"),
            spec("root_cause_found", "Root cause found")
        );
        assert_eq!(ChoiceSpec::from_value("sev1").label, "Sev1");
    }

    #[test]
    fn labels_are_trimmed() {
        let catalog = catalog_with(
            vec![spec("a", "  A "), spec("b", "B")],
            vec![spec("p1", "P1")],
            "p1",
            default_roles(),
        )
        .unwrap();
        assert_eq!(catalog.initial_status().label(), "A");
    }

    #[test]
    fn a_catalog_needs_two_statuses_one_severity_and_one_role() {
        let error = catalog_with(
            vec![spec("only", "Only")],
            default_severities(),
            "sev4",
            default_roles(),
        )
        .unwrap_err();
        assert_eq!(error.part(), CatalogPart::Statuses);
        assert_eq!(error.to_string(), "expected 2 to 100 statuses, found 1");

        let error = catalog_with(default_statuses(), vec![], "sev4", default_roles()).unwrap_err();
        assert_eq!(error.part(), CatalogPart::Severities);

        let error =
            catalog_with(default_statuses(), default_severities(), "sev4", vec![]).unwrap_err();
        assert_eq!(error.to_string(), "expected 1 to 20 roles, found 0");
    }

    #[test]
    fn keys_that_cannot_go_in_an_action_id_are_rejected() {
        for bad in ["", "Sev1", "sev 1", "sev-1", "sév", &"a".repeat(65)] {
            let error = catalog_with(
                default_statuses(),
                vec![spec(bad, "Label")],
                bad,
                default_roles(),
            )
            .unwrap_err();
            assert!(
                matches!(
                    error,
                    CatalogError::InvalidKey {
                        part: CatalogPart::Severities,
                        ..
                    }
                ),
                "{bad:?}: {error:?}"
            );
        }
        assert!(
            catalog_with(
                default_statuses(),
                vec![spec(&"a".repeat(64), "Label")],
                &"a".repeat(64),
                default_roles(),
            )
            .is_ok()
        );
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let error = catalog_with(
            vec![spec("a", "A"), spec("b", "B"), spec("a", "Again")],
            default_severities(),
            "sev4",
            default_roles(),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "\"a\" appears more than once");
        assert_eq!(error.part(), CatalogPart::Statuses);

        let mut roles = default_roles();
        roles.push(roles[0].clone());
        let error =
            catalog_with(default_statuses(), default_severities(), "sev4", roles).unwrap_err();
        assert_eq!(error.part(), CatalogPart::Roles);
    }

    #[test]
    fn labels_must_fit_a_button() {
        let error = catalog_with(
            default_statuses(),
            vec![spec("p1", &"L".repeat(76))],
            "p1",
            default_roles(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the label of \"p1\" must be 1 to 75 characters, found 76"
        );
        let error = catalog_with(
            vec![spec("a", "   "), spec("b", "B")],
            default_severities(),
            "sev4",
            default_roles(),
        )
        .unwrap_err();
        assert_eq!(error.part(), CatalogPart::Statuses);
    }

    #[test]
    fn roles_need_duties_that_fit_one_message() {
        let mut roles = default_roles();
        roles[1].duties = " \n ".to_owned();
        let error =
            catalog_with(default_statuses(), default_severities(), "sev4", roles).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the duties of role \"communications_liaison\" must be 1 to 2000 characters, found 0"
        );
        let mut roles = default_roles();
        roles[0].duties = "d".repeat(2001);
        assert!(catalog_with(default_statuses(), default_severities(), "sev4", roles).is_err());
    }

    #[test]
    fn the_default_severity_must_be_one_of_the_severities() {
        let error = catalog_with(
            default_statuses(),
            default_severities(),
            "sev5",
            default_roles(),
        )
        .unwrap_err();
        assert_eq!(error.part(), CatalogPart::DefaultSeverity);
        assert_eq!(
            error.to_string(),
            "\"sev5\" is not one of the severities (sev1, sev2, sev3, sev4)"
        );
    }

    #[test]
    fn choices_and_roles_serialize_as_objects_for_templates() {
        let catalog = Catalog::default();
        assert_eq!(
            serde_json::to_value(catalog.initial_status()).unwrap(),
            serde_json::json!({"value": "investigating", "label": "Investigating"})
        );
        assert_eq!(
            serde_json::to_value(catalog.role("technical_lead").unwrap()).unwrap()["key"],
            serde_json::json!("technical_lead")
        );
    }
}
