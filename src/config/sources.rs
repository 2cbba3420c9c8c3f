//! Where settings come from: the TOML file and the two environment layers (`JANUS_*` and the
//! legacy Python-janus names), each a figment `Provider` whose metadata can name the exact
//! variable behind any key, so errors point at what the operator actually typed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use super::ConfigError;
use super::dotenv::EnvFile;

/// Prefix of the native environment layer; `__` separates nesting levels after it.
pub(super) const ENV_PREFIX: &str = "JANUS_";

/// Names the config file for the CLI; it is not a key, so the environment layer skips it.
pub const CONFIG_PATH_VAR: &str = "JANUS_CONFIG";

/// Names the `.env` file for the CLI; not a key either.
pub const ENV_FILE_VAR: &str = "JANUS_ENV_FILE";

/// Variables under this prefix belong to the test suite (e.g. `JANUS_TEST_DATABASE_URL`);
/// skipped so a developer's shell that exports them can still run `janus check`.
pub(super) const TEST_VAR_PREFIX: &str = "JANUS_TEST_";

/// The Python janus variable names, accepted as they are so a migrating team keeps its
/// environment: `(variable, TOML key)`. Merged after `JANUS_*`, so they win over it.
pub(super) const LEGACY_ENV: &[(&str, &str)] = &[
    ("SLACK_APP_TOKEN", "slack.app_token"),
    ("SLACK_APP_TOKEN_FILE", "slack.app_token_file"),
    ("SLACK_BOT_TOKEN", "slack.bot_token"),
    ("SLACK_BOT_TOKEN_FILE", "slack.bot_token_file"),
    ("SLACK_API_URL", "slack.api_url"),
    ("SLACK_WORKSPACE_ID", "slack.workspace_id"),
    ("SLACK_SIGNING_SECRET", "slack.signing_secret"),
    ("SLACK_VERIFICATION_TOKEN", "slack.verification_token"),
    ("DATABASE_URL", "database.url"),
    ("DATABASE_URL_FILE", "database.url_file"),
    ("DATABASE_HOST", "database.host"),
    ("DATABASE_PORT", "database.port"),
    ("DATABASE_NAME", "database.name"),
    ("DATABASE_USER", "database.user"),
    ("DATABASE_PASSWORD", "database.password"),
    ("DATABASE_PASSWORD_FILE", "database.password_file"),
    ("INCIDENTS_DIGEST_CHANNEL", "incident.digest_channel"),
    ("VIDEO_CONFERENCING_LINK", "incident.video_link"),
    ("TEMPLATES_DIRECTORY", "templates.directory"),
    ("INCIDENT_AUTO_GROUP_INVITE_ENABLED", "auto_invite.enabled"),
    ("INCIDENT_AUTO_GROUP_INVITE_GROUP_NAME", "auto_invite.group"),
    ("INCIDENT_EXTERNAL_PROVIDERS_ENABLED", "providers.enabled"),
    ("INCIDENT_EXTERNAL_PROVIDERS_LIST", "providers.list"),
    ("INCIDENT_AUTO_CREATE_FROM_REACT_ENABLED", "react.enabled"),
    ("INCIDENT_AUTO_CREATE_FROM_REACT_EMOJI_NAME", "react.emoji"),
    ("STATUSPAGE_INTEGRATION_ENABLED", "statuspage.enabled"),
    ("STATUSPAGE_API_KEY", "statuspage.api_key"),
    ("STATUSPAGE_API_KEY_FILE", "statuspage.api_key_file"),
    ("STATUSPAGE_PAGE_ID", "statuspage.page_id"),
    ("STATUSPAGE_API_URL", "statuspage.api_url"),
    // Not Python janus's, but the variable every TLS tool reads for an extra CA bundle.
    ("SSL_CERT_FILE", "tls.ca_file"),
];

/// The conventional proxy variables, read from the same environment as every key (never
/// the process's directly): lowercase first, as curl does, then uppercase.
pub(super) const HTTPS_PROXY_VARS: &[&str] =
    &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
/// See [`HTTPS_PROXY_VARS`]; for `http://` and `ws://` targets.
pub(super) const HTTP_PROXY_VARS: &[&str] = &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];
/// See [`HTTPS_PROXY_VARS`]; the hosts reached directly.
pub(super) const NO_PROXY_VARS: &[&str] = &["no_proxy", "NO_PROXY"];

/// Keys whose values are secrets: never echoed in an error.
pub(super) const SECRET_KEYS: &[&str] = &[
    "slack.app_token",
    "slack.bot_token",
    "slack.signing_secret",
    "slack.verification_token",
    "database.url",
    "database.password",
    "statuspage.api_key",
    "proxy.url",
];

/// Keys whose environment values are taken verbatim instead of through figment's value parser.
///
/// That parser turns `0123` into the number 123, unquotes `"x"` and splits on `,`/`[`/`{`:
/// harmless for flags and numbers, but it would corrupt a password, a token or a log filter
/// like `info,janus=debug`.
const TEXT_KEYS: &[&str] = &[
    "slack.app_token",
    "slack.app_token_file",
    "slack.bot_token",
    "slack.bot_token_file",
    "slack.api_url",
    "slack.workspace_id",
    "slack.signing_secret",
    "slack.verification_token",
    "database.url",
    "database.url_file",
    "database.host",
    "database.name",
    "database.user",
    "database.password",
    "database.password_file",
    "database.sslmode",
    "database.ca_file",
    "incident.digest_channel",
    "incident.video_link",
    "incident.timezone",
    "incident.default_severity",
    "templates.directory",
    "auto_invite.group",
    "react.emoji",
    "timeline.emoji",
    "statuspage.api_key",
    "statuspage.api_key_file",
    "statuspage.page_id",
    "statuspage.api_url",
    "statuspage.allowed_group",
    "health.listen",
    "proxy.url",
    "proxy.no_proxy",
    "tls.ca_file",
    "log_level",
    "log_format",
];

fn is_text_key(key: &str) -> bool {
    TEXT_KEYS.contains(&key)
        || key
            .strip_prefix("providers.")
            .and_then(|rest| rest.strip_suffix(".url"))
            .is_some_and(|name| !name.contains('.'))
}

/// The `JANUS_*` variable that sets `key`, e.g. `JANUS_SLACK__SOCKETS` for `slack.sockets`.
pub(super) fn native_env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// The legacy variable that sets `key`, if there is one.
pub(super) fn legacy_env_name(key: &str) -> Option<&'static str> {
    LEGACY_ENV
        .iter()
        .find(|(_, legacy_key)| *legacy_key == key)
        .map(|(var, _)| *var)
}

/// One environment layer over a given set of variables (never the process environment, so
/// tests can run in parallel): each entry is `(TOML key, where it was set, raw value)`, where
/// is the variable's name, or its file and line for a layer read from a `.env` file.
pub(super) struct EnvLayer {
    entries: Vec<(String, String, String)>,
    /// What the layer is, for messages: `environment variable` or `.env file`.
    kind: &'static str,
}

impl EnvLayer {
    /// The native layer: `JANUS_A__B=v` sets `a.b`. The prefix matches in any case, like
    /// figment's own `Env`; `JANUS_CONFIG` and `JANUS_TEST_*` are skipped: they are not keys.
    pub(super) fn native(env: &BTreeMap<String, String>) -> Self {
        let entries = env
            .iter()
            .filter(|(var, _)| !var.eq_ignore_ascii_case(CONFIG_PATH_VAR))
            .filter(|(var, _)| !var.eq_ignore_ascii_case(ENV_FILE_VAR))
            .filter(|(var, _)| !starts_with_ignore_case(var, TEST_VAR_PREFIX))
            .filter_map(|(var, value)| {
                if !starts_with_ignore_case(var, ENV_PREFIX) {
                    return None;
                }
                let key = var[ENV_PREFIX.len()..]
                    .to_ascii_lowercase()
                    .replace("__", ".");
                if key.split('.').any(str::is_empty) {
                    return None;
                }
                Some((key, var.clone(), value.clone()))
            })
            .collect();
        EnvLayer {
            entries,
            kind: "environment variable",
        }
    }

    /// The legacy layer: only the names in [`LEGACY_ENV`], matched exactly.
    pub(super) fn legacy(env: &BTreeMap<String, String>) -> Self {
        let entries = LEGACY_ENV
            .iter()
            .filter_map(|(var, key)| {
                let value = env.get(*var)?;
                Some((key.to_string(), var.to_string(), value.clone()))
            })
            .collect();
        EnvLayer {
            entries,
            kind: "environment variable",
        }
    }

    /// This layer as read from `file` rather than the process: its values are blamed on the
    /// file and line that set them, e.g. `.env file ./.env line 3 (SLACK_BOT_TOKEN)`.
    pub(super) fn in_file(self, file: &EnvFile) -> Self {
        let entries = self
            .entries
            .into_iter()
            .map(|(key, var, raw)| {
                let line = file.line_of(&var).unwrap_or_default();
                let place = format!("{} line {line} ({var})", file.path().display());
                (key, place, raw)
            })
            .collect();
        EnvLayer {
            entries,
            kind: ".env file",
        }
    }
}

/// Whether Janus reads the variable `name`, for tools that check what a deployment sets
/// (a typo in a manifest is otherwise silently ignored): a Python janus name, a conventional
/// proxy or TLS one, `STATE_DIRECTORY`, the CLI's `JANUS_CONFIG` and `JANUS_ENV_FILE`, or any
/// `JANUS_` name (whose key is then checked when the configuration loads: an unknown key is an
/// error there).
pub fn reads_variable(name: &str) -> bool {
    LEGACY_ENV.iter().any(|(var, _)| *var == name)
        || HTTPS_PROXY_VARS
            .iter()
            .chain(HTTP_PROXY_VARS)
            .chain(NO_PROXY_VARS)
            .any(|var| *var == name)
        || name == super::STATE_DIRECTORY_VAR
        || (starts_with_ignore_case(name, ENV_PREFIX)
            && !starts_with_ignore_case(name, TEST_VAR_PREFIX)
            && name.len() > ENV_PREFIX.len())
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        let names: Arc<Vec<(String, String)>> = Arc::new(
            self.entries
                .iter()
                .map(|(key, var, _)| (key.clone(), var.clone()))
                .collect(),
        );
        Metadata::named(self.kind)
            .interpolater(move |_: &Profile, path: &[&str]| variable_for(&names, path))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (key, _, raw) in &self.entries {
            // An empty variable counts as unset: compose files and unit files often declare
            // `NAME=` for everything they know, and "" is never a useful value here.
            if raw.is_empty() {
                continue;
            }
            let value = if is_text_key(key) {
                Value::from(raw.clone())
            } else {
                raw.parse::<Value>().unwrap_or_else(|never| match never {})
            };
            insert_at(&mut root, key, value);
        }
        Ok(Map::from([(Profile::Default, root)]))
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// Puts `value` at the dotted `key`, creating (or replacing non-table values with) tables.
fn insert_at(root: &mut Dict, key: &str, value: Value) {
    let mut segments: Vec<&str> = key.split('.').collect();
    let last = segments.pop().unwrap_or_default();
    let mut table = root;
    for segment in segments {
        let entry = table
            .entry(segment.to_owned())
            .or_insert_with(|| Value::from(Dict::new()));
        if entry.as_dict().is_none() {
            *entry = Value::from(Dict::new());
        }
        table = match entry {
            Value::Dict(_, dict) => dict,
            _ => unreachable!("replaced by a table just above"),
        };
    }
    table.insert(last.to_owned(), value);
}

/// The variable behind an error path: exact key first, then a variable below it (an unknown
/// table), then one above it (a value inside a table given as one variable).
fn variable_for(names: &[(String, String)], path: &[&str]) -> String {
    let key = path.join(".");
    let below = format!("{key}.");
    names
        .iter()
        .find(|(name_key, _)| *name_key == key)
        .or_else(|| {
            names
                .iter()
                .find(|(name_key, _)| name_key.starts_with(&below))
        })
        .or_else(|| {
            names
                .iter()
                .find(|(name_key, _)| key.starts_with(&format!("{name_key}.")))
        })
        .map(|(_, var)| var.clone())
        .unwrap_or_else(|| native_env_name(&key))
}

/// The TOML file layer, read eagerly so a missing or broken file is reported on its own terms.
pub(super) struct TomlLayer {
    path: PathBuf,
    data: Map<Profile, Dict>,
}

impl TomlLayer {
    /// Reads and parses `path`; a missing file is an error because the caller named it.
    pub(super) fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|io| {
            if io.kind() == std::io::ErrorKind::NotFound {
                ConfigError::NotFound {
                    path: path.to_owned(),
                }
            } else {
                ConfigError::ConfigFile {
                    path: path.to_owned(),
                    io,
                }
            }
        })?;
        let data = Toml::string(&text)
            .data()
            .map_err(|error| ConfigError::Syntax {
                path: path.to_owned(),
                message: one_line(&error.kind.to_string()),
            })?;
        Ok(TomlLayer {
            path: path.to_owned(),
            data,
        })
    }
}

impl Provider for TomlLayer {
    fn metadata(&self) -> Metadata {
        Metadata::from("TOML file", self.path.as_path())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(self.data.clone())
    }
}

/// The toml crate renders errors as a multi-line snippet; keep the position and the message.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let position = lines
        .iter()
        .find_map(|line| line.strip_prefix("TOML parse error at "));
    let detail = lines.last().copied().unwrap_or_default();
    match position {
        Some(position) if lines.len() > 1 => format!("{position}: {detail}"),
        _ => lines.join(" "),
    }
}
