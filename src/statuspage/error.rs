//! Statuspage errors: typed for the code that reacts to them, and each with
//! a [`StatuspageError::user_message`] for the person who clicked.
//!
//! No variant holds a header or the API key; details come from reqwest's
//! error text (which names the URL, never headers) or from Statuspage's body.

use std::time::Duration;

use serde_json::Value;

/// The longest message from Statuspage's body shown to a user.
const MAX_SHOWN_MESSAGE: usize = 300;

/// A failed Statuspage call. `op` names the call in words ("create incident").
#[derive(Debug, thiserror::Error)]
pub enum StatuspageError {
    /// HTTP 401: the key is wrong or revoked.
    #[error("Statuspage {op}: the API key was refused (HTTP 401)")]
    Unauthorized { op: &'static str },
    /// HTTP 404: the page id, or the incident id, does not exist.
    #[error("Statuspage {op}: not found (HTTP 404)")]
    NotFound { op: &'static str },
    /// A 4xx (422 mostly) with Statuspage's reason.
    #[error("Statuspage {op} was rejected (HTTP {status}): {}", message.as_deref().unwrap_or("no reason given"))]
    Rejected {
        op: &'static str,
        status: u16,
        /// Statuspage's reason, flattened to one sentence, when it gave one.
        message: Option<String>,
    },
    /// Still 420/429 after every retry, or told to wait longer than we will.
    #[error("Statuspage {op} still rate limited after {attempts} attempts")]
    RateLimited {
        op: &'static str,
        /// How many requests were sent.
        attempts: u32,
    },
    /// A 5xx that retries did not clear (or that was not retried).
    #[error("Statuspage {op} failed on Statuspage's side (HTTP {status})")]
    Server { op: &'static str, status: u16 },
    /// No answer: connection refused, reset, DNS, TLS, timeout.
    #[error("Statuspage {op} could not be reached: {detail}")]
    Unreachable { op: &'static str, detail: String },
    /// A create whose outcome is unknown (timeout or 5xx). It was **not**
    /// retried, since a retry could create the incident twice; find out with
    /// [`super::StatuspageClient::find_by_janus_id`].
    #[error("Statuspage create incident may or may not have happened ({detail}); not retried")]
    CreateNotConfirmed {
        /// What happened instead of a 201.
        detail: String,
    },
    /// An answer we could not read (bad JSON, a redirect, an unexpected status).
    #[error("Statuspage {op} gave an unexpected answer: {detail}")]
    Unexpected {
        op: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// Janus refused to send the request (e.g. a name over 255 characters).
    #[error("Statuspage {op} not sent: {reason}")]
    Invalid {
        op: &'static str,
        /// Why, in words for the user.
        reason: String,
    },
    /// The client could not be built (bad base URL, TLS setup).
    #[error("Statuspage client setup failed: {0}")]
    Setup(String),
}

impl StatuspageError {
    /// One plain sentence for the person who clicked: what happened, and
    /// "ask your Janus admin" when only the configuration can fix it. It
    /// never names a setting; [`Self::setting`] does, for the log line.
    pub fn user_message(&self) -> String {
        match self {
            Self::Unauthorized { .. } => {
                "Statuspage refused Janus's API key, so nothing was published. Ask your Janus admin."
                    .to_owned()
            }
            Self::NotFound { .. } => {
                "Statuspage does not know the page or incident Janus asked for. Ask your Janus admin."
                    .to_owned()
            }
            Self::Rejected {
                message: Some(message),
                ..
            } => format!("Statuspage rejected it: {}", sentence(message)),
            Self::Rejected {
                status,
                message: None,
                ..
            } => format!("Statuspage rejected it (HTTP {status}) without saying why."),
            Self::RateLimited { .. } => {
                "Statuspage is rate limiting Janus and did not let it through in time; try again in a minute."
                    .to_owned()
            }
            Self::Server { status, .. } => format!(
                "Statuspage had a problem on its side (HTTP {status}); try again in a moment."
            ),
            Self::Unreachable { .. } => {
                "Statuspage could not be reached; try again in a moment.".to_owned()
            }
            Self::CreateNotConfirmed { .. } => {
                "Statuspage did not confirm the incident, but it may have been created; \
                 Janus did not send it again, to avoid a duplicate. Check the status page before retrying."
                    .to_owned()
            }
            Self::Unexpected { .. } => {
                "Statuspage gave an answer Janus could not read; try again, and tell an admin if it persists."
                    .to_owned()
            }
            Self::Invalid { reason, .. } => sentence(reason),
            Self::Setup(_) => {
                "The Statuspage integration is not set up right. Ask your Janus admin.".to_owned()
            }
        }
    }

    /// The setting an operator should check for this failure, for the log
    /// line beside [`Self::user_message`]; `None` when no setting is to blame.
    pub fn setting(&self) -> Option<&'static str> {
        match self {
            Self::Unauthorized { .. } => Some("statuspage.api_key (STATUSPAGE_API_KEY)"),
            Self::NotFound { .. } => Some("statuspage.page_id (STATUSPAGE_PAGE_ID)"),
            Self::Unreachable { .. } | Self::Setup(_) => {
                Some("statuspage.api_url (STATUSPAGE_API_URL)")
            }
            _ => None,
        }
    }

    /// Whether the key itself is bad, which no retry fixes.
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }
}

/// Statuspage's reason from an error body, whichever of its shapes came:
/// `{"error": "…"}`, `{"error": ["…", …]}`, `{"error": {"field": ["…"]}}`
/// (read as "field …") or `{"message": "…"}`. `None` when there is none.
pub(crate) fn message_from_body(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let parts = value
        .get("error")
        .or_else(|| value.get("errors"))
        .map(flatten)
        .filter(|parts| !parts.is_empty())
        .or_else(|| value.get("message").map(flatten))?;
    let joined = parts
        .into_iter()
        .map(|part| part.trim().to_owned())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if joined.is_empty() {
        return None;
    }
    Some(truncate(joined))
}

/// Every message in an error value; a field map's keys lead their messages.
fn flatten(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(flatten).collect(),
        Value::Object(fields) => fields
            .iter()
            .flat_map(|(field, messages)| {
                let field = field.replace('_', " ");
                flatten(messages)
                    .into_iter()
                    .map(move |message| format!("{field} {message}"))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn truncate(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_SHOWN_MESSAGE) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// `text` ending with a full stop (unless it already ends a sentence).
fn sentence(text: &str) -> String {
    let text = text.trim();
    match text.chars().last() {
        Some('.' | '!' | '?' | '…') | None => text.to_owned(),
        Some(_) => format!("{text}."),
    }
}

/// A wait from `Retry-After` in seconds (Statuspage sends seconds; an HTTP
/// date or garbage counts as absent).
pub(crate) fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let seconds: f64 = value?.trim().parse().ok()?;
    // Capped so that an absurd value cannot overflow; the caller refuses
    // waits this long anyway.
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Option<String> {
        message_from_body(body.as_bytes())
    }

    #[test]
    fn each_error_shape_reads_as_a_sentence() {
        assert_eq!(
            message(include_str!(
                "../../tests/fixtures/statuspage/error_401.json"
            ))
            .unwrap(),
            "Could not authenticate"
        );
        assert_eq!(
            message(include_str!(
                "../../tests/fixtures/statuspage/error_422.array.json"
            ))
            .unwrap(),
            "Name can't be blank"
        );
        assert_eq!(
            message(include_str!(
                "../../tests/fixtures/statuspage/error_422.fieldmap.json"
            ))
            .unwrap(),
            "status is not included in the list"
        );
        assert_eq!(
            message(include_str!(
                "../../tests/fixtures/statuspage/error_422.openapi_message.json"
            ))
            .unwrap(),
            "Unprocessable entity"
        );
        assert_eq!(
            message(r#"{"error": {"impact_override": ["is invalid"], "name": "is too long"}}"#)
                .unwrap(),
            "impact override is invalid; name is too long"
        );
    }

    #[test]
    fn bodies_without_a_reason_give_none() {
        assert_eq!(message("<html>Bad Gateway</html>"), None);
        assert_eq!(message(r#"{"error": []}"#), None);
        assert_eq!(message(r#"{"status": 422}"#), None);
        assert_eq!(
            message(r#"{"error": null, "message": "fallback"}"#).unwrap(),
            "fallback"
        );
    }

    #[test]
    fn long_reasons_are_cut() {
        let long = format!(r#"{{"error": "{}"}}"#, "é".repeat(1000));
        assert_eq!(
            message(&long).unwrap().chars().count(),
            MAX_SHOWN_MESSAGE + 1
        );
    }

    #[test]
    fn user_messages_end_as_sentences() {
        let rejected = StatuspageError::Rejected {
            op: "create incident",
            status: 422,
            message: Some("Name can't be blank".into()),
        };
        assert_eq!(
            rejected.user_message(),
            "Statuspage rejected it: Name can't be blank."
        );
    }

    #[test]
    fn retry_after_is_seconds_or_nothing() {
        assert_eq!(parse_retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(Some(" 0.5 ")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(parse_retry_after(None), None);
    }
}
