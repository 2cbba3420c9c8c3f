//! Slack errors, typed so callers can match on the ones they handle
//! (`name_taken`, `already_pinned`…) instead of comparing strings.

use slack_morphism::errors::{SlackClientError, SlackClientHttpProtocolError};

/// An `ok:false` error code. The named ones are those Janus reacts to;
/// everything else is kept as Slack spelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiErrorCode {
    /// The token is not valid (revoked, mistyped, wrong workspace).
    InvalidAuth,
    /// No token was sent.
    NotAuthed,
    /// The token's user or app was deactivated.
    AccountInactive,
    /// A channel of that name exists (maybe archived).
    NameTaken,
    /// The bot is not a member of the channel.
    NotInChannel,
    /// No such channel, or the bot cannot see it.
    ChannelNotFound,
    /// The user is already in the channel.
    AlreadyInChannel,
    /// The message is already pinned.
    AlreadyPinned,
    /// The bot already reacted with that emoji.
    AlreadyReacted,
    /// The message to update does not exist.
    MessageNotFound,
    /// A modal was opened more than 3 s after the click, or twice.
    ExpiredTriggerId,
    /// The workspace's plan lacks the feature (e.g. user groups).
    PlanUpgradeRequired,
    /// Any other code.
    Other(String),
}

impl ApiErrorCode {
    /// Maps Slack's spelling to a code.
    pub fn from_wire(code: &str) -> Self {
        match code {
            "invalid_auth" => Self::InvalidAuth,
            "not_authed" => Self::NotAuthed,
            "account_inactive" => Self::AccountInactive,
            "name_taken" => Self::NameTaken,
            "not_in_channel" => Self::NotInChannel,
            "channel_not_found" => Self::ChannelNotFound,
            "already_in_channel" => Self::AlreadyInChannel,
            "already_pinned" => Self::AlreadyPinned,
            "already_reacted" => Self::AlreadyReacted,
            "message_not_found" => Self::MessageNotFound,
            "expired_trigger_id" => Self::ExpiredTriggerId,
            "plan_upgrade_required" => Self::PlanUpgradeRequired,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Slack's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidAuth => "invalid_auth",
            Self::NotAuthed => "not_authed",
            Self::AccountInactive => "account_inactive",
            Self::NameTaken => "name_taken",
            Self::NotInChannel => "not_in_channel",
            Self::ChannelNotFound => "channel_not_found",
            Self::AlreadyInChannel => "already_in_channel",
            Self::AlreadyPinned => "already_pinned",
            Self::AlreadyReacted => "already_reacted",
            Self::MessageNotFound => "message_not_found",
            Self::ExpiredTriggerId => "expired_trigger_id",
            Self::PlanUpgradeRequired => "plan_upgrade_required",
            Self::Other(s) => s,
        }
    }

    /// Whether the token itself is bad, which no retry will fix.
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            Self::InvalidAuth | Self::NotAuthed | Self::AccountInactive
        )
    }
}

impl std::fmt::Display for ApiErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed Slack call. Messages never contain tokens.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok:false`.
    #[error("Slack {method} failed: {code}")]
    Api {
        /// The Web API method.
        method: &'static str,
        /// Slack's error code.
        code: ApiErrorCode,
    },
    /// Still rate limited after every retry.
    #[error("Slack {method} still rate limited after {attempts} retries")]
    RateLimited {
        /// The Web API method.
        method: &'static str,
        /// How many times it was retried.
        attempts: u32,
    },
    /// An HTTP status other than 200 and 429.
    #[error("Slack {method} answered HTTP {status}")]
    Http {
        /// The Web API method.
        method: &'static str,
        /// The status code.
        status: u16,
    },
    /// The request did not complete (connection refused, reset, TLS…).
    #[error("Slack {method} could not be reached: {detail}")]
    Transport {
        /// The Web API method.
        method: &'static str,
        /// What went wrong.
        detail: String,
        /// The kind of connection failure, when opening the connection is
        /// what failed: start-up retries an unreachable Slack, not a proxy
        /// that refuses.
        egress: Option<crate::egress::EgressFailure>,
    },
    /// Slack answered something we could not read.
    #[error("Slack {method} gave an unexpected answer: {detail}")]
    Protocol {
        /// The Web API method.
        method: &'static str,
        /// What did not parse.
        detail: String,
    },
    /// The client could not be built.
    #[error("Slack client setup failed: {0}")]
    Setup(String),
}

impl SlackError {
    pub(crate) fn from_client(method: &'static str, attempts: u32, e: SlackClientError) -> Self {
        match e {
            SlackClientError::ApiError(api) => Self::Api {
                method,
                code: ApiErrorCode::from_wire(&api.code),
            },
            SlackClientError::RateLimitError(_) => Self::RateLimited { method, attempts },
            SlackClientError::HttpError(h) => Self::Http {
                method,
                status: h.status_code.as_u16(),
            },
            SlackClientError::ProtocolError(p) => Self::Protocol {
                method,
                detail: p.json_error.to_string(),
            },
            // Transport-level failures: their Display carries the cause
            // (connection refused, DNS…) and never the request headers.
            other => {
                // Its `Display` is the `Debug` of the cause, and it has no
                // `source()`: start from the cause itself.
                let cause: &(dyn std::error::Error + 'static) = match &other {
                    SlackClientError::HttpProtocolError(SlackClientHttpProtocolError {
                        cause: Some(cause),
                        ..
                    }) => cause.as_ref(),
                    other => other,
                };
                Self::Transport {
                    method,
                    detail: transport_detail(cause),
                    egress: egress_error(cause).map(crate::egress::EgressError::failure),
                }
            }
        }
    }

    /// The `ok:false` code, when that is what this is.
    pub fn code(&self) -> Option<&ApiErrorCode> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the token was refused, which no retry will fix.
    pub fn is_auth_failure(&self) -> bool {
        self.code().is_some_and(ApiErrorCode::is_auth_failure)
    }

    /// The `result` label of `janus_slack_api_calls_total`: Slack's error
    /// code when it answered `ok:false`, else a word for what went wrong, so
    /// a dashboard can tell "Slack said no" from "Slack was not reached".
    pub fn metric_label(&self) -> &str {
        match self {
            Self::Api { code, .. } => code.as_str(),
            Self::RateLimited { .. } => "ratelimited",
            Self::Http { .. } => "http_error",
            Self::Transport { .. } => "transport_error",
            Self::Protocol { .. } => "protocol_error",
            Self::Setup(_) => "setup_error",
        }
    }
}

/// The egress error in `error`'s chain, when opening the connection failed.
fn egress_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a crate::egress::EgressError> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(egress) = current.downcast_ref::<crate::egress::EgressError>() {
            return Some(egress);
        }
        next = current.source();
    }
    None
}

/// One line for a failed request: the egress error when the connection
/// failed (it names the proxy and what it said), else the error and its
/// causes, `outer: inner`, without repeats. slack-morphism's own text is the
/// `Debug` of the cause, which reads badly and would hide the proxy's name.
fn transport_detail(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(egress) = egress_error(error) {
        return egress.to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !parts.iter().any(|seen| seen.contains(&text)) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_round_trip_and_unknown_ones_are_kept() {
        for code in [
            "name_taken",
            "invalid_auth",
            "already_pinned",
            "weird_new_code",
        ] {
            assert_eq!(ApiErrorCode::from_wire(code).as_str(), code);
        }
        assert_eq!(
            ApiErrorCode::from_wire("weird_new_code"),
            ApiErrorCode::Other("weird_new_code".into())
        );
    }

    #[test]
    fn only_token_problems_count_as_auth_failures() {
        assert!(ApiErrorCode::AccountInactive.is_auth_failure());
        assert!(!ApiErrorCode::NameTaken.is_auth_failure());
    }
}
