//! `dorafleet standalone`: one incremental pipeline run in this process, on
//! the in-process broker and the configured warehouse and sources.

use chrono::{NaiveDate, NaiveTime};
use clap::Args;
use dorafleet_core::{Source, Window};
use dorafleet_operations::retention;
use dorafleet_standalone::{StandaloneOptions, run_standalone};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct StandaloneArgs {
    /// Only these sources (comma-separated): github, jira, jenkins.
    #[arg(long, value_delimiter = ',', default_value = "github,jira,jenkins")]
    pub sources: Vec<Source>,
    /// Tasks run at once (overrides worker.concurrency).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Give up on tasks still unfinished after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub deadline_secs: u64,
    /// Extract this range instead of the incremental window (YYYY-MM-DD, with --to).
    #[arg(long, requires = "to")]
    pub from: Option<NaiveDate>,
    /// End of the range (exclusive), YYYY-MM-DD.
    #[arg(long, requires = "from")]
    pub to: Option<NaiveDate>,
}

pub async fn run(config: Option<&Path>, args: StandaloneArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    if config.teams.is_empty() {
        anyhow::bail!("no teams configured: add [[teams]] entries to the config file");
    }
    let warehouse = super::connect::open_warehouse(&config).await?;
    let purged = retention::purge_expired_bronze(warehouse.as_ref(), &config).await?;
    if purged > 0 {
        println!(
            "retention: deleted {purged} bronze pages fetched more than {} days ago",
            config.warehouse.bronze_retention_days
        );
    }
    let clients = super::source_clients(&config)?;
    let options = StandaloneOptions {
        sources: args.sources,
        concurrency: args.concurrency.unwrap_or(config.worker.concurrency),
        worker_name: config.worker.resolved_name(),
        deadline: Duration::from_secs(args.deadline_secs),
    };
    let range = match (args.from, args.to) {
        (Some(from), Some(to)) if from < to => Some(Window {
            from: from.and_time(NaiveTime::MIN).and_utc(),
            to: to.and_time(NaiveTime::MIN).and_utc(),
        }),
        (Some(from), Some(to)) => anyhow::bail!("--from ({from}) must be before --to ({to})"),
        _ => None,
    };
    let bar = super::summary::progress_bar("pipeline");
    let tick = bar.clone();
    let summary = run_standalone(
        range,
        warehouse,
        clients,
        Arc::new(config),
        options,
        move |p| super::summary::update(&tick, p),
    )
    .await?;
    bar.finish_and_clear();
    let Some(summary) = summary else {
        println!("nothing to do: every scope is synced up to now");
        return Ok(ExitCode::SUCCESS);
    };
    super::summary::print(&summary, None);
    Ok(if summary.dead > 0 || summary.unfinished > 0 {
        ExitCode::from(2)
    } else if !summary.holds.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
