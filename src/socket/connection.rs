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

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::frame::{self, DisconnectReason, Frame, Hello};
use super::{ConnectError, SocketError, Tuning};
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
    Hello(Hello),
    Disconnect(DisconnectReason),
    Ended(EndReason),
}

/// Why a socket ended.
#[derive(Debug)]
pub enum EndReason {
    /// Slack closed it (or the TCP stream ended).
    ClosedByPeer,
    ClosedByUs,
    /// No frame of any kind within the liveness window: a zombie.
    Silent,
    Failed(WsError),
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
        // Where, for the errors: never the URL, whose query is the ticket.
        let target = format!("{host}:{port}{via}");
        let connect = async {
            let stream = egress.connect(secure, &host, port).await?;
            let tls = tokio_tungstenite::Connector::Rustls(egress.tls_config());
            tokio_tungstenite::client_async_tls_with_config(
                url.as_str(),
                stream,
                Some(config),
                Some(tls),
            )
            .await
            .map_err(|source| ConnectError::Handshake {
                target: target.clone(),
                source,
            })
        };
        let (ws, _response) = tokio::time::timeout(tuning.connect_timeout, connect)
            .await
            .map_err(|_| ConnectError::TimedOut {
                target: target.clone(),
            })??;

        let (events_tx, mut events) = mpsc::channel(16);
        let close = CancellationToken::new();
        let (sink, stream) = ws.split();
        let (out, outbox) = mpsc::channel(256);
        let reader = Reader {
            id,
            stream,
            out,
            writer: tokio::spawn(write(id, sink, outbox, metrics.clone())),
            close: close.clone(),
            events: events_tx,
            bus,
            tuning: tuning.clone(),
            connected,
            counted: None,
            metrics,
            responses,
            state: State::AwaitingHello,
        };
        let task = tokio::spawn(reader.run());
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
            Ok(Some(ConnEvent::Disconnect(reason))) => {
                conn.close().await;
                Err(ConnectError::DisconnectedFirst(reason).into())
            }
            Ok(Some(ConnEvent::Ended(end))) => {
                conn.close().await;
                Err(ConnectError::EndedFirst(end).into())
            }
            Ok(None) | Err(_) => {
                conn.close().await;
                Err(ConnectError::NoHello.into())
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

/// Writes what the reader and the response tasks send, until a Close has
/// been written or writing fails.
async fn write(
    id: u64,
    mut sink: SplitSink<Ws, Message>,
    mut outbox: mpsc::Receiver<Outbound>,
    metrics: Arc<Metrics>,
) {
    let mut acked = Vec::with_capacity(ACKS_PER_WRITE);
    while let Some(first) = outbox.recv().await {
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
                next = outbox.try_recv().ok();
            }
        }
        if let Err(e) = sink.flush().await {
            tracing::debug!(socket = id, error = %e, "write failed");
            return;
        }
        for read_at in acked.drain(..) {
            metrics.ack_written(read_at.elapsed());
        }
        if closing {
            return;
        }
    }
}

/// Where a socket is in its life, as the reader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Connected; `hello` not read yet.
    AwaitingHello,
    /// Said hello: it is one of the open sockets.
    Open,
    /// We sent our Close at `since`. Reading goes on, for at most
    /// [`Tuning::close_grace`], until Slack's Close: an envelope that
    /// arrives meanwhile is still acked.
    Closing { since: Instant },
}

/// This socket's place in the count of open sockets, from its hello until
/// its reader ends (a closing socket still acks, so it still counts).
/// Dropping it gives the place back, however the reader ends.
struct Counted(watch::Sender<usize>);

impl Counted {
    fn new(connected: &watch::Sender<usize>) -> Self {
        connected.send_modify(|n| *n += 1);
        Self(connected.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The reading half of one socket: reads every frame, acks envelopes at
/// once, hands them to the bus, and tells its slot about hello, disconnect
/// requests and its end. Owns its writer task.
struct Reader {
    id: u64,
    stream: SplitStream<Ws>,
    /// To the writer: acks, and our Close.
    out: mpsc::Sender<Outbound>,
    writer: JoinHandle<()>,
    /// Cancelled by the slot to close this socket.
    close: CancellationToken,
    /// To the slot.
    events: mpsc::Sender<ConnEvent>,
    bus: BusHandle,
    tuning: Tuning,
    connected: watch::Sender<usize>,
    /// Set at the first hello; see [`Counted`].
    counted: Option<Counted>,
    metrics: Arc<Metrics>,
    /// The tasks that ack envelopes taking a response payload.
    responses: TaskTracker,
    state: State,
}

impl Reader {
    async fn run(mut self) {
        let end = loop {
            let next = tokio::select! {
                _ = self.close.cancelled(), if !self.is_closing() => {
                    self.state = State::Closing { since: Instant::now() };
                    let close = Outbound { message: Message::Close(None), read_at: None };
                    let _ = self.out.send(close).await;
                    continue;
                }
                next = tokio::time::timeout(self.patience(), self.stream.next()) => next,
            };
            match next {
                Err(_) => break self.ended(EndReason::Silent),
                Ok(None) => break self.ended(EndReason::ClosedByPeer),
                Ok(Some(Err(e))) if self.is_closing() => {
                    tracing::debug!(socket = self.id, error = %e, "error while closing");
                    break EndReason::ClosedByUs;
                }
                Ok(Some(Err(e))) => break EndReason::Failed(e),
                Ok(Some(Ok(Message::Text(text)))) => {
                    self.on_text(text.as_str(), Instant::now()).await;
                }
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    tracing::warn!(socket = self.id, len = bytes.len(), "binary frame ignored");
                }
                // Pings are answered by tungstenite; any frame proves liveness.
                Ok(Some(Ok(_))) => {}
            }
        };
        self.counted = None;
        let id = self.id;
        match &end {
            EndReason::ClosedByUs => tracing::info!(socket = id, "socket closed"),
            EndReason::Silent => tracing::warn!(
                socket = id,
                silent_for_s = self.tuning.liveness.as_secs(),
                "socket silent; replacing it"
            ),
            EndReason::ClosedByPeer => tracing::info!(socket = id, "socket closed by Slack"),
            EndReason::Failed(e) => tracing::warn!(socket = id, error = %e, "socket failed"),
        }
        let Reader {
            events,
            writer,
            out,
            ..
        } = self;
        drop(out);
        writer.abort();
        let _ = events.send(ConnEvent::Ended(end)).await;
    }

    fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing { .. })
    }

    /// How long to wait for the next frame: the liveness window, or once
    /// closing what is left of the grace for Slack's Close.
    fn patience(&self) -> Duration {
        match self.state {
            State::Closing { since } => self
                .tuning
                .close_grace
                .saturating_sub(since.elapsed())
                .max(Duration::from_millis(1)),
            State::AwaitingHello | State::Open => self.tuning.liveness,
        }
    }

    /// Once we have sent our Close, however the socket ends, we closed it.
    fn ended(&self, otherwise: EndReason) -> EndReason {
        if self.is_closing() {
            EndReason::ClosedByUs
        } else {
            otherwise
        }
    }

    async fn on_text(&mut self, text: &str, read_at: Instant) {
        let id = self.id;
        let frame = match frame::parse(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.metrics.frame_received("invalid", false);
                tracing::warn!(socket = id, "{e}");
                return;
            }
        };
        self.metrics
            .frame_received(frame_type(&frame), matches!(frame, Frame::Envelope(_)));
        match frame {
            Frame::Envelope(raw) if raw.accepts_response_payload => {
                // The response may take a moment to compute: do it off the
                // reader, within the budget, then ack and hand on — parsed,
                // so the bus does not parse it again.
                let (bus, out, budget) =
                    (self.bus.clone(), self.out.clone(), self.tuning.ack_budget);
                let respond = async move {
                    let size = raw.size;
                    let mut envelope = raw.parse();
                    let span = envelope.span();
                    async move {
                        let response = tokio::time::timeout(budget, bus.quick_response(&envelope))
                            .await
                            .unwrap_or_else(|_| {
                                tracing::warn!(
                                    "response payload not ready within the ack budget; \
                                         acking without it"
                                );
                                None
                            });
                        let ack = frame::ack(&envelope.envelope_id, response.as_ref());
                        envelope.answered_in_ack = response.is_some();
                        let _ = out.send(Outbound::ack(ack, read_at)).await;
                        tracing::debug!(socket = id, with_payload = response.is_some(), "acked");
                        bus.deliver_parsed(envelope, size).await;
                    }
                    .instrument(span)
                    .await
                };
                self.responses.spawn(respond);
            }
            Frame::Envelope(envelope) => {
                let ack = frame::ack(&envelope.envelope_id, None);
                let _ = self.out.send(Outbound::ack(ack, read_at)).await;
                tracing::debug!(socket = id, envelope_id = %envelope.envelope_id,
                    retry_attempt = envelope.retry_attempt, "acked");
                self.bus.deliver(envelope).await;
            }
            Frame::Hello(hello) => {
                self.bus.hello(hello.app_id.as_deref());
                if self.counted.is_none() {
                    self.counted = Some(Counted::new(&self.connected));
                }
                if self.state == State::AwaitingHello {
                    self.state = State::Open;
                }
                let _ = self.events.send(ConnEvent::Hello(hello)).await;
            }
            Frame::Disconnect(reason) => {
                tracing::info!(socket = id, ?reason, "disconnect requested by Slack");
                let _ = self.events.send(ConnEvent::Disconnect(reason)).await;
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
