//! One module per role, plus the few helpers they share.

pub mod backfill;
pub mod config;
mod config_report;
pub mod connect;
pub mod coordinator;
pub mod demo;
pub mod dlq;
pub mod dlq_filter;
pub mod dlq_view;
pub mod dora_table;
pub mod lines;
pub mod metrics;
pub mod monitor;
pub mod runs;
pub mod runs_view;
pub mod serve;
pub mod shutdown;
pub mod sim;
pub mod standalone;
pub mod summary;
pub mod worker;

use anyhow::Context;
use dorafleet_core::Config;
use dorafleet_core::config::OtlpProtocol;
use dorafleet_sources::SourceClient;
use std::path::Path;

/// Load the configuration: the given file (or `dorafleet.toml` if present), then env.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let default = Path::new("dorafleet.toml");
    let path = path.or_else(|| default.exists().then_some(default));
    Ok(Config::load(path)?)
}

/// Set up logs and, when `observability.otlp_endpoint` is configured, span
/// export for `role`. A config that does not load here still gets logs: the
/// command itself reports what is wrong with it.
pub fn telemetry(
    config: Option<&Path>,
    default_filter: &str,
    log_format: dorafleet_telemetry::LogFormat,
    role: &str,
) -> anyhow::Result<dorafleet_telemetry::TelemetryGuard> {
    let observability = load_config(config).ok().map(|c| c.observability);
    let otlp = observability.and_then(|o| {
        let endpoint = o.otlp_endpoint.filter(|e| !e.trim().is_empty())?;
        let protocol = match o.otlp_protocol {
            OtlpProtocol::Grpc => dorafleet_telemetry::OtlpProtocol::Grpc,
            OtlpProtocol::Http => dorafleet_telemetry::OtlpProtocol::Http,
        };
        Some(dorafleet_telemetry::OtlpExport { endpoint, protocol })
    });
    let settings = dorafleet_telemetry::Settings {
        default_filter: default_filter.to_owned(),
        log_format,
        service_name: format!("dorafleet-{role}"),
        otlp,
    };
    Ok(dorafleet_telemetry::setup(&settings)?)
}

/// One client per source, as configured.
pub fn source_clients(config: &Config) -> anyhow::Result<Vec<(SourceClient, u32)>> {
    dorafleet_operations::execution::source_clients(config)
        .context("configuring the source clients")
}

/// The `--actor` given on the command line, if any.
static ACTOR: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Remember `--actor` for [`operator`].
pub fn set_actor(actor: Option<&str>) {
    let _ = ACTOR.set(actor.map(str::to_owned));
}

/// Who an operator action is recorded as: `--actor`, else `DORAFLEET_ACTOR`,
/// else the OS user and host.
pub fn operator() -> String {
    dorafleet_operations::actor::resolve(ACTOR.get().and_then(|a| a.as_deref()))
}

/// A reader that closed the pipe early (`dorafleet metrics | head -1`) is
/// not an error of dorafleet's: exit quietly with the status a process
/// killed by SIGPIPE has (141), instead of the panic Rust's `print!` raises
/// on a broken pipe (exit 101, a backtrace hint on stderr).
pub fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
