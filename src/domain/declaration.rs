//! The steps of a declaration after its channel exists, each recorded once
//! done so that a restart finishes only what a crash cut short.
//!
//! Three actors record steps (incident, snapshot, statuspage) and the store
//! keeps them as a JSON array of names. The names are a stored format:
//! [`DeclarationStep::as_str`] must keep returning exactly what existing
//! databases hold.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// One step of a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeclarationStep {
    /// The declarer was told where the incident is.
    Answered,
    /// The declarer was invited to the channel.
    Invited,
    /// The auto-invite group was invited.
    Group,
    /// The topic (and video bookmark) were set.
    Topic,
    /// The control message was pinned.
    Pinned,
    /// The message declared from (react-to-create) was quoted.
    Origin,
    /// The providers' snapshot was posted.
    Snapshot,
    /// The Statuspage prompt was posted.
    Statuspage,
}

impl DeclarationStep {
    /// Every step, for tests and tools.
    pub const ALL: [Self; 8] = [
        Self::Answered,
        Self::Invited,
        Self::Group,
        Self::Topic,
        Self::Pinned,
        Self::Origin,
        Self::Snapshot,
        Self::Statuspage,
    ];

    /// The name stored in the database. Never change one.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Invited => "invited",
            Self::Group => "group",
            Self::Topic => "topic",
            Self::Pinned => "pinned",
            Self::Origin => "origin",
            Self::Snapshot => "snapshot",
            Self::Statuspage => "statuspage",
        }
    }

    /// The step a stored name means; `None` for a name this build does not
    /// know.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for DeclarationStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The steps of one declaration recorded as done, in the order recorded.
///
/// Read from the stored array of names. A name this build does not know
/// (written by a newer build, before a rollback) is skipped rather than
/// failing the whole list: this build never does that step, and treating
/// every step as undone would repeat the ones it does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclarationSteps(Vec<DeclarationStep>);

impl DeclarationSteps {
    /// The known steps among stored `names`.
    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        Self(
            names
                .into_iter()
                .filter_map(|n| DeclarationStep::parse(n.as_ref()))
                .collect(),
        )
    }

    /// Whether `step` is done.
    pub fn contains(&self, step: DeclarationStep) -> bool {
        self.0.contains(&step)
    }

    /// Whether no step is done.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The steps done, in the order recorded.
    pub fn as_slice(&self) -> &[DeclarationStep] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DeclarationSteps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        Ok(Self::from_names(names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_names_are_the_ones_existing_databases_hold() {
        let names: Vec<&str> = DeclarationStep::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "answered",
                "invited",
                "group",
                "topic",
                "pinned",
                "origin",
                "snapshot",
                "statuspage"
            ]
        );
    }

    #[test]
    fn every_step_reads_back_from_its_name() {
        for step in DeclarationStep::ALL {
            assert_eq!(DeclarationStep::parse(step.as_str()), Some(step));
        }
        assert_eq!(DeclarationStep::parse("Pinned"), None);
    }

    #[test]
    fn a_stored_list_keeps_its_order_and_skips_names_it_does_not_know() {
        let steps: DeclarationSteps =
            serde_json::from_str(r#"["pinned","from_the_future","answered"]"#).unwrap();
        assert_eq!(
            steps.as_slice(),
            [DeclarationStep::Pinned, DeclarationStep::Answered]
        );
        assert!(steps.contains(DeclarationStep::Answered));
        assert!(!steps.contains(DeclarationStep::Topic));
    }
}
