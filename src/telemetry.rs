//! Logging. Human-readable by default, JSON for log shippers; filtered by
//! `RUST_LOG` when set, else by the configured level.
//!
//! Nothing here ever sees a token: secrets live in `SecretString`s whose
//! `Debug` is redacted, and the Slack client's own log lines carry URLs and
//! status codes only. The websocket library's frame dumps, which would
//! print the credentials in Slack's payloads, are dropped at any level.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
        LogFormat::Json => builder.json().finish().with(no_frame_dumps()).try_init(),
        LogFormat::Human => builder.finish().with(no_frame_dumps()).try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}

/// Drops the websocket library's TRACE lines, whatever `RUST_LOG` says:
/// they print every frame Slack sends, in full and in hex, and Slack's
/// payloads carry credentials (the verification `token`, `response_url`,
/// `trigger_id`). What Janus itself logs of a frame goes through
/// `domain::text::snippet`, which leaves those out; tungstenite's DEBUG
/// lines (close frames) stay.
fn no_frame_dumps<S: tracing::Subscriber>() -> impl tracing_subscriber::Layer<S> {
    tracing_subscriber::filter::filter_fn(|meta| {
        !(*meta.level() == tracing::Level::TRACE && meta.target().starts_with("tungstenite"))
    })
}
