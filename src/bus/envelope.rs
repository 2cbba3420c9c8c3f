//! The envelope: the unit Slack delivers over a socket and the bus routes.

use serde_json::Value;

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

/// An envelope: acked at once, then handed to the bus.
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
    /// Bytes of the frame it arrived in: what it is charged against the
    /// bus's memory budget until it has been handled.
    pub size: usize,
}
