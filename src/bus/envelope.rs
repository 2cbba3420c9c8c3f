//! The envelope: the unit Slack delivers over a socket and the bus routes.
//!
//! These types are the bus's input, so they live here rather than in
//! `socket::frame` (which builds them from the wire): the socket hands
//! envelopes to the bus, and dependencies point socket → bus only. Were
//! they the socket's, the bus would have to import the socket back.

use serde_json::Value;
use serde_json::value::RawValue;
use tracing::Span;

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

impl EnvelopeKind {
    /// The frame's `type`, as Slack wrote it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::EventsApi => "events_api",
            Self::SlashCommands => "slash_commands",
            Self::Interactive => "interactive",
            Self::Other(kind) => kind,
        }
    }
}

/// The span an envelope is handled in, from its ack to the actors' work,
/// so a log reader can follow one click: its id and type, and its channel
/// once the payload has been parsed ([`RawEnvelope::parse`]). Ids only,
/// never payload text (a `response_url` is a credential for a while).
///
/// A root span: the work outlives the socket that read the envelope, and
/// a redelivery on another socket is the same envelope.
pub fn span(envelope_id: &str, kind: &EnvelopeKind) -> Span {
    tracing::info_span!(
        parent: None,
        "envelope",
        envelope_id = %envelope_id,
        kind = %kind.as_str(),
        channel = tracing::field::Empty,
    )
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
    /// The envelope with its payload parsed. A payload too deeply nested to
    /// parse becomes `null`, which the bus logs as unparsed.
    ///
    /// Its span is made when its handling starts ([`Envelope::span`]):
    /// not where the frame is read (the socket's reader only reads and
    /// acks, and a span per envelope on it doubled the ack p99 of a burst),
    /// nor here (a burst waiting its turn would hold a span each, and the
    /// tracing registry keeps its span slots at their peak number: ~5 MiB
    /// after 5,000; BENCHMARKS.md).
    pub fn parse(self) -> Envelope {
        let mut unparsed = None;
        let payload = match &self.payload {
            None => Value::Null,
            Some(raw) => serde_json::from_str(raw.get()).unwrap_or_else(|e| {
                unparsed = Some(e);
                Value::Null
            }),
        };
        let mut envelope = Envelope {
            envelope_id: self.envelope_id,
            kind: self.kind,
            payload,
            accepts_response_payload: self.accepts_response_payload,
            retry_attempt: self.retry_attempt,
            retry_reason: self.retry_reason,
            answered_in_ack: false,
            span: Span::none(),
        };
        if let Some(e) = unparsed {
            envelope.span().in_scope(|| {
                tracing::warn!(error = %e, "envelope payload could not be parsed");
            });
        }
        envelope
    }
}

/// An envelope with its payload parsed: what the bus routes.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// What the ack must echo.
    pub envelope_id: String,
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
    /// See [`span`]; made by [`Envelope::span`], `Span::none()` until then.
    pub span: Span,
}

impl Envelope {
    /// Its span (see [`span`]), which knows its channel: made the first
    /// time it is asked for, when its handling starts.
    pub fn span(&mut self) -> Span {
        if self.span.is_none() {
            self.span = span(&self.envelope_id, &self.kind);
            if let Some(channel) = self.channel() {
                self.span
                    .record("channel", tracing::field::display(channel));
            }
        }
        self.span.clone()
    }

    /// The channel it happened in, when its payload names one (a view
    /// submission does not).
    pub fn channel(&self) -> Option<&str> {
        let text = |pointer| self.payload.pointer(pointer).and_then(Value::as_str);
        match self.kind {
            EnvelopeKind::EventsApi => {
                text("/event/channel").or_else(|| text("/event/item/channel"))
            }
            EnvelopeKind::Interactive => {
                text("/channel/id").or_else(|| text("/container/channel_id"))
            }
            EnvelopeKind::SlashCommands => text("/channel_id"),
            EnvelopeKind::Other(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;

    fn raw(kind: EnvelopeKind, payload: Value) -> RawEnvelope {
        let payload = RawValue::from_string(payload.to_string()).unwrap();
        RawEnvelope {
            envelope_id: "env-1".into(),
            kind,
            payload: Some(payload),
            accepts_response_payload: false,
            retry_attempt: None,
            retry_reason: None,
            size: 0,
        }
    }

    /// Log output, captured as the human format writes it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_channel_is_found_where_each_kind_of_envelope_names_it() {
        let channel = |kind, payload| raw(kind, payload).parse().channel().map(str::to_owned);
        let event = json!({"event": {"type": "reaction_added", "item": {"channel": "C1"}}});
        assert_eq!(
            channel(EnvelopeKind::EventsApi, event).as_deref(),
            Some("C1")
        );
        let click = json!({"type": "block_actions", "channel": {"id": "C2"}});
        assert_eq!(
            channel(EnvelopeKind::Interactive, click).as_deref(),
            Some("C2")
        );
        let command = json!({"command": "/incident", "channel_id": "C3"});
        assert_eq!(
            channel(EnvelopeKind::SlashCommands, command).as_deref(),
            Some("C3")
        );
        let form = json!({"type": "view_submission", "view": {"id": "V1"}});
        assert_eq!(channel(EnvelopeKind::Interactive, form), None);
    }

    #[test]
    fn a_line_logged_for_an_envelope_names_its_id_type_and_channel_and_no_payload_text() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let command = json!({
                "command": "/incident", "text": "declare db is down", "channel_id": "C3",
                "response_url": "https://hooks.slack.com/commands/T1/secret",
                "token": "verification-token",
            });
            let mut envelope = raw(EnvelopeKind::SlashCommands, command).parse();
            envelope.span().in_scope(|| tracing::info!("handled"));
        });
        let line = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            line.contains("envelope{envelope_id=env-1 kind=slash_commands channel=C3}"),
            "{line}"
        );
        for secret in ["hooks.slack.com", "verification-token", "db is down"] {
            assert!(!line.contains(secret), "{line}");
        }
    }
}
