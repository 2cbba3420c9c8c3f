//! Socket Mode frames: text in, typed frame out, and the ack frame back.
//!
//! Framing never knows meaning: an envelope's `payload` stays JSON here and
//! is typed by the bus. The one thing this module must get right is the
//! `envelope_id`, because without it nothing can be acked.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::bus::{EnvelopeKind, RawEnvelope};
use crate::domain::text::{LOG_SNIPPET_CHARS, snippet};

/// One inbound text frame, parsed.
#[derive(Debug)]
pub enum Frame {
    /// First frame on a new socket; not acked.
    Hello(Hello),
    /// Slack is about to close (or wants us to close) this socket.
    Disconnect(DisconnectReason),
    /// Something to ack and hand on; its payload is parsed after the ack.
    Envelope(RawEnvelope),
    /// A frame with no `envelope_id` that is neither hello nor disconnect:
    /// nothing to ack, kept verbatim for the log.
    Unknown(String),
}

/// The `hello` frame's useful part.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Hello {
    /// Sockets the app has open, as Slack counts them.
    #[serde(default)]
    pub num_connections: Option<u32>,
    /// Slack's estimate of this socket's life, in seconds.
    #[serde(default)]
    pub approximate_connection_time: Option<u64>,
    /// The app the socket is for (`connection_info.app_id`): envelopes for
    /// any other are not ours.
    #[serde(default)]
    pub app_id: Option<String>,
}

/// Why Slack sent `disconnect`; each reason asks for different handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The socket closes in about 10 s: open a replacement first.
    Warning,
    /// Slack asks for a new socket: open a replacement first.
    RefreshRequested,
    /// Over 10 sockets for the app: close first, then reconnect.
    TooManyWebsockets,
    /// Socket Mode was turned off for the app: stop.
    LinkDisabled,
    /// A reason this build does not know; treated like a refresh.
    Other(String),
}

impl DisconnectReason {
    fn from_wire(reason: &str) -> Self {
        match reason {
            "warning" => Self::Warning,
            "refresh_requested" => Self::RefreshRequested,
            "too_many_websockets" => Self::TooManyWebsockets,
            "link_disabled" => Self::LinkDisabled,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The loose shape every frame is read into first. Everything is optional
/// so that one odd field never costs us the `envelope_id`.
#[derive(Deserialize)]
struct WireFrame {
    #[serde(rename = "type")]
    kind: Option<String>,
    envelope_id: Option<String>,
    /// Kept as text: checked, not built into a tree (that is the bus's job).
    #[serde(default)]
    payload: Option<Box<RawValue>>,
    #[serde(default)]
    accepts_response_payload: Value,
    #[serde(default)]
    retry_attempt: Value,
    #[serde(default)]
    retry_reason: Value,
    #[serde(default)]
    reason: Value,
    #[serde(default)]
    num_connections: Value,
    #[serde(default)]
    debug_info: Value,
    #[serde(default)]
    connection_info: Value,
}

/// A frame that is not JSON, or not a JSON object.
#[derive(Debug, thiserror::Error)]
#[error("unparseable frame ({reason}): {snippet}")]
pub struct FrameError {
    reason: String,
    snippet: String,
}

/// Reads one text frame. Fails only on text that is not a JSON object,
/// with a snippet of it for the log; an odd field never costs the
/// `envelope_id`.
pub fn parse(text: &str) -> Result<Frame, FrameError> {
    let wire: WireFrame = serde_json::from_str(text).map_err(|e| FrameError {
        reason: e.to_string(),
        snippet: snippet(text, LOG_SNIPPET_CHARS),
    })?;
    if let Some(envelope_id) = wire.envelope_id.filter(|id| !id.is_empty()) {
        let kind = match wire.kind.as_deref() {
            Some("events_api") => EnvelopeKind::EventsApi,
            Some("slash_commands") => EnvelopeKind::SlashCommands,
            Some("interactive") => EnvelopeKind::Interactive,
            other => EnvelopeKind::Other(other.unwrap_or("").to_owned()),
        };
        return Ok(Frame::Envelope(RawEnvelope {
            envelope_id,
            kind,
            payload: wire.payload,
            accepts_response_payload: wire.accepts_response_payload.as_bool().unwrap_or(false),
            retry_attempt: wire
                .retry_attempt
                .as_u64()
                .and_then(|n| u32::try_from(n).ok()),
            retry_reason: wire.retry_reason.as_str().map(str::to_owned),
            size: text.len(),
        }));
    }
    match wire.kind.as_deref() {
        Some("hello") => Ok(Frame::Hello(Hello {
            num_connections: wire
                .num_connections
                .as_u64()
                .and_then(|n| u32::try_from(n).ok()),
            approximate_connection_time: wire
                .debug_info
                .get("approximate_connection_time")
                .and_then(Value::as_u64),
            app_id: wire
                .connection_info
                .get("app_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })),
        Some("disconnect") => Ok(Frame::Disconnect(DisconnectReason::from_wire(
            wire.reason.as_str().unwrap_or(""),
        ))),
        _ => Ok(Frame::Unknown(snippet(text, LOG_SNIPPET_CHARS))),
    }
}

/// The ack for an envelope, with an optional response payload. Written
/// straight out: no tree is built for the one frame sent per envelope.
pub fn ack(envelope_id: &str, payload: Option<&Value>) -> String {
    // A `&str` and a `Value` always serialize.
    let id = serde_json::to_string(envelope_id).unwrap_or_default();
    match payload {
        None => format!(r#"{{"envelope_id":{id}}}"#),
        Some(payload) => format!(r#"{{"envelope_id":{id},"payload":{payload}}}"#),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_recognised_with_its_connection_time() {
        let frame = parse(r#"{"type":"hello","num_connections":1,"debug_info":{"host":"h","approximate_connection_time":18060},"connection_info":{"app_id":"A1"}}"#).unwrap();
        match frame {
            Frame::Hello(h) => {
                assert_eq!(h.num_connections, Some(1));
                assert_eq!(h.approximate_connection_time, Some(18060));
                assert_eq!(h.app_id.as_deref(), Some("A1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_disconnect_reason_is_told_apart() {
        for (wire, want) in [
            ("warning", DisconnectReason::Warning),
            ("refresh_requested", DisconnectReason::RefreshRequested),
            ("too_many_websockets", DisconnectReason::TooManyWebsockets),
            ("link_disabled", DisconnectReason::LinkDisabled),
            ("brand_new", DisconnectReason::Other("brand_new".into())),
        ] {
            let text = format!(r#"{{"type":"disconnect","reason":"{wire}"}}"#);
            match parse(&text).unwrap() {
                Frame::Disconnect(r) => assert_eq!(r, want),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn an_envelope_with_odd_fields_still_yields_its_id() {
        let text = r#"{"envelope_id":"e1","type":"mystery","payload":"not an object","accepts_response_payload":"yes","retry_attempt":-1,"extra":{"x":1}}"#;
        match parse(text).unwrap() {
            Frame::Envelope(e) => {
                assert_eq!(e.envelope_id, "e1");
                assert_eq!(e.kind, EnvelopeKind::Other("mystery".into()));
                assert!(!e.accepts_response_payload);
                assert_eq!(e.retry_attempt, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_that_keeps_a_snippet() {
        let err = parse(&"x".repeat(10_000)).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        assert!(err.len() < 1_000);
    }

    #[test]
    fn an_ack_carries_the_payload_only_when_given() {
        assert_eq!(ack("e1", None), r#"{"envelope_id":"e1"}"#);
        assert_eq!(ack(r#"e"\1"#, None), r#"{"envelope_id":"e\"\\1"}"#);
        let with = ack("e2", Some(&serde_json::json!({"text":"hi"})));
        let v: Value = serde_json::from_str(&with).unwrap();
        assert_eq!(v["payload"]["text"], "hi");
    }
}
