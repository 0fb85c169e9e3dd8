//! `dorafleet worker`: a stateless worker of the fleet. It consumes tasks of
//! the given stages and sources from RabbitMQ, runs them against the shared
//! warehouse, takes its API turns from the fleet-wide request budget, and on
//! SIGTERM/SIGINT stops consuming, lets in-flight tasks finish (or hands them
//! back) and exits 0.

use super::connect::{Broker, Route, Warehouse};
use clap::Args;
use dorafleet_core::{Config, RetryPolicy, Source, Stage};
use dorafleet_worker::WarehouseBudget;
use dorafleet_worker::{Handlers, NoopHandler, Worker, WorkerOptions};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Stages to run (comma-separated): extract, normalize, aggregate.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "extract,normalize,aggregate"
    )]
    pub stages: Vec<Stage>,
    /// Sources to extract from (comma-separated): github, jira, jenkins.
    #[arg(long, value_delimiter = ',', default_value = "github,jira,jenkins")]
    pub sources: Vec<Source>,
    /// Tasks run at once (overrides worker.concurrency).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Seconds in-flight tasks may run on after SIGTERM before they are handed back.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout_secs: u64,
    /// Name recorded in task histories (overrides worker.name; default host-pid).
    #[arg(long)]
    pub name: Option<String>,
    /// Serve /metrics, /healthz and /readyz here (overrides observability.metrics_addr).
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// Benchmark mode: every stage's handler succeeds at once without touching
    /// APIs or the warehouse (`scripts/bench.sh fleet`).
    #[arg(long, hide = true)]
    pub noop: bool,
}

pub async fn run(config: Option<&Path>, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let mut config = super::load_config(config)?;
    if let Some(name) = args.name {
        config.worker.name = Some(name);
    }
    let concurrency = args.concurrency.unwrap_or(config.worker.concurrency);
    let config = Arc::new(config);
    let warehouse = super::connect::open_warehouse(&config).await?;
    // Room for the tasks running and for outcomes awaiting their confirm.
    let prefetch = dorafleet_worker::runtime::prefetch_for(concurrency);
    let rabbit = super::connect::connect_broker(&config, Some(prefetch)).await?;
    let broker: Arc<dyn Broker> = Arc::new(rabbit.clone());
    let shutdown = super::shutdown::on_signal();
    let metrics_addr = args
        .metrics_addr
        .or_else(|| config.observability.metrics_addr.clone());
    super::connect::serve_ops(
        metrics_addr.as_deref(),
        rabbit,
        Arc::clone(&warehouse),
        shutdown.clone(),
    )
    .await?;
    let handlers = if args.noop {
        // Every stage succeeds at once; the warehouse stays open (as in a real
        // worker) but is never written.
        args.stages.iter().fold(Handlers::default(), |h, &stage| {
            h.with(stage, Arc::new(NoopHandler))
        })
    } else {
        real_handlers(&config, &warehouse, &args.stages, &args.sources)?
    };
    let routes = Route::all(&args.stages, &args.sources);
    let name = config.worker.resolved_name();
    let retry: RetryPolicy = config.retry.clone();
    let worker = Worker::new(
        Arc::clone(&broker),
        handlers,
        WorkerOptions {
            name: name.clone(),
            concurrency,
            retry,
            drain_timeout: Duration::from_secs(args.drain_timeout_secs),
        },
    )
    .with_task_deadline(config.worker.task_deadline());
    info!(%name, "worker starting");
    worker.run(&routes, shutdown).await?;
    broker.close().await?;
    info!(%name, "worker stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// The real stage handlers: APIs through the fleet-wide budget, the warehouse.
fn real_handlers(
    config: &Arc<Config>,
    warehouse: &Arc<dyn Warehouse>,
    stages: &[Stage],
    sources: &[Source],
) -> anyhow::Result<Handlers> {
    let budget = Arc::new(WarehouseBudget::new(warehouse.clone()));
    let clients = super::source_clients(config)?
        .into_iter()
        .filter(|(client, _)| sources.contains(&client.source()))
        .map(|(client, page_size)| (client.with_fleet_budget(budget.clone()), page_size));
    Ok(dorafleet_stages::handlers(
        stages, warehouse, config, clients,
    ))
}
