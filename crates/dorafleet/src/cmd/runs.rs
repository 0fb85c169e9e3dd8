//! `dorafleet runs`: what each run did — its tasks by stage, each team's
//! gates, the sensors' holds, and the records it wrote in every layer — and
//! the operator's answers to a held run (release, rerun).

use clap::{Args, Subcommand};
use dorafleet_core::Stage;
use dorafleet_warehouse::{
    GoldFilter, Hold, HoldFilter, HoldStatus, LetterFilter, NormalizeCounts, TaskRecord, TaskState,
};
use std::collections::BTreeMap;
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

/// One hold on one line: status, team, days, sensor, scope and evidence.
pub fn hold_line(h: &Hold) -> String {
    let resolved = h.resolution.as_ref().map_or(String::new(), |r| {
        format!(
            " [{} by {} at {}: {}]",
            h.status,
            r.by,
            r.at.format("%Y-%m-%d %H:%M"),
            r.reason
        )
    });
    format!(
        "{} {} {}..{} {} {}: {} — observed {}, expected {:.1}; rule: {}; {}{resolved}",
        h.status,
        h.team_id,
        h.from,
        h.to,
        h.sensor,
        h.scope.as_deref().unwrap_or("all inputs"),
        h.evidence.measure,
        h.evidence.observed,
        h.evidence.expected,
        h.evidence.threshold,
        h.evidence.detail
    )
}

fn parse_run_id(id: &str) -> anyhow::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(id.trim())
        .map_err(|_| anyhow::anyhow!("`{id}` is not a run id (a UUID; see `dorafleet runs list`)"))
}

fn tally(tasks: &[&TaskRecord]) -> String {
    let count = |s| tasks.iter().filter(|t| t.state == s).count();
    format!(
        "{} tasks: {} done, {} dead, {} retrying, {} pending",
        tasks.len(),
        count(TaskState::Done),
        count(TaskState::Dead),
        count(TaskState::Retrying),
        count(TaskState::Pending)
    )
}

pub async fn run(config: Option<&Path>, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let warehouse = super::fleet::open_warehouse(&config).await?;
    match args.action {
        RunsAction::List { limit } => {
            println!(
                "{:<36}  {:<11}  {:<9}  {:<23}  {:<10}  window",
                "run", "kind", "status", "created", "tasks"
            );
            for run in warehouse.runs(limit).await? {
                let tasks = warehouse.run_tasks(run.run_id).await?;
                let done = tasks.iter().filter(|t| t.state == TaskState::Done).count();
                println!(
                    "{:<36}  {:<11}  {:<9}  {:<23}  {:<10}  {}",
                    run.run_id,
                    run.kind,
                    run.status.as_str(),
                    run.created_at.format("%Y-%m-%d %H:%M:%S"),
                    format!("{done}/{}", tasks.len()),
                    run.window
                );
            }
        }
        RunsAction::Release { id, reason } => {
            super::runs_actions::release(&config, warehouse, parse_run_id(&id)?, &reason).await?;
        }
        RunsAction::Rerun { id, standalone } => {
            super::runs_actions::rerun(&config, warehouse, parse_run_id(&id)?, standalone).await?;
        }
        RunsAction::Show { id } => {
            let run_id = parse_run_id(&id)?;
            let Some(run) = warehouse.run(run_id).await? else {
                anyhow::bail!("no run with id {run_id} (see `dorafleet runs list`)");
            };
            let tasks = warehouse.run_tasks(run_id).await?;
            println!("run {} ({}) {}", run.run_id, run.kind, run.status);
            println!("window:  {}", run.window);
            println!("created: {}, updated: {}", run.created_at, run.updated_at);
            println!("\nstages:");
            for stage in Stage::ALL {
                let of_stage: Vec<&TaskRecord> =
                    tasks.iter().filter(|t| t.envelope.stage == stage).collect();
                println!("  {:<10} {}", stage.as_str(), tally(&of_stage));
            }
            let holds = warehouse
                .holds(&HoldFilter {
                    run_id: Some(run_id),
                    ..HoldFilter::default()
                })
                .await?;
            println!("\ngates per team:");
            let mut teams: BTreeMap<&str, Vec<&TaskRecord>> = BTreeMap::new();
            for t in &tasks {
                teams
                    .entry(t.envelope.scope.team.as_str())
                    .or_default()
                    .push(t);
            }
            for (team, ts) in teams {
                let stage = |s: Stage| {
                    ts.iter()
                        .filter(|t| t.envelope.stage == s)
                        .copied()
                        .collect::<Vec<_>>()
                };
                let (extracts, normalizes, aggregates) = (
                    stage(Stage::Extract),
                    stage(Stage::Normalize),
                    stage(Stage::Aggregate),
                );
                let done =
                    |v: &[&TaskRecord]| v.iter().filter(|t| t.state == TaskState::Done).count();
                let gate = if ts.iter().any(|t| t.state == TaskState::Dead) {
                    "closed: a task was dead-lettered (see `dorafleet dlq list --run RUN`)"
                        .to_owned()
                } else if holds
                    .iter()
                    .any(|h| h.team_id == team && h.status == HoldStatus::Open)
                {
                    "held: a sensor kept its days out of gold (see holds; `runs release` or `runs rerun`)"
                        .to_owned()
                } else if aggregates.iter().any(|t| t.state == TaskState::Done) {
                    "passed: gold written".to_owned()
                } else if aggregates.is_empty() {
                    format!(
                        "waiting: {}/{} scopes normalized",
                        done(&normalizes),
                        extracts.len()
                    )
                } else {
                    "open: aggregating".to_owned()
                };
                println!(
                    "  {team:<12} extract {}/{}, normalize {}/{}, aggregate {}/{} — {gate}",
                    done(&extracts),
                    extracts.len(),
                    done(&normalizes),
                    normalizes.len(),
                    done(&aggregates),
                    aggregates.len()
                );
            }
            if !holds.is_empty() {
                println!("\nholds:");
                for h in &holds {
                    println!("  {}", hold_line(h));
                }
            }
            println!("\nrecords per layer:");
            for b in warehouse.bronze_totals(Some(run_id)).await? {
                println!(
                    "  bronze  {:<8} {} pages, {} records",
                    b.source.as_str(),
                    b.pages,
                    b.records
                );
            }
            let mut n = NormalizeCounts::default();
            for c in warehouse.normalize_counts(Some(run_id)).await? {
                n.add(&c);
            }
            println!(
                "  silver  {} deployments, {} changes, {} Jira issues (filtered: {} bot changes, {} aborted builds)",
                n.deployments,
                n.changes,
                n.incidents,
                n.bot_changes_filtered,
                n.aborted_builds_filtered
            );
            println!("  schema  {}", super::summary::schema_line(&n));
            let gold = warehouse.gold(&GoldFilter::default()).await?;
            println!(
                "  gold    {} records",
                gold.iter().filter(|g| g.run_id == run_id).count()
            );
            let letters = warehouse
                .archived_letters(&LetterFilter {
                    run_id: Some(run_id),
                    ..LetterFilter::default()
                })
                .await?;
            if !letters.is_empty() {
                println!("\ndead letters:");
                for a in letters {
                    println!(
                        "  {} {} {}: {}",
                        a.letter.id,
                        a.status,
                        a.letter.scope.map_or("-".into(), |s| s.to_string()),
                        a.letter.reason
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
