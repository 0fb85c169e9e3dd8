//! `dorafleet monitor`: follow gold changes and deliver alerts (see the
//! dorafleet-alerts crate). This module only wires configuration, sinks,
//! the ops endpoint and shutdown.

use super::connect::Warehouse;
use clap::Args;
use dorafleet_alerts::{AlertSink, Monitor, StdoutSink, WebhookSink};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `dorafleet monitor --help`: what the rules are and what the monitor promises.
pub const LONG_ABOUT: &str = "Follow gold changes and send alerts when a team's numbers regress.\n\n\
Rules (section [monitor] of the config, DORAFLEET_MONITOR__* in the environment):\n  \
change_failure_rate    a day's change failure rate above change_failure_rate_above\n  \
deploy_frequency_drop  a day's deployments below the team's baseline (mean of the previous \
baseline_days) by the share deploy_frequency_drop\n  \
recovery_time          a day's median recovery above recovery_hours_above\n  \
stale_source           a source's newest extracted data older than stale_source_after_hours\n  \
held_run               a run holding a team's days back\n\n\
Alerts go to stdout (one JSON line each) and, when monitor.webhook_url is set, to that \
Slack-compatible webhook, retried with backoff until it answers. Each alert is sent once per \
rule, team, day and definition version, across restarts: the monitor keeps its checkpoint and \
the delivered alerts in the warehouse, so kill it at any time and start it again.";

pub const AFTER_HELP: &str = "Example:\n  DORAFLEET_MONITOR__WEBHOOK_URL=https://hooks.slack.com/services/T/B/X \\\n    \
dorafleet monitor --config dorafleet.toml --metrics-addr 127.0.0.1:9466";

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Serve /metrics, /healthz and /readyz here (overrides observability.metrics_addr).
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// Checkpoint name in the warehouse (overrides monitor.name); monitors
    /// with different names each see every change.
    #[arg(long)]
    pub name: Option<String>,
    /// How often the gold feed is polled, in milliseconds (overrides monitor.poll_interval_ms).
    #[arg(long)]
    pub poll_interval_ms: Option<u64>,
}

pub async fn run(config: Option<&Path>, args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let mut config = super::load_config(config)?;
    if let Some(name) = args.name {
        config.monitor.name = name;
    }
    if let Some(ms) = args.poll_interval_ms {
        config.monitor.poll_interval_ms = ms;
    }
    config.validate()?;
    let config = Arc::new(config);
    let poll = Duration::from_millis(config.monitor.poll_interval_ms);
    // MongoDB: a change stream on gold; SQLite: the gold outbox, polled.
    let (warehouse, feed) = super::connect::open_alert_feed(&config, poll).await?;
    let shutdown = super::shutdown::on_signal();
    let metrics_addr = args
        .metrics_addr
        .or_else(|| config.observability.metrics_addr.clone());
    serve_ops(
        metrics_addr.as_deref(),
        Arc::clone(&warehouse),
        &config,
        shutdown.clone(),
    )
    .await?;

    let m = &config.monitor;
    let mut sinks: Vec<Arc<dyn AlertSink>> = vec![Arc::new(StdoutSink)];
    if let Some(url) = &m.webhook_url {
        let webhook = WebhookSink::new(url.clone(), Duration::from_millis(m.webhook_timeout_ms))
            .map_err(anyhow::Error::msg)?;
        sinks.push(Arc::new(webhook));
    } else {
        tracing::info!("monitor.webhook_url is not set: alerts go to stdout only");
    }
    let monitor = Monitor::new(warehouse, feed, sinks, Arc::clone(&config));
    monitor.run(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// `/metrics`, `/healthz`, and `/readyz` (ready when the warehouse answers).
async fn serve_ops(
    addr: Option<&str>,
    warehouse: Arc<dyn Warehouse>,
    config: &dorafleet_core::Config,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let name = config.monitor.name.clone();
    let readiness: dorafleet_telemetry::ops::Readiness = Arc::new(move || {
        let (warehouse, name) = (Arc::clone(&warehouse), name.clone());
        Box::pin(async move {
            warehouse
                .monitor_checkpoint(&name)
                .await
                .map(|_| ())
                .map_err(|e| format!("warehouse: {e}"))
        })
    });
    super::connect::serve_ops_with(addr, readiness, shutdown).await
}
