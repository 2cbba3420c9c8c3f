//! Socket Mode: keep N websockets open to Slack, whatever Slack does to them.
//!
//! Each of the N *slots* owns at most one live [`connection::Connection`]
//! (two, briefly, during a refresh). A slot reacts to Slack's `disconnect`
//! reasons as Slack asks: `warning` and `refresh_requested` open the
//! replacement first and close the old socket only once the new one said
//! hello (so there is never a gap); `too_many_websockets` closes first;
//! `link_disabled` stops the slot. A socket that dies or goes silent is
//! replaced with capped exponential backoff and jitter; the backoff starts
//! over only once a socket has stayed open for [`Tuning::stable_after`], so
//! a socket that Slack (or a proxy) closes right after `hello` is retried
//! ever more slowly, not twice a second forever.
//!
//! This module only speaks the wire protocol; what an envelope means is the
//! bus's business.

mod connection;
pub mod frame;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::Backoff;
use crate::bus::BusHandle;
use crate::egress::EgressError;
use crate::metrics::Metrics;
use crate::slack::{SlackApi, SlackError};
pub use connection::EndReason;
use connection::{ConnEvent, Connection};
use frame::DisconnectReason;

/// Timings of the socket layer. Not user configuration: the defaults follow
/// Slack's documented behaviour; tests shorten them.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// No inbound frame (Slack pings regularly) for this long → replace.
    pub liveness: Duration,
    /// Most time a response payload may take before the ack goes without it.
    pub ack_budget: Duration,
    /// Connect + hello timeout.
    pub connect_timeout: Duration,
    /// How long to keep reading after our Close for Slack's.
    pub close_grace: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long a socket must stay open before its end starts the backoff
    /// over. Saying hello is not enough: a socket closed right after it
    /// would otherwise be reopened at once, forever.
    pub stable_after: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            liveness: Duration::from_secs(30),
            ack_budget: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(10),
            close_grace: Duration::from_secs(2),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            // Slack's sockets live for hours; ten seconds tells a working
            // one from one that is closed as soon as it opens.
            stable_after: Duration::from_secs(10),
        }
    }
}

/// Why sockets could not be kept open.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// `apps.connections.open` failed.
    #[error("cannot open a Socket Mode connection: {0}")]
    Open(#[source] SlackError),
    /// The websocket did not connect or say hello.
    #[error("websocket connection failed: {0}")]
    Connect(#[from] ConnectError),
    /// The app-level token was refused: no retry will help.
    #[error(
        "SLACK_APP_TOKEN (slack.app_token) was refused by Slack ({0}); check the app-level token \
         and its connections:write scope"
    )]
    AppTokenRefused(String),
    /// The thread Socket Mode runs on could not start, or ended abruptly.
    #[error("the Socket Mode thread failed: {0}")]
    Thread(#[from] ThreadError),
    /// Every socket got `link_disabled`.
    #[error(
        "Socket Mode is turned off for this Slack app (link_disabled); turn it on under \
         Settings → Socket Mode"
    )]
    LinkDisabled,
}

/// Why the thread Socket Mode runs on failed.
#[derive(Debug, thiserror::Error)]
pub enum ThreadError {
    #[error("cannot start its runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot spawn it: {0}")]
    Spawn(#[source] std::io::Error),
    /// Its result never came back: it panicked.
    #[error("it ended without a result (a panic?)")]
    EndedWithoutResult,
}

/// Why one websocket did not open. Each message names where it was going
/// (host, port and proxy), never the URL: its query is a one-use ticket.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No TCP stream to the host, directly or through the proxy.
    #[error(transparent)]
    Egress(#[from] EgressError),
    /// The TLS or websocket handshake failed.
    #[error("{target}: {source}")]
    Handshake {
        target: String,
        #[source]
        source: tokio_tungstenite::tungstenite::Error,
    },
    /// Connecting and the handshake took longer than [`Tuning::connect_timeout`].
    #[error("{target}: timed out")]
    TimedOut { target: String },
    /// Slack asked to disconnect before it said hello.
    #[error("no hello: Slack sent disconnect first ({0:?})")]
    DisconnectedFirst(DisconnectReason),
    /// The socket ended before it said hello.
    #[error("no hello: the socket ended first ({0:?})")]
    EndedFirst(EndReason),
    /// Nothing within [`Tuning::connect_timeout`] after connecting.
    #[error("no hello within the timeout")]
    NoHello,
}

/// Everything Socket Mode needs to keep its sockets open.
pub struct SocketMode {
    pub count: usize,
    /// A Web API client of its own (for `apps.connections.open`): see
    /// [`SocketMode::run_on_own_thread`].
    pub api: SlackApi,
    /// Where acked envelopes go.
    pub bus: BusHandle,
    /// Timeouts, backoff and the ack budget.
    pub tuning: Tuning,
    /// How many sockets have said hello and are still open.
    pub connected: watch::Sender<usize>,
    /// Frames, ack latency and reconnects are counted here.
    pub metrics: Arc<Metrics>,
    /// Closes every socket when cancelled.
    pub shutdown: CancellationToken,
}

impl SocketMode {
    /// [`SocketMode::run`] on a thread of its own, with a single-threaded
    /// runtime.
    ///
    /// Reading and acking then never wait for a worker of the main runtime,
    /// however busy the bus and actors keep it: the OS runs this thread as
    /// soon as a frame arrives. `api` should be a client of its own, so that
    /// no pooled connection of the actors' client is driven by this thread's
    /// runtime, which ends with it. The thread ends when `run` has returned.
    ///
    /// Dropping the returned future (its runtime shut down, its task
    /// aborted) cancels `shutdown`: the thread is not tied to any runtime,
    /// so without that it would keep its sockets open, and reconnect to a
    /// gone Slack, for the life of the process.
    pub async fn run_on_own_thread(self) -> Result<(), SocketError> {
        let _stop_when_dropped = self.shutdown.clone().drop_guard();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("janus-socket".into())
            .spawn(move || {
                let result = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(self.run()),
                    Err(e) => Err(ThreadError::Runtime(e).into()),
                };
                let _ = done_tx.send(result);
            });
        if let Err(e) = spawned {
            return Err(ThreadError::Spawn(e).into());
        }
        done.await
            .unwrap_or_else(|_| Err(ThreadError::EndedWithoutResult.into()))
    }

    /// Keeps `count` sockets open until `shutdown`, then closes them.
    ///
    /// Returns an error only for what no reconnect can fix: a refused app
    /// token, or Socket Mode turned off. Returns once every envelope it read
    /// has been acked and handed to the bus.
    pub async fn run(self) -> Result<(), SocketError> {
        // Envelopes that take a response payload are acked by short tasks of
        // their own; they are waited for, so none is cut short at the end.
        let responses = TaskTracker::new();
        let result = self.run_slots(&responses).await;
        responses.close();
        responses.wait().await;
        result
    }

    async fn run_slots(self, responses: &TaskTracker) -> Result<(), SocketError> {
        let SocketMode {
            count,
            api,
            bus,
            tuning,
            connected,
            metrics,
            shutdown,
        } = self;
        let ids = Arc::new(AtomicU64::new(1));
        let mut slots = JoinSet::new();
        for _ in 0..count {
            let slot = Slot {
                api: api.clone(),
                bus: bus.clone(),
                tuning: tuning.clone(),
                connected: connected.clone(),
                metrics: metrics.clone(),
                ids: ids.clone(),
                shutdown: shutdown.clone(),
                responses: responses.clone(),
            };
            slots.spawn(slot.run());
        }
        drop(bus);
        let mut disabled = 0;
        while let Some(result) = slots.join_next().await {
            match result {
                Ok(Ok(SlotEnd::Shutdown)) => {}
                Ok(Ok(SlotEnd::LinkDisabled)) => {
                    disabled += 1;
                    if disabled == count {
                        return Err(SocketError::LinkDisabled);
                    }
                }
                Ok(Err(fatal)) => {
                    shutdown.cancel();
                    while slots.join_next().await.is_some() {}
                    return Err(fatal);
                }
                Err(panic) => tracing::error!(error = %panic, "socket slot crashed"),
            }
        }
        Ok(())
    }
}

enum SlotEnd {
    Shutdown,
    LinkDisabled,
}

struct Slot {
    api: SlackApi,
    bus: BusHandle,
    tuning: Tuning,
    connected: watch::Sender<usize>,
    metrics: Arc<Metrics>,
    ids: Arc<AtomicU64>,
    shutdown: CancellationToken,
    responses: TaskTracker,
}

impl Slot {
    async fn run(self) -> Result<SlotEnd, SocketError> {
        let mut backoff = Backoff::new(self.tuning.backoff_base, self.tuning.backoff_cap);
        let Some(mut current) = self.connect(&mut backoff).await? else {
            return Ok(SlotEnd::Shutdown);
        };
        loop {
            let event = tokio::select! {
                _ = self.shutdown.cancelled() => {
                    current.close().await;
                    return Ok(SlotEnd::Shutdown);
                }
                event = current.events.recv() => event,
            };
            match event {
                Some(ConnEvent::Disconnect(DisconnectReason::LinkDisabled)) => {
                    tracing::error!(
                        socket = current.id,
                        "Slack says Socket Mode is turned off for this app (link_disabled); \
                         this socket stops. Turn Socket Mode on in the app settings and restart."
                    );
                    current.close().await;
                    return Ok(SlotEnd::LinkDisabled);
                }
                Some(ConnEvent::Disconnect(DisconnectReason::TooManyWebsockets)) => {
                    tracing::warn!(
                        socket = current.id,
                        "too many websockets for this app; closing this one before reconnecting"
                    );
                    self.settle(&mut backoff, &current);
                    current.close().await;
                    if !self.sleep(backoff.next()).await {
                        return Ok(SlotEnd::Shutdown);
                    }
                    match self.reconnect(&mut backoff).await? {
                        Some(next) => current = next,
                        None => return Ok(SlotEnd::Shutdown),
                    }
                }
                Some(ConnEvent::Disconnect(reason)) => {
                    // warning, refresh_requested, or a reason we do not know:
                    // replacement first, so no envelope finds us without a socket.
                    tracing::info!(socket = current.id, ?reason, "opening a replacement socket");
                    self.settle(&mut backoff, &current);
                    let old = current;
                    let replacement = self.reconnect(&mut backoff).await;
                    old.close().await;
                    match replacement? {
                        Some(next) => current = next,
                        None => return Ok(SlotEnd::Shutdown),
                    }
                }
                Some(ConnEvent::Hello(_)) => {}
                // `None`: the connection's task is gone without a word (a
                // panic); paused like any other end, so it cannot spin.
                ended @ (Some(ConnEvent::Ended(_)) | None) => {
                    self.settle(&mut backoff, &current);
                    if !matches!(ended, Some(ConnEvent::Ended(EndReason::ClosedByUs))) {
                        let wait = backoff.next();
                        tracing::info!(
                            socket = current.id,
                            open_for_ms = current.opened_at.elapsed().as_millis() as u64,
                            retry_in_ms = wait.as_millis() as u64,
                            "socket ended; reconnecting after a pause"
                        );
                        if !self.sleep(wait).await {
                            return Ok(SlotEnd::Shutdown);
                        }
                    }
                    match self.reconnect(&mut backoff).await? {
                        Some(next) => current = next,
                        None => return Ok(SlotEnd::Shutdown),
                    }
                }
            }
        }
    }

    /// [`Slot::connect`] for a socket that replaces another: counted as a
    /// reconnect once it is open.
    async fn reconnect(&self, backoff: &mut Backoff) -> Result<Option<Connection>, SocketError> {
        let next = self.connect(backoff).await?;
        if next.is_some() {
            self.metrics.socket_reconnected();
        }
        Ok(next)
    }

    /// Connects, retrying with backoff until it works, shutdown, or a fatal
    /// token error. `None` means shutdown.
    async fn connect(&self, backoff: &mut Backoff) -> Result<Option<Connection>, SocketError> {
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(None);
            }
            let id = self.ids.fetch_add(1, Ordering::Relaxed);
            let attempt = Connection::open(
                id,
                &self.api,
                self.bus.clone(),
                &self.tuning,
                self.connected.clone(),
                self.metrics.clone(),
                self.responses.clone(),
            );
            let result = tokio::select! {
                _ = self.shutdown.cancelled() => return Ok(None),
                result = attempt => result,
            };
            match result {
                // Not a reason to reset the backoff yet: see `settle`.
                Ok(conn) => return Ok(Some(conn)),
                Err(SocketError::Open(e)) if e.is_auth_failure() => {
                    let code = e.code().map(|c| c.to_string()).unwrap_or_default();
                    return Err(SocketError::AppTokenRefused(code));
                }
                Err(e) => {
                    let wait = backoff.next();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64,
                        "socket connection failed; retrying");
                    if !self.sleep(wait).await {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Starts the backoff over if `conn`, now ending, stayed open long
    /// enough to count as a working link ([`Tuning::stable_after`]).
    fn settle(&self, backoff: &mut Backoff, conn: &Connection) {
        if conn.opened_at.elapsed() >= self.tuning.stable_after {
            backoff.reset();
        }
    }

    /// Sleeps unless shut down first; `false` means shutdown.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}
