//! The slash command Janus answers (`slack.command`), so a workspace whose
//! `/incident` belongs to another app can give Janus another name.

use std::fmt;

/// The command as Slack sends it in a payload's `command` field: `/` and a
/// lowercase name of at most 32 characters, as Slack's app settings accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandName(String);

/// Why a configured command name is not one Slack would send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected a slash command such as `/incident` (a `/`, then at most 32 lowercase letters, digits, `-` or `_`), found {0:?}"
)]
pub struct InvalidCommandName(pub String);

impl CommandName {
    /// Slack's own limit on a command's name, the slash included.
    const MAX_CHARS: usize = 32;

    /// Validates a command as configured.
    pub fn parse(command: &str) -> Result<Self, InvalidCommandName> {
        let invalid = || InvalidCommandName(command.to_owned());
        let name = command.strip_prefix('/').ok_or_else(invalid)?;
        let valid = !name.is_empty()
            && command.len() <= Self::MAX_CHARS
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(command.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// The command, slash included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CommandName {
    /// `/incident`, the Python janus's command.
    fn default() -> Self {
        Self("/incident".to_owned())
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for CommandName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_shaped_commands_are_accepted() {
        for ok in ["/incident", "/inc", "/sev-1", "/ops_incident", "/a2"] {
            assert_eq!(CommandName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(CommandName::default().as_str(), "/incident");
    }

    #[test]
    fn anything_slack_would_not_send_is_refused() {
        let long = format!("/{}", "a".repeat(32));
        for bad in [
            "",
            "/",
            "incident",
            "/Incident",
            "/in cident",
            "//incident",
            "/incident!",
            &long,
        ] {
            assert!(CommandName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
