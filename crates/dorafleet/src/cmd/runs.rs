//! `dorafleet runs`: what each run did — its tasks by stage, each team's
//! gates, the sensors' holds, and the records it wrote in every layer — and
//! the operator's answers to a held run (release, rerun).

use super::runs_view;
use clap::{Args, Subcommand};
use dorafleet_operations::{Execution, runs};
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    action: RunsAction,
}

#[derive(Debug, Subcommand)]
enum RunsAction {
    /// Recent runs, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One run: tasks by stage, gates per team, sensor holds with their
    /// evidence, records per layer, dead letters.
    Show { id: String },
    /// Accept a held run's data as real: its holds are released (audited
    /// with your name and the reason), gold is written for the held teams,
    /// and the run is closed. Use when the quiet days really were quiet.
    Release {
        /// The held run's id (see `dorafleet runs list`).
        id: String,
        /// Why the held data is real, e.g. "release freeze week".
        #[arg(long)]
        reason: String,
    },
    /// Re-extract the held teams over the held run's window in a new run.
    /// Its sensors judge the fresh data: if they pass, the old holds are
    /// cleared and gold is written. Published to the fleet (a running
    /// coordinator follows it) unless --standalone runs it here.
    Rerun {
        /// The held run's id (see `dorafleet runs list`).
        id: String,
        /// Run the rerun in this process (no RabbitMQ).
        #[arg(long)]
        standalone: bool,
    },
}

fn parse_run_id(id: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id.trim())
        .map_err(|_| anyhow::anyhow!("`{id}` is not a run id (a UUID; see `dorafleet runs list`)"))
}

pub async fn run(config: Option<&Path>, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let warehouse = super::connect::open_warehouse(&config).await?;
    match args.action {
        RunsAction::List { limit } => {
            print!(
                "{}",
                runs_view::list(&runs::list(warehouse.as_ref(), limit).await?)
            );
        }
        RunsAction::Show { id } => {
            let detail =
                runs::detail(warehouse.as_ref(), &config.definitions, parse_run_id(&id)?).await?;
            print!("{}", runs_view::show(&detail));
        }
        RunsAction::Release { id, reason } => {
            let run_id = parse_run_id(&id)?;
            let released = runs::release(
                warehouse.as_ref(),
                &config,
                run_id,
                &super::operator(),
                &reason,
            )
            .await?;
            println!(
                "released {} hold(s) of run {run_id}; wrote {} gold records; run is now {}",
                released.holds.len(),
                released.gold_records,
                released.run.status
            );
            for hold in &released.holds {
                println!("  {}", super::lines::hold_line(hold));
            }
        }
        RunsAction::Rerun { id, standalone } => {
            let run_id = parse_run_id(&id)?;
            let execution = if standalone {
                Execution::InProcess {
                    worker_name: "runs-rerun".into(),
                }
            } else {
                Execution::Fleet
            };
            let outcome = runs::rerun(warehouse, &config, run_id, &execution).await?;
            println!(
                "rerun {} ({}) re-extracts the held teams of run {run_id}",
                outcome.rerun.run_id, outcome.rerun.window
            );
            if execution == Execution::Fleet {
                println!(
                    "published to the fleet: a running coordinator follows it (`dorafleet runs show {}`)",
                    outcome.rerun.run_id
                );
            }
            for s in &outcome.runs {
                super::summary::print(s, None);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
