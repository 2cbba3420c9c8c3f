//! The running bot, wired: templates, store, Slack client, actors, bus and
//! sockets. `main` and the integration tests start Janus the same way,
//! through [`start`], so the tests exercise exactly what ships.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::actors::{Actors, Context};
use crate::config::Config;
use crate::egress::Egress;
use crate::health::{BindError, Probe};
use crate::metrics::Metrics;
use crate::render::{RenderError, Renderer};
use crate::slack::{SlackApi, SlackError};
use crate::socket::{self, SocketError, Tuning};
use crate::store::{Store, StoreError};

/// Knobs that are not user configuration: the tests shorten them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Socket Mode timings.
    pub socket: Tuning,
    /// Web API deadlines and the time budget of one call.
    pub slack: crate::slack::SlackTuning,
}

/// Why Janus could not start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A template is missing or broken.
    #[error(transparent)]
    Templates(#[from] RenderError),
    /// The database is unreachable or could not be migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bot token was refused.
    #[error("SLACK_BOT_TOKEN (slack.bot_token) was refused by Slack ({0}); check the bot token")]
    BotTokenRefused(String),
    /// Slack could not be reached or answered oddly.
    #[error(transparent)]
    Slack(#[from] SlackError),
    /// The health and metrics port could not be opened.
    #[error(transparent)]
    Health(#[from] BindError),
    /// The Statuspage client could not be built from its settings.
    #[error("statuspage: {0}")]
    Statuspage(String),
    /// The HTTP client for status providers could not be built.
    #[error("providers: {0}")]
    Providers(String),
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

/// A started Janus.
pub struct Running {
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    tasks: TaskTracker,
    connected: watch::Receiver<usize>,
    health_addr: Option<SocketAddr>,
    task: JoinHandle<Result<(), RunError>>,
}

/// Builds everything and opens the sockets. Returns once the bot token has
/// been checked and the database migrated; sockets connect in the
/// background (see [`Running::wait_connected`]).
pub async fn start(config: &Config, options: Options) -> Result<Running, StartError> {
    let renderer = Renderer::load(config.templates_dir.as_deref())?;
    for warning in renderer.warnings() {
        tracing::warn!("{warning}");
    }
    // Bound first: a taken port is the cheapest mistake to report, and
    // nothing has started yet that would need stopping. Served once the
    // store is open.
    let health_listener = match &config.health {
        Some(health) => Some(crate::health::bind(health.listen).await?),
        None => None,
    };
    // One registry per app, never a global: tests run several apps in one
    // process and each must count only its own.
    let metrics = Arc::new(Metrics::new());
    // One policy for every outbound connection: the Web API, the websocket,
    // status providers and Statuspage.
    let egress = Egress::new(&config.egress);
    log_egress(&egress);
    let slack = SlackApi::new(
        &config.slack.api_url,
        &config.slack.bot_token,
        &config.slack.app_token,
        &egress,
    )?
    .with_metrics(metrics.clone())
    .with_tuning(options.slack);

    // The database and Slack are independent: check both at once.
    let (store, bot) = tokio::join!(
        async {
            let store =
                crate::store::open(&config.database, config.database.max_connections).await?;
            store.migrate().await?;
            Ok::<_, StoreError>(store)
        },
        slack.auth_test()
    );
    let store: Arc<dyn Store> = store?;
    let bot = bot
        .map_err(|e| match e.code() {
            Some(code) if code.is_auth_failure() => StartError::BotTokenRefused(code.to_string()),
            _ => StartError::Slack(e),
        })?
        .with_workspace_id(config.slack.workspace_id.as_deref());
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
        .map_err(|e| StartError::Statuspage(e.to_string()))?;
    let providers = match config.providers {
        Some(_) => Some(
            crate::providers::ProviderClient::with_egress(
                crate::providers::DEFAULT_TIMEOUT,
                &egress,
            )
            .map_err(|e| StartError::Providers(e.to_string()))?,
        ),
        None => None,
    };
    let actors = Actors::start(
        Context {
            slack: slack.clone(),
            store: store.clone(),
            renderer,
            bot,
            config: Arc::new(config.clone()),
            groups: Default::default(),
            tasks: TaskTracker::new(),
        },
        statuspage,
        providers,
    );
    // Finish what a crash interrupted, beside new work (start-up does not
    // wait for Slack): declarations, and changes Slack does not show yet.
    let resuming = actors.incident.clone();
    actors.tasks.spawn(async move { resuming.resume().await });
    match store.unpublished_changes(Duration::ZERO).await {
        Ok(ids) => actors.publisher.catch_up(ids),
        Err(e) => tracing::error!(error = %e, "cannot look for changes Slack does not show"),
    }
    let (connected_tx, connected) = watch::channel(0);
    let shutdown = CancellationToken::new();
    let (health_addr, health) = match health_listener {
        Some(listener) => {
            let addr = listener.local_addr().ok();
            if let Some(addr) = addr {
                tracing::info!(%addr, "serving /healthz and /metrics");
            }
            let probe = Probe {
                metrics: metrics.clone(),
                store: store.clone(),
                connected: connected.clone(),
            };
            let task = tokio::spawn(crate::health::serve(listener, probe, shutdown.clone()));
            (addr, Some(task))
        }
        None => (None, None),
    };
    let recovery = tokio::spawn(recover(
        store.clone(),
        actors.clone(),
        config.recovery_interval,
        shutdown.clone(),
    ));
    let tasks = actors.tasks.clone();
    let (running_metrics, running_tasks) = (metrics.clone(), tasks.clone());
    let (bus, bus_task) = crate::bus::start(store, actors, metrics.clone(), shutdown.clone());
    let sockets = config.slack.sockets.into();
    // Socket Mode's thread gets a Web API client of its own (for
    // apps.connections.open): see socket::run_on_own_thread.
    let socket_api = SlackApi::new(
        &config.slack.api_url,
        &config.slack.bot_token,
        &config.slack.app_token,
        &egress,
    )?
    .with_metrics(metrics.clone())
    .with_tuning(options.slack);
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let result = socket::SocketMode {
            count: sockets,
            api: socket_api,
            bus,
            tuning: options.socket,
            connected: connected_tx,
            metrics,
            shutdown: stop.clone(),
        }
        .run_on_own_thread()
        .await;
        // The sockets held the last bus handles: the bus now drains its
        // lanes, then the tasks the actors started (publishing, declarations
        // and what runs alone) finish.
        stop.cancel();
        let _ = recovery.await;
        if let Some(health) = health {
            let _ = health.await;
        }
        let _ = bus_task.await;
        tasks.close();
        tasks.wait().await;
        result
    });
    Ok(Running {
        shutdown,
        metrics: running_metrics,
        tasks: running_tasks,
        connected,
        health_addr,
        task,
    })
}

/// Recovery while running: one replica (the leader, elected with a
/// database lock it holds until it dies) looks every `interval` for work a
/// crashed replica left: unfinished declarations and changes Slack does not
/// show. Per-incident locks keep it from touching work still in flight.
async fn recover(
    store: Arc<dyn Store>,
    actors: Actors,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut leader = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if leader.is_none() {
            match store.try_become_leader().await {
                Ok(Some(lock)) => {
                    tracing::info!("this replica now runs recovery");
                    leader = Some(lock);
                }
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take part in the recovery election");
                    continue;
                }
            }
        }
        actors.incident.resume().await;
        // Changes younger than this may still be on their way to Slack.
        match store.unpublished_changes(Duration::from_secs(30)).await {
            Ok(ids) => actors.publisher.catch_up(ids),
            Err(e) => tracing::warn!(error = %e, "cannot look for changes Slack does not show"),
        }
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
    /// no task it started (publishing, a declaration…) is running. `false`
    /// after `timeout`. For tests and tools that must know the effects of
    /// what they sent are all in, without sleeping.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Handling spawns its follow-up tasks before the envelope is
            // settled, so once both are empty nothing is left to start.
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
