//! Logging. Human-readable by default, JSON for log shippers; filtered by
//! `RUST_LOG` when set, else by the configured level.
//!
//! Nothing here ever sees a token: secrets live in `SecretString`s whose
//! `Debug` is redacted, and the Slack client's own log lines carry URLs and
//! status codes only.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, early in `main`.
pub fn init(level: &str, format: LogFormat) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|e| format!("invalid RUST_LOG {directives:?}: {e}"))?,
        _ => EnvFilter::try_new(level)
            .map_err(|e| format!("invalid value for `log_level` ({level:?}): {e}"))?,
    };
    // Colours only on a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}
