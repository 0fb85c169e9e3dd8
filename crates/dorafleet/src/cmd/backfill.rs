//! `dorafleet backfill`: recompute silver from bronze and/or gold from silver
//! over a date range, with zero API calls.

use chrono::NaiveDate;
use clap::Args;
use dorafleet_coordinator::{BackfillRequest, FromLayer, backfill};
use dorafleet_core::Metric;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    pub from: NaiveDate,
    /// Day after the last one recomputed, YYYY-MM-DD.
    #[arg(long)]
    pub to: NaiveDate,
    /// Only these teams (comma-separated); default all.
    #[arg(long, value_delimiter = ',')]
    pub teams: Vec<String>,
    /// Only these metrics (comma-separated); default all.
    #[arg(long, value_delimiter = ',')]
    pub metrics: Vec<Metric>,
    /// Start from bronze (re-normalize, then aggregate) or silver (aggregate only).
    #[arg(long, default_value = "silver")]
    pub from_layer: FromLayer,
    /// Teams recomputed at once (default: CPU count).
    #[arg(long)]
    pub parallelism: Option<usize>,
}

pub async fn run(config: Option<&Path>, args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let config = Arc::new(super::load_config(config)?);
    if args.from >= args.to {
        anyhow::bail!("--from ({}) must be before --to ({})", args.from, args.to);
    }
    let warehouse = super::connect::open_warehouse(&config).await?;
    let teams = if args.teams.is_empty() {
        config.teams.len()
    } else {
        args.teams.len()
    };
    let bar = super::summary::progress_bar("backfill");
    bar.set_length(teams as u64);
    let tick = bar.clone();
    let started = std::time::Instant::now();
    let summary = backfill(
        warehouse,
        Arc::clone(&config),
        BackfillRequest {
            from: args.from,
            to: args.to,
            teams: args.teams,
            metrics: args.metrics,
            from_layer: args.from_layer,
            parallelism: args
                .parallelism
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        },
        move |team| {
            tick.inc(1);
            tick.set_message(format!("{team} done"));
        },
    )
    .await?;
    bar.finish_and_clear();
    println!(
        "backfill {}: {} teams, {} bronze pages re-normalized into {} silver records, {} gold records written in {:.2} s (no API calls)",
        summary.run_id,
        summary.teams,
        summary.bronze_pages,
        summary.silver_records,
        summary.gold_records,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
