//! `janus run | check | migrate | doctor | templates`. Thin on purpose: load config, start
//! logging, hand over to the library, and turn any failure into one line on
//! stderr and a non-zero exit (never a panic or a backtrace).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use janus::app::App;
use janus::config::{CONFIG_PATH_VAR, Config, ConfigError, EnvFile};
use janus::render::{RenderError, Renderer};

/// The default config file, read when present and no other is named.
const DEFAULT_CONFIG: &str = "config/janus.toml";
/// How long shutdown may take before we give up waiting.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Janus: incident-management ChatOps for Slack, over Socket Mode.
#[derive(Parser)]
#[command(name = "janus", version, about)]
struct Cli {
    /// TOML config file (default: config/janus.toml when it exists).
    #[arg(long, global = true, env = "JANUS_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// File of NAME=value variables under the environment's (default: .env when it
    /// exists), as the Python janus read it.
    #[arg(long, global = true, env = "JANUS_ENV_FILE", value_name = "PATH")]
    env_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the bot (the default).
    Run,
    /// Check config and every template offline, then exit.
    Check,
    /// Apply database migrations, then exit.
    Migrate,
    /// Check tokens, scopes, channels, integrations and the database live,
    /// one line each; exit non-zero if any check failed.
    Doctor,
    /// Print an incident's postmortem draft, from the database alone
    /// (works beside a running Janus).
    Export {
        /// The incident: its channel's name (`inc-…`), channel id or number.
        #[arg(required_unless_present = "summary")]
        incident: Option<String>,
        /// Instead of one incident: count, median and 90th percentile of the
        /// time to a commander and to resolution, per severity, for the
        /// incidents of the last 30 days.
        #[arg(long, conflicts_with = "incident")]
        summary: bool,
        /// `markdown` (with a Mermaid timeline) or `json`.
        #[arg(long, value_enum, default_value_t = ExportFormat::Markdown)]
        format: ExportFormat,
    },
    /// Work with the message templates (no Slack tokens needed).
    Templates {
        #[command(subcommand)]
        action: TemplatesCommand,
    },
}

/// What `janus export` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Markdown,
    Json,
}

#[derive(Subcommand)]
enum TemplatesCommand {
    /// Print a template rendered with sample data, as JSON for Slack's Block Kit Builder.
    Render {
        /// Template name, e.g. `digest` (an unknown name lists them all).
        name: String,
        /// Templates directory to use instead of the configured one.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Write the built-in templates to DIR, a starting point for TEMPLATES_DIRECTORY.
    Export {
        /// Directory to write `<name>.json.hbs` files into (created if missing).
        dir: PathBuf,
        /// Overwrite files that already exist.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    janus::memory::limit_arenas();
    janus::install_crypto_provider();
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("janus: error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its sources on one line, for the operator. Janus's errors
/// already say what their source says (`cannot connect to the database at
/// …: <why>`), so a source whose words are already on the line is not
/// repeated; one that adds something is appended after a colon.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        config,
        env_file,
        command,
    } = cli;
    let named = Named { config, env_file };
    match command.unwrap_or(Command::Run) {
        Command::Check => check(&named.load()?),
        Command::Migrate => migrate(&named.load()?).await,
        Command::Run => {
            let sources = Sources::find(&named)?;
            serve(&sources.load()?, sources.env_file.as_ref()).await
        }
        // Doctor reports a config that does not load as a failed check.
        Command::Doctor => doctor(&named).await,
        Command::Templates { action } => templates(action, &named),
        Command::Export {
            incident,
            summary,
            format,
        } => export(&named.load()?, incident.as_deref(), summary, format).await,
    }
}

/// The files the command line (or `JANUS_CONFIG`, `JANUS_ENV_FILE`) named, if any.
struct Named {
    config: Option<PathBuf>,
    env_file: Option<PathBuf>,
}

impl Named {
    /// A configuration error already names the key and where its value came
    /// from: it needs no context.
    fn load(&self) -> Result<Config, ConfigError> {
        Sources::find(self)?.load()
    }
}

/// The files the configuration is read from, once found.
struct Sources {
    /// The TOML file: the one named, else `JANUS_CONFIG` from the `.env`
    /// file, else [`DEFAULT_CONFIG`] when present.
    config: Option<PathBuf>,
    /// The `.env` file: the one named (it must exist), else `.env` when present.
    env_file: Option<EnvFile>,
}

impl Sources {
    fn find(named: &Named) -> Result<Sources, ConfigError> {
        let env_file = EnvFile::find(named.env_file.as_deref(), &janus::config::process_env())?;
        let from_env_file = env_file
            .as_ref()
            .and_then(|file| file.get(CONFIG_PATH_VAR))
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        let default = Path::new(DEFAULT_CONFIG);
        let config = named
            .config
            .clone()
            .or(from_env_file)
            .or_else(|| default.exists().then(|| default.to_owned()));
        Ok(Sources { config, env_file })
    }

    fn load(&self) -> Result<Config, ConfigError> {
        Config::load(self.config.as_deref(), self.env_file.as_ref())
    }
}

/// `templates render | export`. Works without tokens: the configured
/// `templates_dir` is used when the configuration loads, and the built-in
/// templates otherwise (said on stderr).
fn templates(action: TemplatesCommand, named: &Named) -> anyhow::Result<()> {
    match action {
        TemplatesCommand::Render { name, dir } => {
            let dir = match dir {
                Some(dir) => Some(dir),
                None => match named.load() {
                    Ok(config) => config.templates_dir,
                    Err(_) => {
                        eprintln!(
                            "janus: note: no usable configuration; rendering the built-in \
                             templates (use --dir for yours)"
                        );
                        None
                    }
                },
            };
            let renderer = Renderer::load(dir.as_deref())?;
            let output = renderer.render_sample(&name).map_err(|e| match e {
                RenderError::UnknownTemplate(_) => anyhow::anyhow!(
                    "no template named {name:?}; the templates are: {}",
                    Renderer::names().collect::<Vec<_>>().join(", ")
                ),
                other => other.into(),
            })?;
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(())
        }
        TemplatesCommand::Export { dir, force } => {
            let written = janus::render::export(&dir, force)?;
            println!(
                "janus: wrote {} templates to {}; set TEMPLATES_DIRECTORY={} and edit them \
                 (delete the ones you leave unchanged, so they follow upgrades)",
                written.len(),
                dir.display(),
                dir.display()
            );
            Ok(())
        }
    }
}

/// Prints one line per check on stdout; failures make the exit code.
/// No logging is set up: the report is the output.
async fn doctor(named: &Named) -> anyhow::Result<()> {
    let (config, files) = match Sources::find(named) {
        Ok(sources) => {
            let files: Vec<PathBuf> = [
                sources.config.clone(),
                sources.env_file.as_ref().map(|f| f.path().to_path_buf()),
            ]
            .into_iter()
            .flatten()
            .collect();
            (sources.load().map_err(|e| e.to_string()), files)
        }
        Err(e) => (Err(e.to_string()), Vec::new()),
    };
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let report = janus::doctor::diagnose(config, &files).await;
    for warning in &report.warnings {
        eprintln!("janus: warning: {warning}");
    }
    print!("{report}");
    match report.failures() {
        0 => Ok(()),
        n => anyhow::bail!("doctor: {n} of {} checks failed", report.findings.len()),
    }
}

fn check(config: &Config) -> anyhow::Result<()> {
    let renderer = Renderer::load(config.templates_dir.as_deref())?;
    for warning in config.warnings().iter().chain(renderer.warnings()) {
        eprintln!("janus: warning: {warning}");
    }
    println!("janus: configuration and templates are valid");
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    init_logging(config)?;
    let store = janus::store::open(&config.database, 1)
        .await
        .context("cannot migrate")?;
    store.migrate().await.context("cannot migrate")?;
    tracing::info!("database migrated");
    Ok(())
}

/// `janus export`: the postmortem draft of one incident, on stdout.
async fn export(
    config: &Config,
    incident: Option<&str>,
    summary: bool,
    format: ExportFormat,
) -> anyhow::Result<()> {
    init_logging(config)?;
    let store = janus::store::open_read_only(&config.database)
        .await
        .context("cannot read the database")?;
    let pending = store
        .pending_migrations()
        .await
        .context("cannot read the database")?;
    if !pending.is_empty() {
        anyhow::bail!(
            "the database is not migrated yet ({} pending); run `janus migrate` or start Janus once",
            pending.len()
        );
    }
    let text = match (incident, summary) {
        (Some(incident), false) => {
            let draft = janus::export::draft(&*store, &*store, config, incident).await?;
            match format {
                ExportFormat::Markdown => janus::export::markdown(&draft),
                ExportFormat::Json => serde_json::to_string_pretty(&draft)? + "\n",
            }
        }
        _ => {
            let rows = janus::export::summary(&*store, config)
                .await
                .context("cannot read the database")?;
            match format {
                ExportFormat::Markdown => janus::export::summary_markdown(&rows),
                ExportFormat::Json => serde_json::to_string_pretty(&rows)? + "\n",
            }
        }
    };
    print!("{text}");
    Ok(())
}

/// `janus run`: builds Janus, serves until SIGTERM or Ctrl-C, then gives
/// in-flight work [`SHUTDOWN_GRACE`] to finish.
async fn serve(config: &Config, env_file: Option<&EnvFile>) -> anyhow::Result<()> {
    init_logging(config)?;
    if let Some(file) = env_file {
        // Names and count only: the file holds the tokens.
        tracing::info!(
            file = %file.path().display(),
            variables = file.len(),
            "read the .env file (a variable the environment sets wins over it)"
        );
    }
    let app = App::build(config, Default::default())
        .await
        .context("cannot start")?;
    let shutdown = CancellationToken::new();
    let running = app.run(shutdown.clone()).await;
    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        janus::systemd::stopping();
        stop.cancel();
    });
    tokio::spawn(janus::systemd::report(
        running.connections(),
        usize::from(config.slack.sockets),
        shutdown.clone(),
    ));
    tokio::spawn(janus::systemd::watchdog(shutdown.clone()));
    let mut wait = std::pin::pin!(running.wait());
    let result = tokio::select! {
        result = &mut wait => result,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("in-flight work did not finish within {SHUTDOWN_GRACE:?}; exiting");
            Ok(())
        }
    };
    result.context("stopped serving")
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    janus::telemetry::init(&config.log_level, config.log_format).map_err(anyhow::Error::msg)?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
