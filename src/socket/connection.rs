//! One Socket Mode websocket: read a frame, ack it, hand it on.
//!
//! The reader never waits on anything slow before acking. An envelope that
//! accepts a response payload gets its ack from a short-lived task (bounded
//! by the ack budget) so the reader moves straight on to the next frame.
//! Acks are written by a separate writer task, fed by a channel: the reader
//! and the response tasks both send through it. Each ack travels with the
//! instant its envelope was read, so the writer can time it once written.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::frame::{self, DisconnectReason, Frame, Hello};
use super::{SocketError, Tuning};
use crate::bus::{BusHandle, EnvelopeKind};
use crate::metrics::Metrics;
use crate::slack::SlackApi;

/// Largest frame accepted. Slack's biggest payloads (block actions from a
/// large modal) are a few hundred KB; this leaves a wide margin while still
/// bounding memory per socket.
const MAX_FRAME_BYTES: usize = 8 << 20;

/// Most acks written out together before a flush, so that the first of a
/// burst is not held back long by the ones queued behind it.
const ACKS_PER_WRITE: usize = 64;

/// What a connection tells the slot that owns it.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// The socket said hello: it is live.
    Hello(Hello),
    /// Slack sent `disconnect`.
    Disconnect(DisconnectReason),
    /// The socket is gone.
    Ended(EndReason),
}

/// Why a socket ended.
#[derive(Debug)]
pub(crate) enum EndReason {
    /// Slack closed it (or the TCP stream ended).
    ClosedByPeer,
    /// We closed it.
    ClosedByUs,
    /// No frame of any kind within the liveness window.
    Silent,
    /// A websocket or IO error.
    Error(String),
}

/// A live socket, owned by one slot of the manager.
pub(crate) struct Connection {
    pub(crate) id: u64,
    /// When it said hello: how long it stayed open decides whether its end
    /// starts the reconnect backoff over.
    pub(crate) opened_at: Instant,
    pub(crate) events: mpsc::Receiver<ConnEvent>,
    close: CancellationToken,
    task: JoinHandle<()>,
}

impl Connection {
    /// Opens a socket: asks Slack for a URL, connects, and waits for hello.
    pub(crate) async fn open(
        id: u64,
        api: &SlackApi,
        bus: BusHandle,
        tuning: &Tuning,
        connected: watch::Sender<usize>,
        metrics: Arc<Metrics>,
        responses: TaskTracker,
    ) -> Result<Connection, SocketError> {
        let url = api.open_socket_url().await.map_err(SocketError::Open)?;
        // The URL carries a one-use ticket: log where, never the ticket.
        tracing::debug!(
            socket = id,
            host = url.host_str().unwrap_or(""),
            "connecting"
        );
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        // The TCP stream comes from the egress policy (directly, or a CONNECT
        // tunnel through the proxy), and TLS runs inside it with the
        // policy's trusted CAs: the same path as every Web API call.
        let egress = api.egress();
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let secure = url.scheme() == "wss";
        let via = egress
            .proxy_for_host(secure, &host, port)
            .map(|proxy| format!(" through proxy {}", proxy.authority()))
            .unwrap_or_default();
        let connect = async {
            let stream = egress
                .connect(secure, &host, port)
                .await
                .map_err(|e| SocketError::Connect(e.to_string()))?;
            let tls = tokio_tungstenite::Connector::Rustls(egress.tls_config());
            tokio_tungstenite::client_async_tls_with_config(
                url.as_str(),
                stream,
                Some(config),
                Some(tls),
            )
            .await
            .map_err(|e| SocketError::Connect(format!("{host}:{port}{via}: {e}")))
        };
        let (ws, _response) = tokio::time::timeout(tuning.connect_timeout, connect)
            .await
            .map_err(|_| SocketError::Connect(format!("{host}:{port}{via}: timed out")))??;

        let (events_tx, mut events) = mpsc::channel(16);
        let close = CancellationToken::new();
        let task = tokio::spawn(run(
            id,
            ws,
            bus,
            tuning.clone(),
            events_tx,
            close.clone(),
            connected,
            metrics,
            responses,
        ));
        let hello = tokio::time::timeout(tuning.connect_timeout, events.recv()).await;
        let mut conn = Connection {
            id,
            opened_at: Instant::now(),
            events,
            close,
            task,
        };
        match hello {
            Ok(Some(ConnEvent::Hello(hello))) => {
                conn.opened_at = Instant::now();
                tracing::info!(
                    socket = id,
                    num_connections = hello.num_connections,
                    expected_life_s = hello.approximate_connection_time,
                    "socket open"
                );
                Ok(conn)
            }
            Ok(Some(other)) => {
                conn.close().await;
                Err(SocketError::Connect(format!("no hello: {other:?}")))
            }
            Ok(None) | Err(_) => {
                conn.close().await;
                Err(SocketError::Connect("no hello within the timeout".into()))
            }
        }
    }

    /// Closes the socket and waits (briefly) for its reader to finish.
    /// Envelopes that arrive meanwhile are still acked.
    pub(crate) async fn close(self) {
        self.close.cancel();
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A frame for the writer; `read_at` is set on acks: when their envelope
/// was read, for the ack latency histogram.
struct Outbound {
    message: Message,
    read_at: Option<Instant>,
}

impl Outbound {
    fn ack(text: String, read_at: Instant) -> Self {
        Self {
            message: Message::text(text),
            read_at: Some(read_at),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    id: u64,
    ws: Ws,
    bus: BusHandle,
    tuning: Tuning,
    events: mpsc::Sender<ConnEvent>,
    close: CancellationToken,
    connected: watch::Sender<usize>,
    metrics: Arc<Metrics>,
    responses: TaskTracker,
) {
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Outbound>(256);
    let written = metrics.clone();
    let writer = tokio::spawn(async move {
        let mut acked = Vec::with_capacity(ACKS_PER_WRITE);
        while let Some(first) = out_rx.recv().await {
            // Under a burst, acks queue while one is written: write out what
            // waits and flush once — one syscall and TCP segment for the lot
            // rather than one each, which both ends pay for per frame.
            let mut next = Some(first);
            let mut closing = false;
            while let Some(Outbound { message, read_at }) = next.take() {
                closing = matches!(message, Message::Close(_));
                if let Err(e) = sink.feed(message).await {
                    tracing::debug!(socket = id, error = %e, "write failed");
                    return;
                }
                acked.extend(read_at);
                if !closing && acked.len() < ACKS_PER_WRITE {
                    next = out_rx.try_recv().ok();
                }
            }
            if let Err(e) = sink.flush().await {
                tracing::debug!(socket = id, error = %e, "write failed");
                return;
            }
            for read_at in acked.drain(..) {
                written.ack_written(read_at.elapsed());
            }
            if closing {
                return;
            }
        }
    });

    let mut said_hello = false;
    let mut closing_since: Option<Instant> = None;
    let end = loop {
        let wait = match closing_since {
            // After our Close, wait briefly for Slack's, acking what still comes.
            Some(since) => tuning
                .close_grace
                .saturating_sub(since.elapsed())
                .max(Duration::from_millis(1)),
            None => tuning.liveness,
        };
        let next = tokio::select! {
            _ = close.cancelled(), if closing_since.is_none() => {
                closing_since = Some(Instant::now());
                let close = Outbound { message: Message::Close(None), read_at: None };
                let _ = out_tx.send(close).await;
                continue;
            }
            next = tokio::time::timeout(wait, stream.next()) => next,
        };
        match next {
            Err(_) if closing_since.is_some() => break EndReason::ClosedByUs,
            Err(_) => break EndReason::Silent,
            Ok(None) if closing_since.is_some() => break EndReason::ClosedByUs,
            Ok(None) => break EndReason::ClosedByPeer,
            Ok(Some(Err(e))) if closing_since.is_some() => {
                tracing::debug!(socket = id, error = %e, "error while closing");
                break EndReason::ClosedByUs;
            }
            Ok(Some(Err(e))) => break EndReason::Error(e.to_string()),
            Ok(Some(Ok(Message::Text(text)))) => {
                on_text(
                    id,
                    text.as_str(),
                    Instant::now(),
                    &metrics,
                    &bus,
                    &tuning,
                    &out_tx,
                    &events,
                    &mut said_hello,
                    &connected,
                    &responses,
                )
                .await;
            }
            Ok(Some(Ok(Message::Binary(bytes)))) => {
                tracing::warn!(socket = id, len = bytes.len(), "binary frame ignored");
            }
            // Pings are answered by tungstenite; any frame proves liveness.
            Ok(Some(Ok(_))) => {}
        }
    };
    if said_hello {
        connected.send_modify(|n| *n = n.saturating_sub(1));
    }
    match &end {
        EndReason::ClosedByUs => tracing::info!(socket = id, "socket closed"),
        EndReason::Silent => tracing::warn!(
            socket = id,
            silent_for_s = tuning.liveness.as_secs(),
            "socket silent; replacing it"
        ),
        EndReason::ClosedByPeer => tracing::info!(socket = id, "socket closed by Slack"),
        EndReason::Error(e) => tracing::warn!(socket = id, error = %e, "socket failed"),
    }
    drop(out_tx);
    writer.abort();
    let _ = events.send(ConnEvent::Ended(end)).await;
}

#[allow(clippy::too_many_arguments)]
async fn on_text(
    id: u64,
    text: &str,
    read_at: Instant,
    metrics: &Metrics,
    bus: &BusHandle,
    tuning: &Tuning,
    out: &mpsc::Sender<Outbound>,
    events: &mpsc::Sender<ConnEvent>,
    said_hello: &mut bool,
    connected: &watch::Sender<usize>,
    responses: &TaskTracker,
) {
    let frame = match frame::parse(text) {
        Ok(frame) => frame,
        Err(e) => {
            metrics.frame_received("invalid", false);
            tracing::warn!(socket = id, "{e}");
            return;
        }
    };
    metrics.frame_received(frame_type(&frame), matches!(frame, Frame::Envelope(_)));
    match frame {
        Frame::Envelope(raw) if raw.accepts_response_payload => {
            // The response may take a moment to compute: do it off the
            // reader, within the budget, then ack and hand on — parsed, so
            // the bus does not parse it again.
            let (bus, out, budget) = (bus.clone(), out.clone(), tuning.ack_budget);
            responses.spawn(async move {
                let size = raw.size;
                let mut envelope = raw.parse();
                let response = tokio::time::timeout(budget, bus.quick_response(&envelope))
                    .await
                    .unwrap_or_else(|_| {
                        tracing::warn!(envelope_id = %envelope.envelope_id,
                            "response payload not ready within the ack budget; acking without it");
                        None
                    });
                let ack = frame::ack(&envelope.envelope_id, response.as_ref());
                envelope.answered_in_ack = response.is_some();
                let _ = out.send(Outbound::ack(ack, read_at)).await;
                tracing::debug!(socket = id, envelope_id = %envelope.envelope_id,
                    with_payload = response.is_some(), "acked");
                bus.deliver_parsed(envelope, size).await;
            });
        }
        Frame::Envelope(envelope) => {
            let ack = frame::ack(&envelope.envelope_id, None);
            let _ = out.send(Outbound::ack(ack, read_at)).await;
            tracing::debug!(socket = id, envelope_id = %envelope.envelope_id,
                kind = ?envelope.kind, retry_attempt = envelope.retry_attempt, "acked");
            bus.deliver(envelope).await;
        }
        Frame::Hello(hello) => {
            if !*said_hello {
                *said_hello = true;
                connected.send_modify(|n| *n += 1);
            }
            let _ = events.send(ConnEvent::Hello(hello)).await;
        }
        Frame::Disconnect(reason) => {
            tracing::info!(socket = id, ?reason, "disconnect requested by Slack");
            let _ = events.send(ConnEvent::Disconnect(reason)).await;
        }
        Frame::Unknown(raw) => {
            tracing::warn!(
                socket = id,
                frame = raw,
                "unknown frame without envelope_id"
            );
        }
    }
}

/// The `type` label of a frame in `janus_envelopes_received_total`: Slack's
/// own word for the kinds we know, `other` for an envelope of a type we do
/// not, `unknown` for a frame without `envelope_id` that we cannot place.
/// Never Slack's raw text, so a new type cannot grow the label set unbounded.
fn frame_type(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello(_) => "hello",
        Frame::Disconnect(_) => "disconnect",
        Frame::Envelope(envelope) => match envelope.kind {
            EnvelopeKind::EventsApi => "events_api",
            EnvelopeKind::SlashCommands => "slash_commands",
            EnvelopeKind::Interactive => "interactive",
            EnvelopeKind::Other(_) => "other",
        },
        Frame::Unknown(_) => "unknown",
    }
}
