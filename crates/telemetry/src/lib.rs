//! Logging, metrics and the operations endpoint, in one place for every role.
//!
//! Every binary subcommand calls [`init`] once; libraries only emit `tracing`
//! events and never install a subscriber themselves. Logs go to stderr so
//! that a command's real output (tables, JSON) on stdout stays clean.

pub mod metrics;
pub mod ops;

use tracing_subscriber::EnvFilter;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Install the global subscriber. `default_filter` applies when `RUST_LOG`
/// is unset (e.g. `"warn"` for interactive commands, `"info"` for services).
/// Calling it twice is harmless (the second call changes nothing).
pub fn init(default_filter: &str, format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
