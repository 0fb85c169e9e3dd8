//! `dorafleet coordinator`: plans runs, publishes their tasks to RabbitMQ,
//! follows the workers' events, opens each stage's gate when its inputs
//! succeeded, and archives dead letters. Its state is in the warehouse, so it
//! can be killed and restarted at any time; only one coordinator acts at a
//! time (a lease), so a second one waits as a standby.

use super::connect::Broker;
use chrono::{NaiveDate, NaiveTime};
use clap::Args;
use dorafleet_coordinator::{Coordinator, CoordinatorOptions, Plan, RunOutcome};
use dorafleet_core::{Source, Window};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// Plan one incremental run (unless one is unfinished), wait for it, exit.
    #[arg(long)]
    pub once: bool,
    /// Only finish unfinished runs, then exit.
    #[arg(long, conflicts_with = "once")]
    pub resume_only: bool,
    /// Extract this range instead of the incremental window (YYYY-MM-DD; with --to; implies --once).
    #[arg(long, requires = "to")]
    pub from: Option<NaiveDate>,
    /// End of the range (exclusive), YYYY-MM-DD.
    #[arg(long, requires = "from")]
    pub to: Option<NaiveDate>,
    /// Seconds between incremental runs when running continuously.
    #[arg(long, default_value_t = 3600)]
    pub interval_secs: u64,
    /// Sources to plan (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "github,jira,jenkins")]
    pub sources: Vec<Source>,
    /// Lease holder name (default host-pid).
    #[arg(long)]
    pub name: Option<String>,
    /// Serve /metrics, /healthz and /readyz here (overrides observability.metrics_addr).
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// Seconds the coordinator lease lasts without renewal.
    #[arg(long, default_value_t = 15)]
    pub lease_ttl_secs: u64,
}

pub async fn run(config: Option<&Path>, args: CoordinatorArgs) -> anyhow::Result<ExitCode> {
    let config = Arc::new(super::load_config(config)?);
    if config.teams.is_empty() {
        anyhow::bail!("no teams configured: add [[teams]] entries to the config file");
    }
    let plan = match (args.from, args.to) {
        (Some(from), Some(to)) => {
            if from >= to {
                anyhow::bail!("--from ({from}) must be before --to ({to})");
            }
            Plan::Once {
                range: Some(Window {
                    from: from.and_time(NaiveTime::MIN).and_utc(),
                    to: to.and_time(NaiveTime::MIN).and_utc(),
                }),
            }
        }
        _ if args.once => Plan::Once { range: None },
        _ if args.resume_only => Plan::ResumeOnly,
        _ => Plan::Every(Duration::from_secs(args.interval_secs.max(1))),
    };
    let warehouse = super::connect::open_warehouse(&config).await?;
    let rabbit = super::connect::connect_broker(&config, None).await?;
    let broker: Arc<dyn Broker> = Arc::new(rabbit.clone());
    let shutdown = super::shutdown::on_signal();
    let metrics_addr = args
        .metrics_addr
        .clone()
        .or_else(|| config.observability.metrics_addr.clone());
    super::connect::serve_ops(
        metrics_addr.as_deref(),
        rabbit.clone(),
        Arc::clone(&warehouse),
        shutdown.clone(),
    )
    .await?;
    super::connect::sample_queue_depths(rabbit, shutdown.clone());
    let name = args.name.unwrap_or_else(|| config.worker.resolved_name());
    let coordinator = Coordinator::new(
        Arc::clone(&broker),
        warehouse,
        Arc::clone(&config),
        CoordinatorOptions {
            name,
            lease_ttl: Duration::from_secs(args.lease_ttl_secs.max(3)),
            plan,
            sources: args.sources,
            progress: None,
        },
    );
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&outcomes);
    coordinator
        .run(shutdown.clone(), move |outcome| {
            print_outcome(outcome);
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(outcome.clone());
        })
        .await?;
    shutdown.cancel();
    broker.close().await?;
    let blocked = outcomes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|o: &RunOutcome| o.dead > 0);
    Ok(if blocked {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_outcome(o: &RunOutcome) {
    if !o.held_teams.is_empty() {
        println!(
            "  held by a sensor: {} (see `dorafleet runs show {}`)",
            o.held_teams.iter().cloned().collect::<Vec<_>>().join(", "),
            o.run.run_id
        );
    }
    println!(
        "run {} ({}, {}) {}: {} tasks, {} done, {} dead, {} retries",
        o.run.run_id, o.run.kind, o.run.window, o.run.status, o.tasks, o.done, o.dead, o.retries
    );
    for (worker, n) in &o.by_worker {
        println!("  worker {worker}: {n} tasks");
    }
    if !o.blocked_teams.is_empty() {
        println!(
            "  no gold for: {} (see `dorafleet dlq list`)",
            o.blocked_teams
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
