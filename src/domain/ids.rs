//! Slack identifiers as types, so a channel id can never be passed where a
//! user id or a message timestamp is expected.
//!
//! Each id checks its shape on construction. The checks are deliberately
//! loose about length (Slack has lengthened ids before) and strict about the
//! alphabet, because an id ends up in URLs, `<#C…>` mentions and SQL keys.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid Slack id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a Slack {kind}")]
pub struct InvalidId {
    kind: &'static str,
    value: String,
}

fn alnum_id(kind: &'static str, value: &str, prefixes: &[char]) -> Result<String, InvalidId> {
    let ok = value.len() >= 2
        && value.len() <= 64
        && value.starts_with(prefixes)
        && value
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(InvalidId {
            kind,
            value: value.chars().take(80).collect(),
        })
    }
}

macro_rules! slack_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefixes:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses an id, rejecting anything that does not look like one.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                alnum_id($kind, value, $prefixes).map(Self)
            }

            /// The id as Slack spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slack_id!(
    /// A conversation: public (`C…`), private (`G…`) or direct message (`D…`).
    ChannelId,
    "channel id",
    &['C', 'G', 'D']
);
slack_id!(
    /// A person or bot user (`U…`, or `W…` on Enterprise Grid).
    UserId,
    "user id",
    &['U', 'W', 'B']
);
slack_id!(
    /// A workspace (`T…`, or `E…` for an Enterprise organisation).
    TeamId,
    "team id",
    &['T', 'E']
);

/// A message timestamp (`1700000000.000100`): Slack's id for a message
/// within a channel. Kept as the exact string, since re-formatting a float
/// would change it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageTs(String);

impl MessageTs {
    /// Parses `seconds.micros`, both parts digits.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let ok = value.len() <= 32
            && matches!(value.split_once('.'), Some((s, f))
                if !s.is_empty() && !f.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && f.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidId {
                kind: "message ts",
                value: value.chars().take(80).collect(),
            })
        }
    }

    /// The timestamp as Slack spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageTs {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MessageTs> for String {
    fn from(ts: MessageTs) -> String {
        ts.0
    }
}

impl fmt::Display for MessageTs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The database's id of an incident: in the domain rather than in `store`,
/// so that types below the store (a submitted form names its incident) can
/// carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IncidentId(pub i64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_id_accepts_public_private_and_direct_channels() {
        for id in ["C0123ABCD", "G0123ABCD", "D0123ABCD"] {
            assert_eq!(ChannelId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn a_channel_id_rejects_user_ids_names_and_markup() {
        for bad in ["U0123", "general", "C01 23", "<#C0123>", "", "C"] {
            assert!(ChannelId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_user_id_is_not_a_channel_id() {
        assert!(UserId::parse("U0123ABC").is_ok());
        assert!(UserId::parse("C0123ABC").is_err());
    }

    #[test]
    fn a_message_ts_keeps_its_exact_digits() {
        let ts = MessageTs::parse("1700000000.000100").unwrap();
        assert_eq!(ts.as_str(), "1700000000.000100");
        for bad in ["1700000000", ".5", "1.", "1.2.3", "abc.def", "1e9.0"] {
            assert!(MessageTs::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let ok: ChannelId = serde_json::from_str("\"C0AB\"").unwrap();
        assert_eq!(ok.as_str(), "C0AB");
        assert!(serde_json::from_str::<ChannelId>("\"nope\"").is_err());
    }
}
