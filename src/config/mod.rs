//! Janus's configuration: one validated [`Config`] built from layers, later winning:
//! built-in defaults → TOML file → `JANUS_*` environment (`__` nests: `JANUS_SLACK__SOCKETS`
//! is `slack.sockets`) → the Python janus variable names, accepted as they are. A `.env` file
//! (see `dotenv.rs`) supplies variables the real environment does not set, as python-dotenv did.
//!
//! Loading is parse-then-validate: figment reads everything into an all-optional raw shape
//! (`raw.rs`), then `resolve` applies defaults, reads `…_file` secrets and checks the rules
//! between keys. Once [`Config::load_from`] returns `Ok`, every required value is present and
//! consistent, so the rest of the program never sees an `Option` it must not be `None`.
//!
//! Every failure is one [`ConfigError`] line naming the key and where its value came from.

mod dotenv;
mod error;
mod raw;
mod sources;
#[cfg(test)]
mod tests;
mod timezone;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use figment::{Figment, Profile};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::domain::command::CommandName;
use crate::domain::incident::{
    Catalog, CatalogError, CatalogPart, ChoiceSpec, RoleSpec, default_roles, default_severities,
    default_statuses,
};
use crate::egress::{EgressSettings, NoProxy, ProxyUrl};
pub use dotenv::{DEFAULT_ENV_FILE, EnvFile};
pub use error::ConfigError;
use raw::{
    Choices, PerSeverity, RawConfig, RawDatabase, RawIncident, RawProviders, RawProxy,
    RawReminders, RawSlack, RawStatuspage, RawTls,
};
pub use sources::{CONFIG_PATH_VAR, ENV_FILE_VAR, reads_variable};
use sources::{
    EnvLayer, HTTP_PROXY_VARS, HTTPS_PROXY_VARS, NO_PROXY_VARS, SECRET_KEYS, TomlLayer,
    legacy_env_name, native_env_name,
};
pub use timezone::Zone;

/// Web API base used unless `slack.api_url` says otherwise (GovSlack, a test fake).
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api/";
/// Statuspage API base used unless `statuspage.api_url` says otherwise.
pub const DEFAULT_STATUSPAGE_API_URL: &str = "https://api.statuspage.io/v1";
/// Providers whose status API Janus knows; any other name in `providers.list` needs a URL.
pub const BUILTIN_PROVIDERS: &[&str] = &["github", "heroku", "slack"];
/// URL schemes accepted in `database.url`: Postgres for replicas, SQLite for one process.
pub const DATABASE_SCHEMES: &[&str] = &["postgres", "postgresql", "sqlite"];
/// The SQLite file used when no database is configured, in `$STATE_DIRECTORY` (set by
/// systemd's `StateDirectory=`) or else the working directory.
pub const DEFAULT_SQLITE_FILE: &str = "janus.db";
/// `timeline.emoji` when not set.
pub const DEFAULT_TIMELINE_EMOJI: &str = "pushpin";
/// `incident.max_declarations_per_user` when not set: enough for a real
/// outage's several incidents, few enough to stop a flood.
pub const DEFAULT_MAX_DECLARATIONS_PER_USER: u32 = 5;
/// The variable systemd sets to the service's state directories (`:`-separated).
const STATE_DIRECTORY_VAR: &str = "STATE_DIRECTORY";

/// Everything Janus needs to run, validated: required values are present, URLs parse,
/// numbers are in range, and optional integrations are `Some` only when enabled.
#[derive(Clone, Debug)]
pub struct Config {
    /// How to reach Slack.
    pub slack: SlackConfig,
    /// How to reach the store.
    pub database: DatabaseConfig,
    /// Settings every incident uses.
    pub incident: IncidentConfig,
    /// Folder of user templates overriding the built-in ones (existence is checked by the
    /// renderer, which knows what it needs from it); `None` = built-in templates only.
    pub templates_dir: Option<PathBuf>,
    /// Invite a user group to every new incident channel; `None` when disabled.
    pub auto_invite: Option<AutoInviteConfig>,
    /// Snapshot third-party status pages into new channels; `None` when disabled.
    pub providers: Option<ProvidersConfig>,
    /// Declare an incident by reacting with an emoji; `None` when disabled.
    pub react: Option<ReactConfig>,
    /// The emoji that marks a message in an incident channel for its
    /// timeline (`timeline.emoji`, default `pushpin`), without colons.
    pub timeline_emoji: String,
    /// Drive a Statuspage incident from Slack; `None` when disabled.
    pub statuspage: Option<StatuspageConfig>,
    /// Serve `/healthz` and `/metrics` over HTTP; `None` (the default) opens no port at all,
    /// since an operator must choose to expose anything beyond Slack's socket.
    pub health: Option<HealthConfig>,
    /// tracing `EnvFilter` directives, e.g. `info,janus=debug` (parsed by the telemetry setup).
    pub log_level: String,
    /// How log lines are printed.
    pub log_format: LogFormat,
    /// How often the leader replica looks for work a crashed replica left
    /// unfinished.
    pub recovery_interval: std::time::Duration,
    /// When Janus reminds an incident's channel of a missing update or commander.
    pub reminders: RemindersConfig,
    /// Outbound connections: the proxy (from `proxy.url`, else `HTTPS_PROXY` and friends),
    /// `NO_PROXY`, and the extra CA bundle (`tls.ca_file`, else `SSL_CERT_FILE`), read and
    /// checked here so a bad file stops Janus at start.
    pub egress: EgressSettings,
    warnings: Vec<String>,
}

/// Slack credentials and connection settings.
#[derive(Clone, Debug)]
pub struct SlackConfig {
    /// App-level token (`xapp-…`, scope `connections:write`) that opens Socket Mode sockets.
    pub app_token: SecretString,
    /// Bot token (`xoxb-…`) for Web API calls.
    pub bot_token: SecretString,
    /// Web API base URL, always ending in `/` so relative joins keep its path.
    pub api_url: Url,
    /// The `acme` of `acme.slack.com`, for building links; when unset, the
    /// workspace URL `auth.test` reports is used.
    pub workspace_id: Option<String>,
    /// How many Socket Mode connections to keep open (1..=10; Slack allows 10 per app).
    pub sockets: u8,
    /// The slash command Janus answers and names in its messages
    /// (`slack.command`, default `/incident`): the manifest's must match.
    pub command: CommandName,
}

/// The store. `Debug` shows the URL with its password masked.
#[derive(Clone)]
pub struct DatabaseConfig {
    /// Connection URL, given whole or composed from host, port, name, user and password.
    pub url: SecretString,
    /// Size of the connection pool.
    pub max_connections: u32,
    /// How a Postgres connection is secured; empty (the default) for SQLite.
    pub tls: DatabaseTls,
}

/// `database.sslmode`: how much of TLS a Postgres connection insists on, with libpq's names
/// (what operators and their database teams already use). `allow` is not offered: it never
/// tries TLS before the server refuses plaintext, so it would read as safer than it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, else plaintext (logged); the certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS with a certificate signed by a trusted CA, for any host name.
    VerifyCa,
    /// TLS with a trusted certificate for the host connected to: what Slack's connection gets.
    VerifyFull,
}

impl SslMode {
    /// Every mode, in the order of the protection they give.
    pub const ALL: [SslMode; 5] = [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The mode named `text` (any case, trimmed), if it is one of [`SslMode::ALL`].
    pub fn parse(text: &str) -> Option<SslMode> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(text))
    }

    /// The libpq name, as written in config and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the server's certificate is checked against the trusted CAs.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }

    /// `disable, prefer, …`, for messages.
    fn names() -> String {
        Self::ALL.map(SslMode::as_str).join(", ")
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TLS for a Postgres database, as `database.sslmode`, `database.ca_file` (or the URL's
/// `sslmode` and `sslrootcert`) and `tls.ca_file` say, read and checked at load so a bad CA
/// file stops Janus before it connects anywhere.
#[derive(Clone, Default)]
pub struct DatabaseTls {
    /// The mode asked for; `None` lets the host decide when connecting: `verify-full`, or
    /// `prefer` for a loopback host or a Unix socket (see `store::postgres`), so a local
    /// database keeps working as it always has.
    pub sslmode: Option<SslMode>,
    /// The CA files trusted in addition to the system's roots, each with the key that named
    /// it (`tls.ca_file` first, then `database.ca_file`), for messages.
    pub ca_files: Vec<(String, PathBuf)>,
    /// The certificates of those files, in that order.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl fmt::Debug for DatabaseTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseTls")
            .field("sslmode", &self.sslmode)
            .field("ca_files", &self.ca_files)
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

impl DatabaseConfig {
    /// A database at `url` with the default TLS settings (`sslmode` chosen by the host, the
    /// system's roots only): for tools and tests that have no configuration file.
    pub fn from_url(url: SecretString, max_connections: u32) -> DatabaseConfig {
        DatabaseConfig {
            url,
            max_connections,
            tls: DatabaseTls::default(),
        }
    }

    /// Whether the URL names a SQLite database (else Postgres).
    pub fn is_sqlite(&self) -> bool {
        is_sqlite_url(self.url.expose_secret())
    }

    /// The URL with any password masked and the query dropped, safe for logs.
    ///
    /// Rebuilt from parsed parts rather than edited in place, so a URL that parses oddly
    /// (`user:pw@host` reads as scheme `user`) can never leak its text.
    pub fn redacted_url(&self) -> String {
        let text = self.url.expose_secret();
        // A SQLite URL is a path: nothing to hide, and the path is what one needs to see;
        // unless it looks like `user:password@host` with a user named `sqlite`.
        if let Some(("sqlite", rest)) = text.split_once(':') {
            let path = rest.split('?').next().unwrap_or_default();
            if path.contains('@') {
                return "sqlite:[REDACTED]".to_owned();
            }
            return format!("sqlite:{path}");
        }
        let Ok(url) = Url::parse(text) else {
            return "[REDACTED]".to_owned();
        };
        let Some(host) = url.host_str() else {
            return format!("{}:[REDACTED]", url.scheme());
        };
        let mut shown = format!("{}://", url.scheme());
        if !url.username().is_empty() {
            shown.push_str(url.username());
            if url.password().is_some() {
                shown.push_str(":***");
            }
            shown.push('@');
        }
        shown.push_str(host);
        if let Some(port) = url.port() {
            shown.push_str(&format!(":{port}"));
        }
        shown.push_str(url.path());
        shown
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Settings shared by every incident.
#[derive(Clone, Debug)]
pub struct IncidentConfig {
    /// Name (not id, no `#`) of the channel holding one live message per incident.
    pub digest_channel: String,
    /// Set as the topic (and a bookmark) of every incident channel.
    pub video_link: Option<Url>,
    /// The zone channel names are dated in; UTC unless `incident.timezone` says otherwise.
    pub timezone: Zone,
    /// The statuses, severities and roles incidents use; the brief's workflow unless
    /// `incident.statuses`, `incident.severities`, `incident.default_severity` or
    /// `incident.roles` say otherwise.
    pub catalog: Catalog,
    /// Whether guests and users of other organisations (Slack Connect) may
    /// change incidents and declare them (`incident.allow_external_users`);
    /// by default they may only follow them.
    pub allow_external_users: bool,
    /// Declarations one person may make in ten minutes
    /// (`incident.max_declarations_per_user`, default 5); `None` for no limit (0).
    pub max_declarations_per_user: Option<u32>,
    /// How long after its resolution an incident's channel is archived
    /// (`incident.archive_after`, seconds); `None` (0, the default): never.
    pub archive_after: Option<std::time::Duration>,
}

impl IncidentConfig {
    /// The wall-clock time in the configured zone at `utc`, for dating a channel name.
    pub fn local_time(&self, utc: DateTime<Utc>) -> NaiveDateTime {
        self.timezone.local_time(utc)
    }
}

/// `reminders.*`: when an open incident's channel is reminded to post an update, or told
/// that nobody holds the commander role. Values are whole seconds; `0` turns one off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemindersConfig {
    /// Time without an update before a reminder, by severity key; a severity that is not
    /// here gets none.
    pub update_every: BTreeMap<String, std::time::Duration>,
    /// Time after the declaration before a missing commander is pointed out; `None`: never.
    pub unclaimed_commander_after: Option<std::time::Duration>,
}

impl RemindersConfig {
    /// How long an incident of `severity` may go without an update; `None`: no reminders.
    pub fn update_every(&self, severity: &str) -> Option<std::time::Duration> {
        self.update_every.get(severity).copied()
    }
}

/// `reminders.update_every` by default: sev1 every 30 minutes, sev2 every hour.
pub const DEFAULT_UPDATE_EVERY: &[(&str, u64)] = &[("sev1", 1800), ("sev2", 3600)];
/// `reminders.unclaimed_commander_after` by default: ten minutes.
pub const DEFAULT_UNCLAIMED_COMMANDER_AFTER: u64 = 600;
/// The longest reminder interval accepted: a week (a longer one is most likely a typo, such
/// as minutes or milliseconds given as seconds).
const MAX_REMINDER_SECONDS: u64 = 7 * 24 * 60 * 60;

/// The user group invited to every new incident channel.
#[derive(Clone, Debug)]
pub struct AutoInviteConfig {
    /// Handle or name of the group, without a leading `@`.
    pub group: String,
}

/// Third-party status pages snapshotted into each new incident channel.
#[derive(Clone, Debug)]
pub struct ProvidersConfig {
    /// In the order given, without duplicates; never empty.
    pub list: Vec<ProviderConfig>,
}

/// One status provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Lowercase name, e.g. `github`.
    pub name: String,
    /// Base URL of its status API; `None` only for a built-in provider using its default.
    pub url: Option<Url>,
}

/// Declaring an incident by reacting to a message.
#[derive(Clone, Debug)]
pub struct ReactConfig {
    /// Emoji name without colons, e.g. `rotating_light`.
    pub emoji: String,
}

/// The Statuspage integration.
#[derive(Clone, Debug)]
pub struct StatuspageConfig {
    /// API key (an `OAuth` header value).
    pub api_key: SecretString,
    /// The page incidents are created on.
    pub page_id: String,
    pub api_url: Url,
    /// Only members of this user group (an id `S…`, or a handle or name,
    /// resolved to its id at start) may create or update Statuspage
    /// incidents. Never set together with `allow_everyone`.
    pub allowed_group: Option<String>,
    /// Anyone may publish: the explicit opt-out of the group check. With
    /// neither this nor `allowed_group`, nobody may publish (fail closed).
    pub allow_everyone: bool,
    /// `statuspage.follow_incident`: the linked Statuspage incident moves
    /// with the incident's status, as this policy maps it; `None` when off.
    pub follow: Option<crate::statuspage::FollowPolicy>,
}

impl StatuspageConfig {
    /// Who may publish to Statuspage, as configured.
    pub fn publishers(&self) -> Publishers<'_> {
        match (&self.allowed_group, self.allow_everyone) {
            (Some(group), _) => Publishers::Group(group),
            (None, true) => Publishers::Everyone,
            (None, false) => Publishers::Nobody,
        }
    }
}

/// Who may create or update Statuspage incidents: the customer-facing
/// voice of the company is not every member's by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publishers<'a> {
    /// `statuspage.allow_everyone = true`.
    Everyone,
    /// Members of `statuspage.allowed_group` (as configured: id, handle or name).
    Group(&'a str),
    /// Neither is set: Janus starts, but nobody may publish.
    Nobody,
}

/// The health and metrics HTTP listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Where to listen; `127.0.0.1` unless configured with an address. Port 0 picks a free
    /// port (tests): the bound address is logged and given by `Running::health_addr`.
    pub listen: std::net::SocketAddr,
}

/// How log lines are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines for a terminal or journald.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

impl Config {
    /// Loads from `file` (if given: it must exist), the `.env` file (if any) and the process
    /// environment.
    ///
    /// The CLI decides the files: `--config`/`JANUS_CONFIG`, else `config/janus.toml` if
    /// present; `--env-file`/`JANUS_ENV_FILE`, else `.env` if present (see [`EnvFile::find`]).
    pub fn load(file: Option<&Path>, env_file: Option<&EnvFile>) -> Result<Config, ConfigError> {
        Config::load_with_env_file(file, env_file, process_env())
    }

    /// Loads from `file` and the given environment pairs instead of the process environment,
    /// so tests can run in parallel with their own variables.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Config::load_with_env_file(file, None, env)
    }

    /// Like [`Config::load_from`], with the variables of `env_file` under `env`: a variable
    /// set in `env` (even empty) hides the file's, as python-dotenv leaves a real variable
    /// alone. Within each, a Python janus name still wins over its `JANUS_*` twin.
    pub fn load_with_env_file(
        file: Option<&Path>,
        env_file: Option<&EnvFile>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let process: BTreeMap<String, String> = env.into_iter().collect();
        let from_file: BTreeMap<String, String> = env_file
            .into_iter()
            .flat_map(EnvFile::vars)
            .filter(|(name, _)| !process.contains_key(*name))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let mut figment = Figment::new();
        if let Some(path) = file {
            figment = figment.merge(TomlLayer::read(path)?);
        }
        if let Some(env_file) = env_file {
            figment = figment.merge(EnvLayer::native(&from_file).in_file(env_file));
        }
        figment = figment.merge(EnvLayer::native(&process));
        if let Some(env_file) = env_file {
            figment = figment.merge(EnvLayer::legacy(&from_file).in_file(env_file));
        }
        let figment = figment.merge(EnvLayer::legacy(&process));
        let raw: RawConfig = figment
            .extract()
            .map_err(|error| ConfigError::from_figment(error, |key| SECRET_KEYS.contains(&key)))?;
        let mut env = from_file;
        env.extend(process.iter().map(|(k, v)| (k.clone(), v.clone())));
        Resolver {
            figment: &figment,
            warnings: Vec::new(),
            state_directory: env.get(STATE_DIRECTORY_VAR).cloned(),
            env: &env,
            process: &process,
            env_file,
        }
        .resolve(raw)
    }

    /// The database connection URL, however it was given.
    pub fn database_url(&self) -> &SecretString {
        &self.database.url
    }

    /// Things worth telling the operator at start that do not stop Janus (never with values).
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// A secret and the key that supplied it (the value key or its `…_file` twin), so a later
/// check can blame the right one.
struct Secret {
    value: SecretString,
    key: String,
}

/// Applies defaults and cross-key rules to the raw values, using the figment to say where
/// each value came from.
struct Resolver<'f> {
    figment: &'f Figment,
    warnings: Vec<String>,
    /// `$STATE_DIRECTORY`, from the same environment as every key, for the default database.
    state_directory: Option<String>,
    /// The whole environment given to `load_from` over the `.env` file's, for the
    /// conventional proxy variables.
    env: &'f BTreeMap<String, String>,
    /// The environment alone, to tell which of the two set a variable.
    process: &'f BTreeMap<String, String>,
    env_file: Option<&'f EnvFile>,
}

impl Resolver<'_> {
    fn resolve(mut self, raw: RawConfig) -> Result<Config, ConfigError> {
        let slack = self.slack(raw.slack)?;
        let database = self.database(raw.database)?;
        let incident = self.incident(raw.incident)?;
        let auto_invite = match enabled(&raw.auto_invite.enabled) {
            false => None,
            true => {
                let group = self.required_text(
                    "auto_invite.group",
                    raw.auto_invite.group,
                    Some("`auto_invite.enabled` is true"),
                )?;
                let handle = group.strip_prefix('@').unwrap_or(&group).trim();
                if handle.is_empty() {
                    return Err(self.invalid(
                        "auto_invite.group",
                        format!("expected a user group handle or name, found {group:?}"),
                    ));
                }
                Some(AutoInviteConfig {
                    group: handle.to_owned(),
                })
            }
        };
        let providers = self.providers(raw.providers)?;
        let react = match enabled(&raw.react.enabled) {
            false => None,
            true => {
                let emoji = self.required_text(
                    "react.emoji",
                    raw.react.emoji,
                    Some("`react.enabled` is true"),
                )?;
                Some(ReactConfig {
                    emoji: self.emoji("react.emoji", &emoji)?,
                })
            }
        };
        let timeline_emoji = match text(raw.timeline.emoji) {
            Some(emoji) => self.emoji("timeline.emoji", &emoji)?,
            None => DEFAULT_TIMELINE_EMOJI.to_owned(),
        };
        if react.as_ref().is_some_and(|r| r.emoji == timeline_emoji) {
            return Err(self.invalid(
                "timeline.emoji",
                format!(
                    "`{timeline_emoji}` is also `react.emoji`: one emoji cannot both declare an incident and mark a message for its timeline"
                ),
            ));
        }
        let statuspage = self.statuspage(raw.statuspage, &incident.catalog)?;
        let health = raw
            .health
            .listen
            .and_then(|listen| listen.0)
            .map(|listen| HealthConfig { listen });
        let egress = self.egress(raw.proxy, raw.tls)?;
        let mut database = database;
        // What Janus trusts for Slack it trusts for Postgres too (a corporate CA), on top of
        // the system's roots and `database.ca_file`.
        if !database.is_sqlite()
            && let Some(file) = &egress.ca_file
        {
            let tls = &mut database.tls;
            tls.ca_files
                .insert(0, ("tls.ca_file".to_owned(), file.clone()));
            tls.extra_roots
                .splice(0..0, egress.extra_roots.iter().cloned());
        }
        let reminders = self.reminders(raw.reminders, &incident.catalog)?;
        let log_level = text(raw.log_level).unwrap_or_else(|| "info".to_owned());
        let recovery_interval = match raw.recovery_interval {
            None => 60,
            Some(secs @ 1..=3600) => secs,
            Some(other) => {
                return Err(self.invalid(
                    "recovery_interval",
                    format!("expected seconds from 1 to 3600, found {other}"),
                ));
            }
        };
        Ok(Config {
            slack,
            database,
            incident,
            templates_dir: raw
                .templates
                .directory
                .filter(|dir| !dir.as_os_str().is_empty()),
            auto_invite,
            providers,
            react,
            timeline_emoji,
            statuspage,
            health,
            log_level,
            log_format: raw.log_format.unwrap_or_default(),
            recovery_interval: std::time::Duration::from_secs(recovery_interval),
            reminders,
            egress,
            warnings: self.warnings,
        })
    }

    /// `reminders.*`: a number applies to every severity of the catalog; a table names
    /// severities (others get no reminder). `0` turns a reminder off.
    fn reminders(
        &self,
        raw: RawReminders,
        catalog: &Catalog,
    ) -> Result<RemindersConfig, ConfigError> {
        let seconds = |key: &str, value: u64| -> Result<Option<std::time::Duration>, ConfigError> {
            match value {
                0 => Ok(None),
                1..=MAX_REMINDER_SECONDS => Ok(Some(std::time::Duration::from_secs(value))),
                _ => Err(self.invalid(
                    key,
                    format!(
                        "expected seconds from 0 (off) to {MAX_REMINDER_SECONDS} (a week), found {value}"
                    ),
                )),
            }
        };
        let key = "reminders.update_every";
        let given: Vec<(String, u64)> = match raw.update_every {
            None => DEFAULT_UPDATE_EVERY
                .iter()
                .filter(|(severity, _)| catalog.severity(severity).is_some())
                .map(|&(severity, secs)| (severity.to_owned(), secs))
                .collect(),
            Some(PerSeverity::All(secs)) => catalog
                .severities()
                .iter()
                .map(|choice| (choice.value().to_owned(), secs))
                .collect(),
            Some(PerSeverity::Each(each)) => {
                let known: Vec<&str> = catalog.severities().iter().map(|c| c.value()).collect();
                if let Some(unknown) = each.keys().find(|k| !known.contains(&k.as_str())) {
                    return Err(self.invalid(
                        key,
                        format!(
                            "`{unknown}` is not a severity; expected some of {}",
                            known.join(", ")
                        ),
                    ));
                }
                each.into_iter().collect()
            }
        };
        let mut update_every = BTreeMap::new();
        for (severity, secs) in given {
            if let Some(every) = seconds(key, secs)? {
                update_every.insert(severity, every);
            }
        }
        let unclaimed_commander_after = seconds(
            "reminders.unclaimed_commander_after",
            raw.unclaimed_commander_after
                .unwrap_or(DEFAULT_UNCLAIMED_COMMANDER_AFTER),
        )?;
        Ok(RemindersConfig {
            update_every,
            unclaimed_commander_after,
        })
    }

    fn slack(&mut self, raw: RawSlack) -> Result<SlackConfig, ConfigError> {
        let app_token = self.token(
            "slack.app_token",
            raw.app_token,
            raw.app_token_file,
            "xapp-",
        )?;
        let bot_token = self.token(
            "slack.bot_token",
            raw.bot_token,
            raw.bot_token_file,
            "xoxb-",
        )?;
        let mut api_url = match raw.api_url {
            Some(url) => url.0,
            None => Url::parse(DEFAULT_SLACK_API_URL).expect("the default URL parses"),
        };
        // `Url::join("chat.postMessage")` on `…/api` would drop `api`; keep the trailing slash.
        if !api_url.path().ends_with('/') {
            let path = format!("{}/", api_url.path());
            api_url.set_path(&path);
        }
        // Optional: without it, links use the workspace URL `auth.test` reports.
        let workspace_id = text(raw.workspace_id);
        if let Some(id) = &workspace_id
            && !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(self.invalid(
                "slack.workspace_id",
                format!(
                    "expected the workspace subdomain, like `acme` for acme.slack.com, found {id:?}"
                ),
            ));
        }
        let command = match text(raw.command) {
            None => CommandName::default(),
            Some(command) => CommandName::parse(&command)
                .map_err(|e| self.invalid("slack.command", e.to_string()))?,
        };
        let ignored: Vec<&str> = [
            ("slack.signing_secret", raw.signing_secret.is_some()),
            ("slack.verification_token", raw.verification_token.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        if !ignored.is_empty() {
            let keys: Vec<String> = ignored.iter().map(|key| self.named(key)).collect();
            self.warnings.push(format!(
                "{} {} not needed in Socket Mode and ignored; remove {}",
                keys.join(" and "),
                if keys.len() == 1 { "is" } else { "are" },
                if keys.len() == 1 { "it" } else { "them" },
            ));
        }
        Ok(SlackConfig {
            app_token,
            bot_token,
            api_url,
            workspace_id,
            sockets: raw.sockets.map_or(2, |n| n.0 as u8),
            command,
        })
    }

    /// A Slack token: required, trimmed, with the prefix that tells its kind.
    fn token(
        &self,
        key: &str,
        value: Option<SecretString>,
        file: Option<PathBuf>,
        prefix: &str,
    ) -> Result<SecretString, ConfigError> {
        let Some(secret) = self.secret(key, value, file)? else {
            return Err(self.missing(key, None));
        };
        let token = secret.value.expose_secret().trim();
        if !token.starts_with(prefix) {
            let kind = if prefix == "xapp-" {
                "an app-level token (Socket Mode, scope connections:write)"
            } else {
                "a bot token"
            };
            return Err(self.invalid(
                &secret.key,
                format!("expected {kind} starting with `{prefix}`"),
            ));
        }
        Ok(SecretString::from(token))
    }

    fn database(&mut self, mut raw: RawDatabase) -> Result<DatabaseConfig, ConfigError> {
        let max_connections = raw.max_connections.map_or(10, |n| n.0);
        let (sslmode, ca_file) = (raw.sslmode.take(), raw.ca_file.take());
        let (url, url_key) = self.database_url(raw)?;
        let tls = self.database_tls(sslmode, ca_file, &url, url_key.as_deref())?;
        Ok(DatabaseConfig {
            url,
            max_connections,
            tls,
        })
    }

    /// The connection URL, and the key that gave it whole (`None` when composed from parts
    /// or defaulted), whose own TLS parameters `database_tls` weighs.
    fn database_url(
        &mut self,
        raw: RawDatabase,
    ) -> Result<(SecretString, Option<String>), ConfigError> {
        let parts = [
            ("database.host", raw.host.is_some()),
            ("database.port", raw.port.is_some()),
            ("database.name", raw.name.is_some()),
            ("database.user", raw.user.is_some()),
            ("database.password", raw.password.is_some()),
            ("database.password_file", raw.password_file.is_some()),
        ];
        if let Some(url) = self.secret("database.url", raw.url, raw.url_file)? {
            if let Some((part, _)) = parts.iter().find(|(_, set)| *set) {
                return Err(self.conflict(
                    &url.key,
                    part,
                    "give either the whole URL or its parts (host, port, name, user, password), not both",
                ));
            }
            let trimmed = url.value.expose_secret().trim();
            // Never echo the value: it may hold a password.
            let scheme_ok =
                Url::parse(trimmed).is_ok_and(|url| DATABASE_SCHEMES.contains(&url.scheme()));
            if !scheme_ok {
                return Err(self.invalid(
                    &url.key,
                    format!(
                        "expected a URL such as postgres://user:password@host:5432/name (scheme {})",
                        DATABASE_SCHEMES.join(", ")
                    ),
                ));
            }
            return Ok((SecretString::from(trimmed), Some(url.key)));
        }
        let Some(host) = text(raw.host) else {
            if let Some((part, _)) = parts.iter().find(|(_, set)| *set) {
                let because = format!("`{part}` is set");
                return Err(self.missing("database.host", Some(&because)));
            }
            return Ok((SecretString::from(self.default_sqlite_url()), None));
        };
        let because = Some("`database.host` is set");
        let name = self.required_text("database.name", raw.name, because)?;
        let user = self.required_text("database.user", raw.user, because)?;
        let password = self.secret("database.password", raw.password, raw.password_file)?;
        let port = raw.port.map_or(5432, |n| n.0 as u16);

        let mut url = Url::parse("postgres://localhost").expect("a constant URL parses");
        let bracketed = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        if url.set_host(Some(&bracketed)).is_err() {
            return Err(self.invalid(
                "database.host",
                format!("expected a host name or IP address, found {host:?}"),
            ));
        }
        // These only fail for URLs without a host, which this one has.
        let _ = url.set_port(Some(port));
        // `set_username`/`set_password` leave `%` alone (they take it for an escape), so a
        // password like `50%off` must be encoded by us first.
        let _ = url.set_username(&percent_encode(&user));
        if let Some(password) = &password {
            let _ = url.set_password(Some(&percent_encode(password.value.expose_secret())));
        }
        url.set_path("/");
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop().push(&name);
        }
        Ok((SecretString::from(url.to_string()), None))
    }

    /// Postgres TLS: `database.sslmode` and `database.ca_file`, weighed against the `sslmode`
    /// and `sslrootcert` a whole URL may carry (`url_key` names the key that gave it). The same
    /// value twice is fine; two different ones are a conflict naming both, since either
    /// silently winning would surprise whoever set the other. On SQLite the keys are an error:
    /// they most likely mean the Postgres settings went missing.
    fn database_tls(
        &self,
        sslmode: Option<String>,
        ca_file: Option<PathBuf>,
        url: &SecretString,
        url_key: Option<&str>,
    ) -> Result<DatabaseTls, ConfigError> {
        let sslmode = text(sslmode);
        let ca_file = ca_file.filter(|path| !path.as_os_str().is_empty());
        let url = url.expose_secret();
        if is_sqlite_url(url) {
            let set = [
                ("database.sslmode", sslmode.is_some()),
                ("database.ca_file", ca_file.is_some()),
            ];
            if let Some((key, _)) = set.iter().find(|(_, set)| *set) {
                let why = match url_key {
                    Some(url_key) => format!("`{url_key}` names a SQLite database"),
                    None => "no Postgres database is configured (`database.url` or \
                             `database.host`), so Janus would use its SQLite file"
                        .to_owned(),
                };
                return Err(self.invalid(
                    key,
                    format!("it applies only to a Postgres database, and {why}"),
                ));
            }
            return Ok(DatabaseTls::default());
        }
        let key_mode = sslmode
            .map(|given| {
                SslMode::parse(&given).ok_or_else(|| {
                    self.invalid(
                        "database.sslmode",
                        format!("expected one of {}, found {given:?}", SslMode::names()),
                    )
                })
            })
            .transpose()?;
        // Only a whole URL carries parameters; one composed from parts has none.
        let (mut url_mode, mut url_root) = (None, None);
        if let Some(url_key) = url_key
            && let Ok(parsed) = Url::parse(url)
        {
            for (name, value) in parsed.query_pairs() {
                match name.as_ref() {
                    "sslmode" | "ssl-mode" => {
                        let mode = SslMode::parse(&value).ok_or_else(|| {
                            self.invalid(
                                url_key,
                                format!(
                                    "its sslmode must be one of {}, found {value:?}",
                                    SslMode::names()
                                ),
                            )
                        })?;
                        url_mode = Some(mode);
                    }
                    "sslrootcert" | "ssl-root-cert" | "ssl-ca" => {
                        url_root = Some(PathBuf::from(value.as_ref()));
                    }
                    _ => {}
                }
            }
        }
        let url_key = url_key.unwrap_or("database.url");
        let sslmode = match (key_mode, url_mode) {
            (Some(key), Some(url)) if key != url => {
                return Err(self.conflict(
                    "database.sslmode",
                    url_key,
                    &format!(
                        "`database.sslmode` says {key} and the URL's sslmode says {url}; keep one"
                    ),
                ));
            }
            (key, url) => key.or(url),
        };
        let ca = match (ca_file, url_root) {
            (Some(key), Some(url)) if key != url => {
                return Err(self.conflict(
                    "database.ca_file",
                    url_key,
                    &format!(
                        "`database.ca_file` names {} and the URL's sslrootcert names {}; keep one",
                        key.display(),
                        url.display()
                    ),
                ));
            }
            (Some(path), _) => Some(("database.ca_file", path)),
            (None, Some(path)) => Some((url_key, path)),
            (None, None) => None,
        };
        let mut tls = DatabaseTls {
            sslmode,
            ..DatabaseTls::default()
        };
        if let Some((key, path)) = ca {
            let certs = crate::egress::read_ca_file(&path).map_err(|reason| {
                let reason = if key == "database.ca_file" {
                    reason
                } else {
                    format!("its sslrootcert: {reason}")
                };
                self.invalid(key, reason)
            })?;
            tls.ca_files.push((key.to_owned(), path));
            tls.extra_roots = certs;
        }
        Ok(tls)
    }

    /// Where the database lives when none is configured: [`DEFAULT_SQLITE_FILE`] in the first
    /// of systemd's state directories, else (relative) in the working directory.
    fn default_sqlite_url(&self) -> String {
        let directory = self
            .state_directory
            .as_deref()
            .and_then(|dirs| dirs.split(':').find(|dir| !dir.trim().is_empty()));
        let path = match directory {
            Some(directory) => Path::new(directory).join(DEFAULT_SQLITE_FILE),
            None => PathBuf::from(DEFAULT_SQLITE_FILE),
        };
        // The driver percent-decodes the path, and would cut it at `?` or `#`.
        let mut url = "sqlite://".to_owned();
        for c in path.to_string_lossy().chars() {
            match c {
                '%' | '?' | '#' => url.push_str(&format!("%{:02X}", c as u32)),
                c => url.push(c),
            }
        }
        url
    }

    /// An emoji name as configured, colons optional: `fire` or `:fire:`.
    fn emoji(&self, key: &str, emoji: &str) -> Result<String, ConfigError> {
        let trimmed = emoji.strip_prefix(':').unwrap_or(emoji);
        let trimmed = trimmed.strip_suffix(':').unwrap_or(trimmed);
        if trimmed.is_empty() || trimmed.contains(char::is_whitespace) {
            return Err(self.invalid(
                key,
                format!("expected an emoji name such as `rotating_light`, found {emoji:?}"),
            ));
        }
        Ok(trimmed.to_owned())
    }

    fn incident(&self, raw: RawIncident) -> Result<IncidentConfig, ConfigError> {
        let digest_channel = self.digest_channel(raw.digest_channel)?;
        let timezone = match text(raw.timezone) {
            None => Zone::utc(),
            Some(name) => Zone::get(&name).ok_or_else(|| {
                self.invalid(
                    "incident.timezone",
                    format!(
                        "expected an IANA time zone name such as `Europe/Berlin` or `UTC`, found {name:?}"
                    ),
                )
            })?,
        };
        let catalog = self.catalog(
            raw.statuses,
            raw.severities,
            raw.default_severity,
            raw.roles,
        )?;
        Ok(IncidentConfig {
            digest_channel,
            video_link: raw.video_link.map(|url| url.0),
            timezone,
            catalog,
            allow_external_users: raw.allow_external_users.is_some_and(|f| f.0),
            max_declarations_per_user: match raw.max_declarations_per_user {
                None => Some(DEFAULT_MAX_DECLARATIONS_PER_USER),
                Some(raw::Bounded(0)) => None,
                Some(raw::Bounded(n)) => Some(n),
            },
            archive_after: raw
                .archive_after
                .filter(|after| after.0 > 0)
                .map(|after| std::time::Duration::from_secs(u64::from(after.0))),
        })
    }

    /// Each list that is not configured keeps the built-in one. A value given without a
    /// label, and a built-in role given without label or duties, keeps its built-in text;
    /// other values get their capitalised value as label. The default severity is the last
    /// severity listed (lists go most severe first) unless `incident.default_severity` names
    /// another.
    fn catalog(
        &self,
        statuses: Option<Choices>,
        severities: Option<Choices>,
        default_severity: Option<String>,
        roles: Option<Vec<raw::RawRole>>,
    ) -> Result<Catalog, ConfigError> {
        let statuses = match statuses {
            Some(choices) => choice_specs(choices, default_statuses()),
            None => default_statuses(),
        };
        let severities = match severities {
            Some(choices) => choice_specs(choices, default_severities()),
            None => default_severities(),
        };
        let default_severity = text(default_severity)
            .or_else(|| severities.last().map(|last| last.value.clone()))
            .unwrap_or_default();
        let roles = match roles {
            Some(roles) => self.role_specs(roles)?,
            None => default_roles(),
        };
        Catalog::new(statuses, severities, &default_severity, roles).map_err(|error| {
            let key = catalog_key(&error);
            self.invalid(key, error.to_string())
        })
    }

    fn role_specs(&self, roles: Vec<raw::RawRole>) -> Result<Vec<RoleSpec>, ConfigError> {
        let built_in = default_roles();
        let mut specs = Vec::with_capacity(roles.len());
        for role in roles {
            let key = role.key.trim().to_owned();
            let known = built_in.iter().find(|known| known.key == key);
            let pick = |given: Option<String>, field: &str, default: Option<&String>| {
                text(given).or_else(|| default.cloned()).ok_or_else(|| {
                    let names: Vec<&str> = built_in.iter().map(|r| r.key.as_str()).collect();
                    self.invalid(
                        "incident.roles",
                        format!(
                            "role {key:?} needs a `{field}` (only the built-in roles {} have one by default)",
                            names.join(", ")
                        ),
                    )
                })
            };
            let label = pick(role.label, "label", known.map(|r| &r.label))?;
            let duties = pick(role.duties, "duties", known.map(|r| &r.duties))?;
            specs.push(RoleSpec { key, label, duties });
        }
        Ok(specs)
    }

    fn digest_channel(&self, raw: Option<String>) -> Result<String, ConfigError> {
        let Some(given) = text(raw) else {
            return Ok("incidents".to_owned());
        };
        let name = given.strip_prefix('#').unwrap_or(&given);
        let valid = !name.is_empty()
            && name.chars().count() <= 80
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c.is_uppercase() || c == '#');
        if !valid {
            return Err(self.invalid(
                "incident.digest_channel",
                format!(
                    "expected a Slack channel name (lowercase, no spaces, at most 80 characters), found {given:?}"
                ),
            ));
        }
        Ok(name.to_owned())
    }

    fn providers(&mut self, raw: RawProviders) -> Result<Option<ProvidersConfig>, ConfigError> {
        if !enabled(&raw.enabled) {
            return Ok(None);
        }
        let mut names: Vec<String> = Vec::new();
        for name in raw.list.map(|names| names.0).unwrap_or_default() {
            let name = name.trim().to_lowercase();
            if name.is_empty() || names.contains(&name) {
                continue;
            }
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.invalid(
                    "providers.list",
                    format!("expected provider names made of letters, digits, `-` and `_`, found {name:?}"),
                ));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(self.missing("providers.list", Some("`providers.enabled` is true")));
        }
        let mut tables = raw.tables;
        let mut list = Vec::with_capacity(names.len());
        for name in names {
            let url = tables
                .remove(&name)
                .and_then(|table| table.url)
                .map(|url| url.0);
            if url.is_none() && !BUILTIN_PROVIDERS.contains(&name.as_str()) {
                let key = format!("providers.{name}.url");
                return Err(ConfigError::Missing {
                    hint: format!(
                        "`{name}` is not a built-in provider ({}), so set the base URL of its status API in the TOML file or with {}",
                        BUILTIN_PROVIDERS.join(", "),
                        native_env_name(&key),
                    ),
                    key,
                });
            }
            list.push(ProviderConfig { name, url });
        }
        for (name, table) in tables {
            if table.url.is_some() {
                self.warnings.push(format!(
                    "`providers.{name}.url` is set but `{name}` is not in `providers.list`; it is ignored"
                ));
            }
        }
        Ok(Some(ProvidersConfig { list }))
    }

    fn statuspage(
        &mut self,
        raw: RawStatuspage,
        catalog: &Catalog,
    ) -> Result<Option<StatuspageConfig>, ConfigError> {
        if !enabled(&raw.enabled) {
            if enabled(&raw.follow_incident) {
                self.warnings.push(format!(
                    "{} is set but the Statuspage integration is off (`statuspage.enabled`): \
                     it does nothing",
                    self.named("statuspage.follow_incident")
                ));
            }
            return Ok(None);
        }
        let follow = self.follow(&raw, catalog)?;
        let because = Some("`statuspage.enabled` is true");
        let api_key = match self.secret("statuspage.api_key", raw.api_key, raw.api_key_file)? {
            Some(secret) => secret.value,
            None => return Err(self.missing("statuspage.api_key", because)),
        };
        let page_id = self.required_text("statuspage.page_id", raw.page_id, because)?;
        let api_url = match raw.api_url {
            Some(url) => url.0,
            None => Url::parse(DEFAULT_STATUSPAGE_API_URL).expect("the default URL parses"),
        };
        let allowed_group = text(raw.allowed_group)
            .map(|g| g.trim().trim_start_matches('@').trim().to_owned())
            .filter(|g| !g.is_empty());
        let allow_everyone = enabled(&raw.allow_everyone);
        if allow_everyone && allowed_group.is_some() {
            return Err(self.conflict(
                "statuspage.allowed_group",
                "statuspage.allow_everyone",
                "keep the group to let only its members publish, or allow_everyone to let \
                 anyone, not both",
            ));
        }
        if !allow_everyone && allowed_group.is_none() {
            self.warnings.push(
                "`statuspage.enabled` is true but neither `statuspage.allowed_group` \
                 (JANUS_STATUSPAGE__ALLOWED_GROUP) nor `statuspage.allow_everyone` \
                 (JANUS_STATUSPAGE__ALLOW_EVERYONE) is set: nobody can create or update \
                 Statuspage incidents until one is"
                    .to_owned(),
            );
        }
        Ok(Some(StatuspageConfig {
            api_key,
            page_id,
            api_url,
            allowed_group,
            allow_everyone,
            follow,
        }))
    }

    /// `statuspage.follow_incident` and its mapping and messages (see
    /// [`crate::statuspage::FollowPolicy`] for the rules). The mapping is
    /// checked even while following is off, so turning it on cannot fail.
    fn follow(
        &mut self,
        raw: &RawStatuspage,
        catalog: &Catalog,
    ) -> Result<Option<crate::statuspage::FollowPolicy>, ConfigError> {
        let map = raw.status_map.clone().unwrap_or_default();
        let messages = raw.follow_messages.clone().unwrap_or_default();
        let policy =
            crate::statuspage::FollowPolicy::new(catalog, &map, &messages).map_err(|e| {
                let key = format!("statuspage.{}", e.key());
                match e {
                    crate::statuspage::FollowError::OpenStatusResolves { ref status, .. }
                        if !map.contains_key(status) =>
                    {
                        self.invalid("incident.statuses", e.to_string())
                    }
                    e => self.invalid(&key, e.to_string()),
                }
            })?;
        if !enabled(&raw.follow_incident) {
            return Ok(None);
        }
        let left_alone = policy.unmapped(catalog);
        if !left_alone.is_empty() {
            self.warnings.push(format!(
                "{} is on, but the statuses {} map to no Statuspage status: moving an incident \
                 to them leaves its Statuspage incident as it is. Map them in \
                 `statuspage.status_map` to follow them",
                self.named("statuspage.follow_incident"),
                left_alone.join(", ")
            ));
        }
        Ok(Some(policy))
    }

    /// The outbound policy's settings. `proxy.url` applies to every target; without it the
    /// conventional variables apply by scheme. Errors name the key or the variable, never
    /// the proxy's password.
    fn egress(&self, proxy: RawProxy, tls: RawTls) -> Result<EgressSettings, ConfigError> {
        let invalid_var = |var: &str, reason: String| ConfigError::Invalid {
            key: "proxy.url".to_owned(),
            origin: self.variable_origin(var),
            reason,
        };
        let from_vars = |vars: &[&str]| -> Result<Option<ProxyUrl>, ConfigError> {
            let Some((var, value)) = vars.iter().find_map(|var| {
                let value = self.env.get(*var)?.trim();
                (!value.is_empty()).then_some((*var, value))
            }) else {
                return Ok(None);
            };
            ProxyUrl::parse(value)
                .map(Some)
                .map_err(|reason| invalid_var(var, reason))
        };
        let explicit = proxy
            .url
            .filter(|url| !url.expose_secret().trim().is_empty())
            .map(|url| ProxyUrl::parse(url.expose_secret()))
            .transpose()
            .map_err(|reason| self.invalid("proxy.url", reason))?;
        let (https_proxy, http_proxy) = match explicit {
            Some(proxy) => (Some(proxy.clone()), Some(proxy)),
            None => (from_vars(HTTPS_PROXY_VARS)?, from_vars(HTTP_PROXY_VARS)?),
        };
        let no_proxy = match text(proxy.no_proxy) {
            Some(list) => {
                NoProxy::parse(&list).map_err(|reason| self.invalid("proxy.no_proxy", reason))?
            }
            None => match NO_PROXY_VARS.iter().find_map(|var| {
                Some((*var, self.env.get(*var)?.trim())).filter(|(_, v)| !v.is_empty())
            }) {
                Some((var, list)) => {
                    NoProxy::parse(list).map_err(|reason| ConfigError::Invalid {
                        key: "proxy.no_proxy".to_owned(),
                        origin: self.variable_origin(var),
                        reason,
                    })?
                }
                None => NoProxy::default(),
            },
        };
        let ca_file = tls.ca_file.filter(|path| !path.as_os_str().is_empty());
        let extra_roots = match &ca_file {
            Some(path) => crate::egress::read_ca_file(path)
                .map_err(|reason| self.invalid("tls.ca_file", reason))?,
            None => Vec::new(),
        };
        Ok(EgressSettings {
            https_proxy,
            http_proxy,
            no_proxy,
            ca_file,
            extra_roots,
        })
    }

    /// A secret given directly or as `<key>_file`; both at once is a conflict. The file's
    /// trailing whitespace (the newline editors and `echo` add) is trimmed.
    fn secret(
        &self,
        key: &str,
        value: Option<SecretString>,
        file: Option<PathBuf>,
    ) -> Result<Option<Secret>, ConfigError> {
        let file_key = format!("{key}_file");
        let value = value.filter(|value| !value.expose_secret().is_empty());
        let file = file.filter(|path| !path.as_os_str().is_empty());
        match (value, file) {
            (Some(_), Some(_)) => Err(self.conflict(key, &file_key, "set only one")),
            (Some(value), None) => Ok(Some(Secret {
                value,
                key: key.to_owned(),
            })),
            (None, None) => Ok(None),
            (None, Some(path)) => {
                let content = std::fs::read_to_string(&path).map_err(|io| ConfigError::File {
                    origin: self.origin(&file_key),
                    key: file_key.clone(),
                    path: path.clone(),
                    io,
                })?;
                let content = content.trim_end();
                if content.is_empty() {
                    return Err(
                        self.invalid(&file_key, format!("the file {} is empty", path.display()))
                    );
                }
                Ok(Some(Secret {
                    value: SecretString::from(content),
                    key: file_key,
                }))
            }
        }
    }

    /// A required text value; `because` says what makes it required, if it is not always.
    fn required_text(
        &self,
        key: &str,
        value: Option<String>,
        because: Option<&str>,
    ) -> Result<String, ConfigError> {
        text(value).ok_or_else(|| self.missing(key, because))
    }

    /// Where the value of `key` came from, e.g. `environment variable SLACK_BOT_TOKEN`.
    fn origin(&self, key: &str) -> String {
        let path: Vec<&str> = key.split('.').collect();
        match self.figment.find_metadata(key) {
            Some(metadata) => error::describe_origin(metadata, &Profile::Default, &path),
            None => "the built-in default".to_owned(),
        }
    }

    /// Where the variable `var` (not a key) was set: the environment, or the `.env` file.
    fn variable_origin(&self, var: &str) -> String {
        match self
            .env_file
            .and_then(|file| Some((file, file.line_of(var)?)))
        {
            Some((file, line)) if !self.process.contains_key(var) => {
                format!(".env file {} line {line} ({var})", file.path().display())
            }
            _ => format!("environment variable {var}"),
        }
    }

    /// `key` with the variable that set it, for warnings: `slack.signing_secret` (SLACK_…).
    fn named(&self, key: &str) -> String {
        format!("`{key}` (from {})", self.origin(key))
    }

    fn invalid(&self, key: &str, reason: String) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_owned(),
            origin: self.origin(key),
            reason,
        }
    }

    fn conflict(&self, first: &str, second: &str, advice: &str) -> ConfigError {
        ConfigError::Conflict {
            first: first.to_owned(),
            first_origin: self.origin(first),
            second: second.to_owned(),
            second_origin: self.origin(second),
            advice: advice.to_owned(),
        }
    }

    /// `key` is required; the hint lists every way to set it.
    fn missing(&self, key: &str, because: Option<&str>) -> ConfigError {
        let mut hint = format!("set it in the TOML file or with {}", env_names(key));
        let file_key = format!("{key}_file");
        if legacy_env_name(&file_key).is_some() {
            hint.push_str(&format!(
                ", or name a file holding it with `{file_key}` ({})",
                env_names(&file_key)
            ));
        }
        if let Some(because) = because {
            hint.push_str(&format!(" (required because {because})"));
        }
        ConfigError::Missing {
            key: key.to_owned(),
            hint,
        }
    }
}

/// Statuses or severities as given, trimmed, without blanks (a comma list may have `a,,b`),
/// each label taken from `built_in` when the value is built in and given without one.
fn choice_specs(choices: Choices, built_in: Vec<ChoiceSpec>) -> Vec<ChoiceSpec> {
    choices
        .0
        .into_iter()
        .filter_map(|choice| {
            let value = text(Some(choice.value))?;
            let label = text(choice.label).or_else(|| {
                built_in
                    .iter()
                    .find(|known| known.value == value)
                    .map(|known| known.label.clone())
            });
            Some(match label {
                Some(label) => ChoiceSpec { value, label },
                None => ChoiceSpec::from_value(value),
            })
        })
        .collect()
}

/// The key to blame for a catalog error.
fn catalog_key(error: &CatalogError) -> &'static str {
    match error.part() {
        CatalogPart::Statuses => "incident.statuses",
        CatalogPart::Severities => "incident.severities",
        CatalogPart::DefaultSeverity => "incident.default_severity",
        CatalogPart::Roles => "incident.roles",
    }
}

/// `LEGACY or JANUS_…`, or just `JANUS_…` for native-only keys.
fn env_names(key: &str) -> String {
    match legacy_env_name(key) {
        Some(legacy) => format!("{legacy} or {}", native_env_name(key)),
        None => native_env_name(key),
    }
}

fn enabled(flag: &Option<raw::Flag>) -> bool {
    flag.is_some_and(|flag| flag.0)
}

/// The process environment as pairs; variables that are not valid UTF-8 are skipped: none
/// of ours can be.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for URL user info.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Whether `url` names a SQLite database (`sqlite:` in any case), rather than Postgres.
fn is_sqlite_url(url: &str) -> bool {
    url.trim()
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("sqlite:"))
}

/// Trimmed text; blank counts as unset, like an empty environment variable.
fn text(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}
