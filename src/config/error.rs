//! `ConfigError`: every way loading the configuration can fail, each rendered as one line that
//! names the key and where its value came from, so an operator can fix it without reading code.

use std::io;
use std::path::PathBuf;

use figment::error::{Actual, Kind};
use figment::{Metadata, Profile};

/// Why the configuration could not be loaded.
///
/// Every variant's `Display` is a single line naming the TOML key and the source of the
/// offending value (a TOML file or an environment variable); secret values never appear in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A config file was named explicitly (`--config`, `JANUS_CONFIG`) but is not there.
    #[error("config file {} does not exist", path.display())]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// The config file exists but could not be read.
    #[error("cannot read config file {}: {io}", path.display())]
    ConfigFile {
        /// The path as given.
        path: PathBuf,
        /// What the OS said.
        io: io::Error,
    },
    /// The config file is not valid TOML.
    #[error("syntax error in TOML file {}: {message}", path.display())]
    Syntax {
        /// The path as given.
        path: PathBuf,
        /// The parser's message, folded onto one line.
        message: String,
    },
    /// A key that Janus does not know, most likely a typo.
    #[error("unknown key `{key}` in {origin}")]
    UnknownKey {
        /// Dotted TOML path of the key, e.g. `slack.sokets`.
        key: String,
        /// Where it was set, e.g. `TOML file /etc/janus.toml`.
        origin: String,
    },
    /// A key whose value has the wrong type or is out of range.
    #[error("invalid value for `{key}` (from {origin}): {reason}")]
    Invalid {
        /// Dotted TOML path of the key.
        key: String,
        /// Where it was set, e.g. `environment variable JANUS_SLACK__SOCKETS`.
        origin: String,
        /// What was expected (and what was found, unless the key is a secret).
        reason: String,
    },
    /// A required key is not set anywhere.
    #[error("missing required setting `{key}`: {hint}")]
    Missing {
        /// Dotted TOML path of the key.
        key: String,
        /// How to set it: the environment variable names, and why it is required.
        hint: String,
    },
    /// Two keys that exclude each other are both set.
    #[error(
        "conflicting settings: `{first}` (from {first_origin}) and `{second}` (from {second_origin}) are both set; {advice}"
    )]
    Conflict {
        /// Dotted TOML path of the first key.
        first: String,
        /// Where the first key was set.
        first_origin: String,
        /// Dotted TOML path of the second key.
        second: String,
        /// Where the second key was set.
        second_origin: String,
        /// Which one to keep.
        advice: String,
    },
    /// A `.env` file was named (`--env-file`, `JANUS_ENV_FILE`) but is not there.
    #[error(".env file {} does not exist", path.display())]
    EnvFileNotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// The `.env` file exists but could not be read.
    #[error("cannot read .env file {}: {io}", path.display())]
    EnvFileUnreadable {
        /// The path as given.
        path: PathBuf,
        /// What the OS said.
        io: io::Error,
    },
    /// A line of the `.env` file is not `NAME=value` (the value is never echoed).
    #[error(".env file {}, line {line}: {reason}", path.display())]
    EnvFileSyntax {
        /// The path as given.
        path: PathBuf,
        /// 1-based line where the bad assignment starts.
        line: usize,
        /// What was expected there.
        reason: String,
    },
    /// A `…_file` key names a file that cannot be read.
    #[error("cannot read the file {} named by `{key}` (from {origin}): {io}", path.display())]
    File {
        /// Dotted TOML path of the `…_file` key.
        key: String,
        /// Where the `…_file` key was set.
        origin: String,
        /// The file it names.
        path: PathBuf,
        /// What the OS said.
        io: io::Error,
    },
}

impl ConfigError {
    /// Turns figment's extraction error into our one-line shape.
    ///
    /// figment's own `Display` is `kind for key "default.slack.sockets" in env var` and may span
    /// several lines; we rebuild it from its parts so the key is the TOML path and the source is
    /// the file path or the exact variable name (via our providers' interpolators).
    pub(super) fn from_figment(error: figment::Error, is_secret: impl Fn(&str) -> bool) -> Self {
        let key = error.path.join(".");
        let origin = match &error.metadata {
            Some(metadata) => describe_origin(
                metadata,
                error.profile.as_ref().unwrap_or(&Profile::Default),
                &error.path,
            ),
            None => "the configuration".to_owned(),
        };
        let reason = match &error.kind {
            Kind::UnknownField(_, _) => return ConfigError::UnknownKey { key, origin },
            Kind::MissingField(field) => {
                let key = if key.is_empty() {
                    field.to_string()
                } else {
                    format!("{key}.{field}")
                };
                return ConfigError::Missing {
                    key,
                    hint: "set it in the TOML file".to_owned(),
                };
            }
            Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                if is_secret(&key) {
                    format!("expected {expected}")
                } else {
                    format!("expected {expected}, found {}", describe_actual(actual))
                }
            }
            Kind::Message(message) => message.clone(),
            other => other.to_string(),
        };
        ConfigError::Invalid {
            key,
            origin,
            reason,
        }
    }
}

/// Names the source of a value: `TOML file <path>` or `environment variable <NAME>`.
///
/// Our providers name themselves (`Metadata::name`); files carry their path as the source, and
/// environment layers carry an interpolator that maps a key path back to the variable that set it.
pub(super) fn describe_origin<K: AsRef<str>>(
    metadata: &Metadata,
    profile: &Profile,
    path: &[K],
) -> String {
    match metadata
        .source
        .as_ref()
        .and_then(|source| source.file_path())
    {
        Some(file) => format!("{} {}", metadata.name, file.display()),
        None => format!("{} {}", metadata.name, metadata.interpolate(profile, path)),
    }
}

/// figment's `Actual` prints `unsigned int \`20\``; operators read `20` more easily.
fn describe_actual(actual: &Actual) -> String {
    match actual {
        Actual::Bool(value) => value.to_string(),
        Actual::Unsigned(value) => value.to_string(),
        Actual::Signed(value) => value.to_string(),
        Actual::Float(value) => value.to_string(),
        Actual::Str(value) => format!("{value:?}"),
        Actual::Seq => "an array".to_owned(),
        Actual::Map => "a table".to_owned(),
        other => other.to_string(),
    }
}
