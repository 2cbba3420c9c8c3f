//! Slack errors, typed so callers can match on the ones they handle
//! (`name_taken`, `already_pinned`…) instead of comparing strings.

use std::time::Duration;

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
        method: &'static str,
        /// Slack's error code.
        code: ApiErrorCode,
    },
    /// Rate limited for longer than the call's time budget: given up
    /// without sending again. Slack did not act on a request it answered
    /// 429, so nothing was done: the caller may try again later.
    #[error(
        "Slack {method} still rate limited after {attempts} tries; gave up within its time budget"
    )]
    RateLimited {
        method: &'static str,
        /// How many requests were answered 429 (0: the method was
        /// already blocked past the budget, so none was sent).
        attempts: u32,
    },
    /// No answer in time: the last attempt was cut off at its deadline. The
    /// request may have reached Slack and taken effect; see
    /// [`SlackError::is_timeout`].
    #[error("Slack {method} did not answer in time ({attempts} attempt(s), {:.1}s in all)", elapsed.as_secs_f64())]
    Timeout {
        /// The Web API method, or `response_url`.
        method: &'static str,
        /// How many attempts were sent (each timed out, or failed).
        attempts: u32,
        /// From the start of the call to giving up, waits included.
        elapsed: Duration,
    },
    /// An HTTP status other than 200 and 429.
    #[error("Slack {method} answered HTTP {status}")]
    Http { method: &'static str, status: u16 },
    /// The request did not complete (connection refused, reset, TLS…).
    #[error("Slack {method} could not be reached: {detail}")]
    Transport {
        method: &'static str,
        detail: String,
        /// Whether the request may have gone out: `false` only when the
        /// connection itself could not be opened (refused, proxy, TLS, DNS).
        sent: bool,
        /// The kind of connection failure, when opening the connection is
        /// what failed: start-up retries an unreachable Slack, not a proxy
        /// that refuses.
        egress: Option<crate::egress::EgressFailure>,
    },
    /// Slack answered something we could not read.
    #[error("Slack {method} gave an unexpected answer: {detail}")]
    Protocol {
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
                    sent: !is_connect_failure(&other),
                    detail: transport_detail(cause),
                    egress: egress_error(cause).map(crate::egress::EgressError::failure),
                }
            }
        }
    }

    /// What went wrong, in words for a person in Slack: never a host, a
    /// proxy or the client's own error text, which only the log (this
    /// error's `Display`) carries.
    pub fn for_people(&self) -> String {
        match self {
            Self::Api { code, .. } => format!("Slack refused it ({})", code.as_str()),
            Self::RateLimited { .. } => "Slack asked me to slow down".to_owned(),
            Self::Timeout { .. } => "Slack did not answer in time".to_owned(),
            Self::Http { .. } | Self::Protocol { .. } => "Slack answered with an error".to_owned(),
            Self::Transport { .. } | Self::Setup(_) => "I could not reach Slack".to_owned(),
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

    /// Whether the call was given up for want of an answer in time. For a
    /// method the client does not retry (`chat.postMessage`,
    /// `conversations.create`…, see `slack::is_retry_safe`) this means
    /// "maybe applied": Slack may have acted on it, so the caller looks
    /// (history, channel by name) before doing it again.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// Whether Slack may have acted on the request although the call
    /// failed: a timeout, a connection lost after the request went out, or
    /// an HTTP 5xx. `false` for answers that say it was not done (`ok:false`,
    /// 429) and for connections that never opened. A caller that must not
    /// do a thing twice reconciles before repeating when this is `true`.
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Transport { sent, .. } => *sent,
            Self::Http { status, .. } => *status >= 500,
            // HTTP 200 with a body we could not read: Slack probably did it.
            Self::Protocol { .. } => true,
            Self::Api { .. } | Self::RateLimited { .. } | Self::Setup(_) => false,
        }
    }

    /// Whether another attempt may go differently: no answer in time, a
    /// connection lost after the request went out, or a 5xx. Connections
    /// that never opened are not: their usual causes (a proxy refusing, an
    /// unknown CA, DNS) are configuration that retrying would only hide.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Transport { sent, .. } => *sent,
            Self::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The `result` label of `janus_slack_api_calls_total`: Slack's error
    /// code when it answered `ok:false`, else a word for what went wrong, so
    /// a dashboard can tell "Slack said no" from "Slack was not reached".
    pub fn metric_label(&self) -> &str {
        match self {
            Self::Api { code, .. } => code.as_str(),
            Self::RateLimited { .. } => "ratelimited",
            Self::Timeout { .. } => "timeout",
            Self::Http { .. } => "http_error",
            Self::Transport { .. } => "transport_error",
            Self::Protocol { .. } => "protocol_error",
            Self::Setup(_) => "setup_error",
        }
    }
}

/// Whether the connection could not be opened at all (refused, proxy,
/// TLS handshake, DNS): the request never left, so Slack did nothing.
pub(crate) fn is_connect_failure(e: &SlackClientError) -> bool {
    match e {
        SlackClientError::HttpProtocolError(SlackClientHttpProtocolError {
            cause: Some(cause),
            ..
        }) => cause
            .downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some_and(hyper_util::client::legacy::Error::is_connect),
        _ => false,
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
    fn what_people_read_names_no_host_proxy_or_method() {
        let errors = [
            SlackError::Transport {
                method: "conversations.create",
                detail: "proxy proxy.corp:3128 refused to open a tunnel to slack.com:443".into(),
                sent: false,
                egress: None,
            },
            SlackError::Http {
                method: "chat.postMessage",
                status: 502,
            },
            SlackError::Protocol {
                method: "chat.update",
                detail: "expected value at line 1".into(),
            },
            SlackError::Setup("no CA file at /etc/janus/ca.pem".into()),
        ];
        for e in errors {
            let said = e.for_people();
            for internal in [
                "proxy",
                "3128",
                "slack.com",
                "conversations",
                "chat.",
                "/etc",
                "line 1",
            ] {
                assert!(
                    !said.contains(internal),
                    "{internal:?} in {said:?} (for {e})"
                );
            }
        }
        let refused = SlackError::Api {
            method: "conversations.create",
            code: ApiErrorCode::from_wire("invalid_name_specials"),
        };
        assert_eq!(
            refused.for_people(),
            "Slack refused it (invalid_name_specials)"
        );
    }

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
    fn a_timeout_is_recognised_counted_apart_and_may_have_taken_effect() {
        let timeout = SlackError::Timeout {
            method: "chat.postMessage",
            attempts: 1,
            elapsed: Duration::from_millis(1500),
        };
        assert!(timeout.is_timeout());
        assert!(timeout.may_have_taken_effect());
        assert!(timeout.is_transient());
        assert_eq!(timeout.metric_label(), "timeout");
        assert!(timeout.to_string().contains("1.5s"), "{timeout}");
        let limited = SlackError::RateLimited {
            method: "conversations.create",
            attempts: 3,
        };
        assert!(!limited.is_timeout());
        assert!(!limited.may_have_taken_effect());
        assert!(
            !limited.is_transient(),
            "waited out by the gate, not retried"
        );
    }

    #[test]
    fn only_failures_after_the_request_went_out_may_have_taken_effect() {
        let transport = |sent| SlackError::Transport {
            method: "chat.postMessage",
            detail: "connection reset".into(),
            sent,
            egress: None,
        };
        assert!(transport(true).may_have_taken_effect());
        assert!(transport(true).is_transient());
        assert!(!transport(false).may_have_taken_effect());
        assert!(
            !transport(false).is_transient(),
            "a refused connect stays refused"
        );
        let http = |status| SlackError::Http {
            method: "chat.update",
            status,
        };
        assert!(http(503).is_transient() && http(503).may_have_taken_effect());
        assert!(!http(404).is_transient() && !http(404).may_have_taken_effect());
        let said_no = SlackError::Api {
            method: "chat.postMessage",
            code: ApiErrorCode::ChannelNotFound,
        };
        assert!(!said_no.may_have_taken_effect() && !said_no.is_transient());
    }

    #[test]
    fn only_token_problems_count_as_auth_failures() {
        assert!(ApiErrorCode::AccountInactive.is_auth_failure());
        assert!(!ApiErrorCode::NameTaken.is_auth_failure());
    }
}
