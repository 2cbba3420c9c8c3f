//! The running bot, wired: templates, store, Slack client, actors, bus and
//! sockets.
//!
//! Start-up is two steps, so each can be driven on its own:
//! [`App::build`] does everything that can fail (templates, the health
//! port, the database, the bot token, the actors), and [`App::run`] opens
//! the sockets and serves until a shutdown token the caller holds is
//! cancelled. `main` and the integration tests start Janus the same way
//! ([`start`] is both steps with a token of its own), so the tests exercise
//! exactly what ships.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::actors::{Actors, Context};
use crate::backoff::Backoff;
use crate::config::Config;
use crate::egress::{Egress, EgressFailure};
use crate::health::{BindError, Probe};
use crate::metrics::Metrics;
use crate::render::{RenderError, Renderer};
use crate::slack::{ApiErrorCode, SlackApi, SlackError};
use crate::socket::{self, SocketError, Tuning};
use crate::statuspage::StatuspageError;
use crate::store::{Store, StoreError};

/// Knobs that are not user configuration: the tests shorten them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub socket: Tuning,
    /// Web API deadlines and the time budget of one call.
    pub slack: crate::slack::SlackTuning,
    pub start_patience: StartPatience,
    /// The reminder scheduler's longest sleep.
    pub reminder_tick: ReminderTick,
}

/// The longest the reminder scheduler sleeps between two rounds when no
/// reminder falls due sooner: how soon it sees a new incident or a change
/// made on another replica. Every replica runs rounds; the database claim
/// makes each reminder one replica's. Tests shorten it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderTick(pub Duration);

impl Default for ReminderTick {
    fn default() -> Self {
        Self(Duration::from_secs(5))
    }
}

/// How long start-up keeps trying a database or Slack that does not answer
/// yet, so a short outage (a database restarting beside Janus, a network
/// still coming up at boot) delays the start instead of failing it. The
/// default, 75 s, fits inside the 90 s systemd gives Janus to say it is
/// ready (`TimeoutStartSec=` in `deploy/janus.service`), with time left for
/// the sockets to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartPatience(pub Duration);

impl Default for StartPatience {
    fn default() -> Self {
        Self(Duration::from_secs(75))
    }
}

/// The first pause between two tries at start-up; it doubles (with jitter)
/// after each failure up to [`START_RETRY_CAP`].
const START_RETRY_BASE: Duration = Duration::from_millis(500);
/// The longest pause between two tries at start-up: a database that comes
/// back is found within this.
const START_RETRY_CAP: Duration = Duration::from_secs(5);

/// Why Janus could not start. Each names what to fix; each message already
/// says what its source says, so it is one line as it stands.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A template is missing or broken.
    #[error(transparent)]
    Templates(#[from] RenderError),
    /// The database is unreachable or could not be migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database or Slack still failed, in a way waiting could fix, when
    /// the start-up patience ran out.
    #[error(
        "{what} was still unavailable after {:.0} s of trying: {}",
        waited.as_secs_f64(),
        last.as_deref().map_or_else(|| "it did not answer".to_owned(), ToString::to_string)
    )]
    GaveUp {
        /// `the database` or `Slack`.
        what: &'static str,
        waited: Duration,
        /// How the last try failed; `None` when no try finished before the
        /// patience ran out.
        #[source]
        last: Option<Box<StartError>>,
    },
    /// The bot token was refused, with Slack's code for why (`invalid_auth`,
    /// `account_inactive`…): no retry will help.
    #[error("SLACK_BOT_TOKEN (slack.bot_token) was refused by Slack ({0}); check the bot token")]
    BotTokenRefused(ApiErrorCode),
    /// Slack could not be reached or answered oddly.
    #[error(transparent)]
    Slack(#[from] SlackError),
    /// The health and metrics port could not be opened.
    #[error(transparent)]
    Health(#[from] BindError),
    /// The Statuspage client could not be built from its settings.
    #[error("statuspage: {0}")]
    Statuspage(#[source] StatuspageError),
    /// The HTTP client for status providers could not be built.
    #[error("providers: {0}")]
    Providers(#[source] reqwest::Error),
}

/// Why a running Janus stopped on its own.
pub type RunError = SocketError;

/// Says once, at start, where outbound connections go (never the proxy's password).
fn log_egress(egress: &Egress) {
    let settings = egress.settings();
    let shown = |proxy: &Option<crate::egress::ProxyUrl>| {
        proxy
            .as_ref()
            .map_or_else(|| "none".to_owned(), ToString::to_string)
    };
    if settings.https_proxy.is_some() || settings.http_proxy.is_some() {
        tracing::info!(
            https_proxy = %shown(&settings.https_proxy),
            http_proxy = %shown(&settings.http_proxy),
            no_proxy = %settings.no_proxy,
            "outbound connections go through a proxy"
        );
    }
    if let Some(file) = &settings.ca_file {
        tracing::info!(
            ca_file = %file.display(),
            certificates = settings.extra_roots.len(),
            "trusting extra CA certificates on top of the system's"
        );
    }
}

/// Builds Janus and runs it with a shutdown token of its own (cancelled by
/// [`Running::stop`]): [`App::build`] then [`App::run`], for callers that
/// need neither step alone, as the tests.
pub async fn start(config: &Config, options: Options) -> Result<Running, StartError> {
    let app = App::build(config, options).await?;
    Ok(app.run(CancellationToken::new()).await)
}

/// A Janus that has passed every check start-up makes (templates, health
/// port, database, bot token) and has its actors, but reads nothing from
/// Slack yet. Dropping it stops it.
pub struct App {
    /// The whole store, opened once: `run` hands each part the traits it uses.
    store: Arc<dyn Store>,
    actors: Actors,
    /// One registry per app, never a global: tests run several apps in one
    /// process and each must count only its own.
    metrics: Arc<Metrics>,
    /// Bound in `build`, served by `run`.
    health: Option<TcpListener>,
    /// Socket Mode's own Web API client: see [`socket::SocketMode::run_on_own_thread`].
    socket_api: SlackApi,
    sockets: usize,
    socket_tuning: Tuning,
    recovery_interval: Duration,
    reminder_tick: Duration,
}

impl App {
    /// Builds everything that can fail at start-up. Returns once the bot
    /// token has been checked and the database migrated. A database or
    /// Slack that does not answer yet is tried again for up to
    /// `options.start_patience`; what waiting cannot fix (a refused token,
    /// a bad URL, a migration's SQL) fails at once.
    pub async fn build(config: &Config, options: Options) -> Result<App, StartError> {
        let renderer = Renderer::load(config.templates_dir.as_deref())?;
        for warning in renderer.warnings() {
            tracing::warn!("{warning}");
        }
        // Bound first: a taken port is the cheapest mistake to report, and
        // nothing has started yet that would need stopping.
        let health = match &config.health {
            Some(health) => Some(crate::health::bind(health.listen).await?),
            None => None,
        };
        let metrics = Arc::new(Metrics::new());
        // One policy for every outbound connection: the Web API, the
        // websocket, status providers and Statuspage.
        let egress = Egress::new(&config.egress);
        log_egress(&egress);
        let web_api = || -> Result<SlackApi, SlackError> {
            Ok(SlackApi::new(
                &config.slack.api_url,
                &config.slack.bot_token,
                &config.slack.app_token,
                &egress,
            )?
            .with_metrics(metrics.clone())
            .with_tuning(options.slack))
        };
        let slack = web_api()?;
        let socket_api = web_api()?;

        // The database and Slack are independent: check both at once, each
        // tried until it answers; the first failure for good stops both.
        let started = Instant::now();
        let deadline = started + options.start_patience.0;
        let (store, bot) = tokio::try_join!(
            patiently(
                "the database",
                started,
                deadline,
                start_backoff(),
                || async {
                    let store =
                        crate::store::open(&config.database, config.database.max_connections)
                            .await?;
                    store.migrate().await?;
                    Ok::<_, StartError>(store)
                }
            ),
            patiently("Slack", started, deadline, start_backoff(), || async {
                slack.auth_test().await.map_err(|e| match e.code() {
                    Some(code) if code.is_auth_failure() => {
                        StartError::BotTokenRefused(code.clone())
                    }
                    _ => StartError::Slack(e),
                })
            }),
        )?;
        let bot = bot.with_workspace_id(config.slack.workspace_id.as_deref());
        tracing::info!(bot_user_id = %bot.user_id, team_id = %bot.team_id, "bot token accepted");

        let statuspage = config
            .statuspage
            .as_ref()
            .map(|statuspage| {
                crate::statuspage::StatuspageClient::with_options(
                    statuspage,
                    crate::statuspage::ClientOptions {
                        egress: egress.clone(),
                        ..Default::default()
                    },
                )
            })
            .transpose()
            .map_err(StartError::Statuspage)?;
        let providers = match config.providers {
            Some(_) => Some(
                crate::providers::ProviderClient::with_egress(
                    crate::providers::DEFAULT_TIMEOUT,
                    &egress,
                )
                .map_err(StartError::Providers)?,
            ),
            None => None,
        };
        // Configured user groups become ids now, so a group created or
        // renamed later to look like the configured name gains nothing.
        let groups = crate::actors::groups::Groups::new(config);
        groups.resolve_at_start(&slack).await;
        let actors = Actors::start(
            Context {
                slack,
                renderer,
                bot,
                config: Arc::new(config.clone()),
                groups,
                tasks: TaskTracker::new(),
                metrics: metrics.clone(),
            },
            store.clone(),
            statuspage,
            providers,
        );
        Ok(App {
            store,
            actors,
            metrics,
            health,
            socket_api,
            sockets: config.slack.sockets.into(),
            socket_tuning: options.socket,
            recovery_interval: config.recovery_interval,
            reminder_tick: options.reminder_tick.0,
        })
    }

    /// Starts serving: recovery of what a crash left, the health server,
    /// the bus and the sockets, until `shutdown` is cancelled (or a fatal
    /// socket error). Returns at once with the handle to watch and stop it;
    /// sockets connect in the background (see [`Running::wait_connected`]),
    /// and [`Running::wait`] returns when everything has finished.
    pub async fn run(self, shutdown: CancellationToken) -> Running {
        let App {
            store,
            actors,
            metrics,
            health,
            socket_api,
            sockets,
            socket_tuning,
            recovery_interval,
            reminder_tick,
        } = self;
        crate::recovery::at_start(&*store, &actors).await;
        let (connected_tx, connected) = watch::channel(0);
        let (health_addr, health) = match health {
            Some(listener) => {
                let addr = listener.local_addr().ok();
                if let Some(addr) = addr {
                    tracing::info!(%addr, "serving /healthz and /metrics");
                }
                let probe = Probe {
                    metrics: metrics.clone(),
                    database: store.clone(),
                    incidents: store.clone(),
                    connected: connected.clone(),
                };
                let task = tokio::spawn(crate::health::serve(listener, probe, shutdown.clone()));
                (addr, Some(task))
            }
            None => (None, None),
        };
        let recovery = tokio::spawn(crate::recovery::run(
            store.clone(),
            store.clone(),
            store.clone(),
            actors.clone(),
            recovery_interval,
            shutdown.clone(),
        ));
        let gaps = tokio::spawn(crate::recovery::after_gaps(
            connected.clone(),
            actors.clone(),
            shutdown.clone(),
        ));
        // The first round's token is taken now, so `wait_idle` right after
        // start waits for reminders that fell due while Janus was down.
        let reminders = tokio::spawn(crate::actors::reminders::run(
            actors.reminders.clone(),
            actors.tasks.clone(),
            reminder_tick,
            actors.tasks.token(),
            shutdown.clone(),
        ));
        let trimmer = tokio::spawn(crate::memory::trim_after_bursts(
            metrics.clone(),
            shutdown.clone(),
        ));
        let tasks = actors.tasks.clone();
        let (bus, bus_task) = crate::bus::start(store, actors, metrics.clone(), shutdown.clone());
        let socket_mode = socket::SocketMode {
            count: sockets,
            api: socket_api,
            bus,
            tuning: socket_tuning,
            connected: connected_tx,
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
        };
        let (stop, draining) = (shutdown.clone(), tasks.clone());
        let task = tokio::spawn(async move {
            let result = socket_mode.run_on_own_thread().await;
            // The sockets held the last bus handles: the bus now drains its
            // lanes, then the tasks the actors started (publishing,
            // declarations and what runs alone) finish.
            stop.cancel();
            let _ = recovery.await;
            let _ = gaps.await;
            let _ = reminders.await;
            let _ = trimmer.await;
            if let Some(health) = health {
                let _ = health.await;
            }
            let _ = bus_task.await;
            draining.close();
            draining.wait().await;
            result
        });
        Running {
            shutdown,
            metrics,
            tasks,
            connected,
            health_addr,
            task,
        }
    }
}

/// A Janus that is serving: what tests and `main` watch and stop it through.
pub struct Running {
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    tasks: TaskTracker,
    connected: watch::Receiver<usize>,
    health_addr: Option<SocketAddr>,
    task: JoinHandle<Result<(), RunError>>,
}

fn start_backoff() -> Backoff {
    Backoff::new(START_RETRY_BASE, START_RETRY_CAP)
}

/// Runs `attempt` until it succeeds, fails in a way waiting cannot fix (see
/// [`heals_by_waiting`]), or the next try would start after `deadline`,
/// pausing as `backoff` says between tries. Each failure worth waiting out
/// is logged with when the next try is, and shown on systemd's status line.
async fn patiently<T, F, Fut>(
    what: &'static str,
    started: Instant,
    deadline: Instant,
    mut backoff: Backoff,
    mut attempt: F,
) -> Result<T, StartError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StartError>>,
{
    let mut last = None;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let error = match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(Ok(value)) => {
                if tries > 1 {
                    tracing::info!(
                        tries,
                        waited_s = started.elapsed().as_secs(),
                        "{what} answered; starting"
                    );
                }
                return Ok(value);
            }
            Ok(Err(error)) if !heals_by_waiting(&error) => return Err(error),
            Ok(Err(error)) => error,
            // The try itself outlasted the patience.
            Err(_) => break,
        };
        let wait = backoff.next();
        if Instant::now() + wait >= deadline {
            last = Some(error);
            break;
        }
        // Every message here names a host at most, never a password or token.
        tracing::warn!(
            error = %error,
            attempt = tries,
            retry_in_ms = wait.as_millis() as u64,
            gives_up_in_s = deadline.saturating_duration_since(Instant::now()).as_secs(),
            "{what} is not available yet; trying again in {:.1} s",
            wait.as_secs_f64()
        );
        crate::systemd::status(&format!(
            "waiting for {what}: {error}; next try in {:.0} s",
            wait.as_secs_f64().ceil()
        ));
        last = Some(error);
        tokio::time::sleep(wait).await;
    }
    Err(StartError::GaveUp {
        what,
        waited: started.elapsed(),
        last: last.map(Box::new),
    })
}

/// Whether `error` can go away by itself, so that start-up tries again: the
/// one place that tells a database or Slack that is not there yet (down,
/// restarting, unreachable, overloaded) from something an operator must
/// fix (a refused token or password, a bad URL, a migration's SQL, a SQLite
/// file another process holds, a database certificate that is not trusted). Matches are exhaustive on purpose: a new
/// kind of error needs a decision here.
fn heals_by_waiting(error: &StartError) -> bool {
    match error {
        StartError::Store(error) => match error {
            StoreError::Connect { source, .. } | StoreError::Query(source) => {
                connection_trouble(source)
            }
            StoreError::Migrate { source, .. } => match source {
                // The connection failed, or a migration's statement did:
                // the error itself says which.
                sqlx::migrate::MigrateError::Execute(e)
                | sqlx::migrate::MigrateError::ExecuteMigration(e, _) => connection_trouble(e),
                // Migrations missing, changed or half applied.
                _ => false,
            },
            StoreError::InvalidUrl(_)
            | StoreError::Sqlite { .. }
            | StoreError::InUse { .. }
            | StoreError::Redelivered(_) => false,
        },
        StartError::Slack(error) => slack_away(error),
        StartError::BotTokenRefused(_)
        | StartError::Templates(_)
        | StartError::Health(_)
        | StartError::Statuspage(_)
        | StartError::Providers(_)
        | StartError::GaveUp { .. } => false,
    }
}

/// A database error that says the server is away or busy rather than that
/// the request is wrong.
fn connection_trouble(error: &sqlx::Error) -> bool {
    match error {
        // A TLS handshake refused (an untrusted certificate, no common
        // protocol): rustls says so inside an I/O error, and no amount of
        // waiting changes the server's certificate or our trust.
        sqlx::Error::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            false
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // What a server that closes the connection during the handshake
        // looks like to sqlx (no byte where an answer should be).
        sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| passing_code(&code)),
        _ => false,
    }
}

/// Error codes of a database that is away or busy. Postgres (SQLSTATE, five
/// characters): class 08 (connection exception), class 53 (insufficient
/// resources: too many connections, disk full), 57014 (cancelled by
/// `statement_timeout`: a server too slow for now),
/// 57P01–57P03 (shutting down or starting up), 40001 and 40P01
/// (serialization failure, deadlock). SQLite (a number): `SQLITE_BUSY` and
/// its extended codes, another process writing. Refused credentials (28…)
/// and a missing database (3D000) are not among them.
fn passing_code(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57014" | "57P01" | "57P02" | "57P03" | "40001" | "40P01"
        )
        || (code.len() < 5 && code.parse::<u32>().is_ok_and(|c| c & 0xff == 5))
}

/// A Slack failure that says Slack (or the way to it) is away rather than
/// that a setting is wrong.
fn slack_away(error: &SlackError) -> bool {
    match error {
        SlackError::Transport { egress, .. } => match egress {
            // The connection opened, then the request broke off.
            None => true,
            Some(
                EgressFailure::ProxyUnreachable
                | EgressFailure::ProxyBroken
                | EgressFailure::Unreachable
                | EgressFailure::Timeout
                | EgressFailure::TlsTimeout,
            ) => true,
            // Credentials, a proxy's policy, a certificate, the URL: settings.
            Some(
                EgressFailure::ProxyAuth
                | EgressFailure::ProxyRefused
                | EgressFailure::Tls
                | EgressFailure::NoHost,
            ) => false,
        },
        SlackError::RateLimited { .. } => true,
        SlackError::Http { status, .. } => *status >= 500 || *status == 408,
        // Slack's own words for "not now" (documented for every method).
        SlackError::Api { code, .. } => matches!(
            code.as_str(),
            "internal_error"
                | "fatal_error"
                | "service_unavailable"
                | "request_timeout"
                | "ratelimited"
                | "team_added_to_org"
        ),
        // An answer that does not parse: a maintenance page, a proxy's error page.
        SlackError::Protocol { .. } => true,
        // No answer in time: Slack is slow or the way to it is.
        SlackError::Timeout { .. } => true,
        SlackError::Setup(_) => false,
    }
}

impl Running {
    /// Waits until at least `n` sockets are open (said hello); `false` on timeout.
    pub async fn wait_connected(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.connected.clone();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until Janus is idle: every envelope read has been handled and
    /// no task it started is running. `false` after `timeout`. For tests
    /// and tools that must know the effects of what they sent are all in,
    /// without sleeping.
    ///
    /// Covered: an envelope from the moment it is read (before its ack)
    /// until its handling ends, announcements and the Slack calls made
    /// while handling included; then the tracker's tasks: publishing
    /// (with its 200 ms–1 s wait for a burst to end), declarations and
    /// everything handled alone, snapshots, Statuspage prompts, and
    /// recovery (at start, and each round of the leader's), and each round of
    /// reminders (the first one at start included). Not covered:
    /// envelopes Slack sent that are not read yet.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Handling spawns its follow-up tasks before the envelope is
            // settled, so once both are empty nothing is left to start:
            // hence envelopes first, then tasks, never the other way round.
            if self.metrics.envelopes_in_flight() == 0 && self.tasks.is_empty() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The number of open sockets, as it changes (systemd's status line, health).
    pub fn connections(&self) -> watch::Receiver<usize> {
        self.connected.clone()
    }

    /// Sockets open right now.
    pub fn connected(&self) -> usize {
        *self.connected.borrow()
    }

    /// Where `/healthz` and `/metrics` are served, with the port actually
    /// bound (`health.listen` may ask for port 0); `None` when not configured.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_addr
    }

    /// A token that stops Janus when cancelled (e.g. on SIGTERM).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until stopped or until a fatal socket error.
    pub async fn wait(self) -> Result<(), RunError> {
        match self.task.await {
            Ok(result) => result,
            Err(join) => {
                tracing::error!(error = %join, "Janus stopped unexpectedly");
                Ok(())
            }
        }
    }

    /// Stops: closes the sockets, lets the bus and actors finish, returns.
    pub async fn stop(self) -> Result<(), RunError> {
        self.shutdown.cancel();
        self.wait().await
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::io;

    use super::*;

    /// A database error with just a code, as a server or SQLite would give it.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn connect(source: sqlx::Error) -> StartError {
        StartError::Store(StoreError::Connect {
            target: "db.internal:5432/janus".into(),
            source,
        })
    }

    fn coded(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Coded(code)))
    }

    fn migrate(source: sqlx::migrate::MigrateError) -> StartError {
        StartError::Store(StoreError::Migrate { file: None, source })
    }

    fn transport(egress: Option<EgressFailure>) -> StartError {
        StartError::Slack(SlackError::Transport {
            method: "auth.test",
            detail: "…".into(),
            sent: egress.is_none(),
            egress,
        })
    }

    #[test]
    fn a_database_that_is_down_restarting_or_busy_is_waited_for() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(heals_by_waiting(&connect(sqlx::Error::Io(refused))));
        assert!(heals_by_waiting(&connect(sqlx::Error::PoolTimedOut)));
        assert!(heals_by_waiting(&connect(sqlx::Error::Protocol(
            "unexpected response from SSLRequest: 0x00".into()
        ))));
        for code in ["57P03", "53300", "08006", "57P01", "57014"] {
            assert!(heals_by_waiting(&connect(coded(code))), "{code}");
        }
        // SQLite: SQLITE_BUSY and SQLITE_BUSY_SNAPSHOT.
        for code in ["5", "517"] {
            assert!(heals_by_waiting(&connect(coded(code))), "{code}");
        }
    }

    #[test]
    fn refused_credentials_or_a_missing_database_fail_at_once() {
        // invalid_password, invalid_authorization_specification, no such database.
        for code in ["28P01", "28000", "3D000"] {
            assert!(!heals_by_waiting(&connect(coded(code))), "{code}");
        }
        let tls = sqlx::Error::Tls("invalid peer certificate: UnknownIssuer".into());
        assert!(!heals_by_waiting(&connect(tls)));
        // How rustls reports the same during the handshake: inside an I/O error.
        let untrusted = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(!heals_by_waiting(&connect(sqlx::Error::Io(untrusted))));
        // SQLITE_CANTOPEN (14) is not SQLITE_BUSY, nor is a five-digit SQLSTATE ending in 5.
        assert!(!heals_by_waiting(&connect(coded("14"))));
        assert!(!heals_by_waiting(&connect(coded("22005"))));
    }

    #[test]
    fn a_bad_url_or_a_sqlite_file_in_use_fails_at_once() {
        let invalid = StoreError::InvalidUrl("expected a postgres:// or sqlite: URL".into());
        assert!(!heals_by_waiting(&StartError::Store(invalid)));
        let in_use = StoreError::InUse {
            path: "/var/lib/janus/janus.db".into(),
        };
        assert!(!heals_by_waiting(&StartError::Store(in_use)));
        let sqlite = StoreError::Sqlite {
            path: "/nowhere/janus.db".into(),
            reason: "the directory /nowhere does not exist".into(),
        };
        assert!(!heals_by_waiting(&StartError::Store(sqlite)));
    }

    #[test]
    fn a_migration_is_retried_when_its_connection_failed_not_when_its_sql_did() {
        use sqlx::migrate::MigrateError;
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(heals_by_waiting(&migrate(MigrateError::Execute(
            sqlx::Error::Io(reset)
        ))));
        assert!(heals_by_waiting(&migrate(MigrateError::ExecuteMigration(
            coded("57P01"),
            3
        ))));
        // syntax_error, duplicate_table: the migration's own SQL.
        for code in ["42601", "42P07"] {
            let failed = MigrateError::ExecuteMigration(coded(code), 3);
            assert!(!heals_by_waiting(&migrate(failed)), "{code}");
        }
        assert!(!heals_by_waiting(&migrate(MigrateError::VersionMismatch(
            3
        ))));
        assert!(!heals_by_waiting(&migrate(MigrateError::Dirty(3))));
    }

    #[test]
    fn slack_out_of_reach_is_waited_for_but_a_refused_token_or_proxy_is_not() {
        for kind in [
            None,
            Some(EgressFailure::Unreachable),
            Some(EgressFailure::ProxyUnreachable),
            Some(EgressFailure::Timeout),
            Some(EgressFailure::TlsTimeout),
        ] {
            assert!(heals_by_waiting(&transport(kind)), "{kind:?}");
        }
        for kind in [
            EgressFailure::ProxyAuth,
            EgressFailure::ProxyRefused,
            EgressFailure::Tls,
            EgressFailure::NoHost,
        ] {
            assert!(!heals_by_waiting(&transport(Some(kind))), "{kind:?}");
        }
        let http = |status| {
            StartError::Slack(SlackError::Http {
                method: "auth.test",
                status,
            })
        };
        assert!(heals_by_waiting(&http(503)));
        assert!(!heals_by_waiting(&http(404)));
        let api = |code: &str| {
            StartError::Slack(SlackError::Api {
                method: "auth.test",
                code: ApiErrorCode::from_wire(code),
            })
        };
        assert!(heals_by_waiting(&api("service_unavailable")));
        assert!(!heals_by_waiting(&api("missing_scope")));
        assert!(!heals_by_waiting(&StartError::BotTokenRefused(
            ApiErrorCode::from_wire("invalid_auth")
        )));
    }

    /// Start-up's backoff in milliseconds instead of seconds.
    fn quick() -> Backoff {
        Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
    }

    #[tokio::test]
    async fn a_failure_that_waiting_cannot_fix_is_returned_after_one_try() {
        let mut tries = 0;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        let result: Result<(), _> = patiently("Slack", started, deadline, quick(), || {
            tries += 1;
            async {
                Err(StartError::BotTokenRefused(ApiErrorCode::from_wire(
                    "invalid_auth",
                )))
            }
        })
        .await;
        assert!(matches!(result, Err(StartError::BotTokenRefused(_))));
        assert_eq!(tries, 1);
        assert!(started.elapsed() < Duration::from_millis(20));
    }

    #[tokio::test]
    async fn a_passing_failure_is_retried_with_growing_pauses_until_it_answers() {
        let mut at = Vec::new();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        let result = patiently("the database", started, deadline, quick(), || {
            at.push(started.elapsed());
            let n = at.len();
            async move {
                match n {
                    1..=4 => Err(connect(sqlx::Error::PoolTimedOut)),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 5);
        let pauses: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        // 20, 40, 80, 160 ms steps, each drawn from its upper half: never shorter.
        for (pause, step) in pauses.iter().zip([20u64, 40, 80, 160]) {
            assert!(*pause >= Duration::from_millis(step) / 2, "{pauses:?}");
        }
        assert!(pauses[3] > pauses[0], "{pauses:?}");
    }

    #[tokio::test]
    async fn when_patience_runs_out_the_error_names_what_was_waited_for_and_why() {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(600);
        let mut tries = 0;
        let result: Result<(), _> = patiently("the database", started, deadline, quick(), || {
            tries += 1;
            async {
                let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
                Err(connect(sqlx::Error::Io(refused)))
            }
        })
        .await;
        let error = result.unwrap_err();
        assert!(matches!(error, StartError::GaveUp { .. }), "{error}");
        let message = error.to_string();
        assert!(
            message.starts_with("the database was still unavailable after"),
            "{message}"
        );
        assert!(message.contains("db.internal:5432/janus"), "{message}");
        assert!(message.contains("refused"), "{message}");
        assert!(tries > 3, "{tries}");
        assert!(started.elapsed() < Duration::from_millis(600));
    }

    #[tokio::test]
    async fn a_try_that_hangs_past_the_patience_gives_up_on_time() {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(300);
        let result: Result<(), _> =
            patiently("Slack", started, deadline, quick(), std::future::pending).await;
        let message = result.unwrap_err().to_string();
        assert!(
            message.starts_with("Slack was still unavailable after")
                && message.ends_with("of trying: it did not answer"),
            "{message}"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
