//! The envelope: the unit Slack delivers over a socket and the bus routes.
//!
//! These types are the bus's input, so they live here rather than in
//! `socket::frame` (which builds them from the wire): the socket hands
//! envelopes to the bus, and dependencies point socket → bus only. Were
//! they the socket's, the bus would have to import the socket back.

use serde_json::Value;
use serde_json::value::RawValue;

/// The kind of an envelope, from its `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeKind {
    /// `events_api`: an Events API `event_callback`.
    EventsApi,
    /// `slash_commands`: the form fields of a slash command.
    SlashCommands,
    /// `interactive`: block actions, view submissions, shortcuts…
    Interactive,
    /// A type this build does not know; acked and logged.
    Other(String),
}

/// An envelope as the socket reads it: its payload still JSON text.
///
/// The socket acks an envelope in this form and the bus parses it after:
/// building the payload's tree was three quarters of the reader's work per
/// frame (see BENCHMARKS.md), and none of it is needed to ack.
#[derive(Debug, Clone)]
pub struct RawEnvelope {
    /// What the ack must echo.
    pub envelope_id: String,
    /// What the payload is.
    pub kind: EnvelopeKind,
    /// The payload, exactly as it came (syntax already checked); `None`
    /// when the frame had none.
    pub payload: Option<Box<RawValue>>,
    /// Whether the ack may carry a response (slash commands, view submissions).
    pub accepts_response_payload: bool,
    /// Set on redeliveries of events that were not acked in time.
    pub retry_attempt: Option<u32>,
    /// Why Slack redelivered, e.g. `timeout`.
    pub retry_reason: Option<String>,
    /// Bytes of the frame it arrived in: what it is charged against the
    /// bus's memory budget until it has been handled.
    pub size: usize,
}

impl RawEnvelope {
    /// The envelope with its payload parsed. A payload too deeply nested
    /// to parse becomes `null`, which the bus logs as unparsed.
    pub fn parse(self) -> Envelope {
        let payload = match &self.payload {
            None => Value::Null,
            Some(raw) => serde_json::from_str(raw.get()).unwrap_or_else(|e| {
                tracing::warn!(envelope_id = %self.envelope_id, error = %e,
                    "envelope payload could not be parsed");
                Value::Null
            }),
        };
        Envelope {
            envelope_id: self.envelope_id,
            kind: self.kind,
            payload,
            accepts_response_payload: self.accepts_response_payload,
            retry_attempt: self.retry_attempt,
            retry_reason: self.retry_reason,
            answered_in_ack: false,
        }
    }
}

/// An envelope with its payload parsed: what the bus routes.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// What the ack must echo.
    pub envelope_id: String,
    /// What the payload is.
    pub kind: EnvelopeKind,
    /// Exactly what an HTTP request URL would have received.
    pub payload: Value,
    /// Whether the ack may carry a response (slash commands, view submissions).
    pub accepts_response_payload: bool,
    /// Set on redeliveries of events that were not acked in time.
    pub retry_attempt: Option<u32>,
    /// Why Slack redelivered, e.g. `timeout`.
    pub retry_reason: Option<String>,
    /// Whether the ack carried a response payload, so handlers know the
    /// person was already answered.
    pub answered_in_ack: bool,
}
