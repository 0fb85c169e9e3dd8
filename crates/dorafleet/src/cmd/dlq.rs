//! `dorafleet dlq`: see what failed and why, and put it back — safely, in
//! bulk, with an audit trail. Letters are never deleted: discarding marks
//! them, replaying republishes their task with a fresh attempt budget.

use super::dlq_filter::{self, parse_error_class, parse_id, parse_time};
use super::dlq_view;
use clap::{Args, Subcommand, ValueEnum};
use dorafleet_core::{Config, ErrorClass, Source, Stage};
use dorafleet_operations::letters::{self, DiscardPlan, ReplayPlan};
use dorafleet_operations::{Execution, LetterFilter, LetterStatus, Warehouse};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    action: DlqAction,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// List dead letters, newest first.
    List {
        #[arg(long)]
        stage: Option<Stage>,
        #[arg(long)]
        source: Option<Source>,
        #[arg(long)]
        team: Option<String>,
        #[arg(long, value_parser = parse_error_class)]
        error_class: Option<ErrorClass>,
        #[arg(long)]
        status: Option<LetterStatus>,
        /// Last failure at or after (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_parser = parse_time)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Last failure before (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_parser = parse_time)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Only letters of this run.
        #[arg(long, value_parser = parse_id)]
        run: Option<uuid::Uuid>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One letter in full: envelope, error chain, attempts, audit, trace link.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Counts by stage, source and error class; oldest, newest; recent runs' dead-letter rate.
    Stats {
        /// Recent runs to report.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Republish letters' tasks to their stage with a fresh attempt budget.
    Replay {
        /// Letter ids.
        ids: Vec<String>,
        /// KEY=VALUE (keys: stage, source, team, error_class, status, since, until, run); repeatable.
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        /// Show exactly what would be replayed, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Run the replayed tasks in this process (embedded mode) instead of publishing to RabbitMQ.
        #[arg(long)]
        standalone: bool,
        /// Take over replay claims older than this (left by a replay that was killed).
        #[arg(long, default_value_t = 60)]
        stale_after_secs: u64,
    },
    /// Mark letters discarded, with a reason (audited; nothing is deleted).
    Discard {
        ids: Vec<String>,
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(config: Option<&Path>, args: DlqArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let warehouse = super::connect::open_warehouse(&config).await?;
    match args.action {
        DlqAction::List {
            stage,
            source,
            team,
            error_class,
            status,
            since,
            until,
            run,
            limit,
            format,
        } => {
            let filter = LetterFilter {
                run_id: run,
                stage,
                source,
                team,
                error_class,
                status,
                since,
                until,
                limit: Some(limit),
                ..LetterFilter::default()
            };
            let letters = letters::list(warehouse.as_ref(), &filter).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&letters)?),
                Format::Table => print!("{}", dlq_view::table(&letters)),
            }
        }
        DlqAction::Show { id, format } => {
            let id = parse_id(&id).map_err(anyhow::Error::msg)?;
            let letter = letters::find(warehouse.as_ref(), id).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&letter)?),
                Format::Table => print!(
                    "{}",
                    dlq_view::show(&letter, &config.observability.jaeger_url)
                ),
            }
        }
        DlqAction::Stats { runs } => {
            let stats = letters::stats(warehouse.as_ref(), runs).await?;
            print!("{}", dlq_view::stats(&stats.letters, &stats.recent_runs));
        }
        DlqAction::Replay {
            ids,
            filters,
            dry_run,
            yes,
            standalone,
            stale_after_secs,
        } => {
            let filter =
                dlq_filter::for_action(&ids, &filters, "replay").map_err(anyhow::Error::msg)?;
            let plan = letters::plan_replay(letters::select(warehouse.as_ref(), &filter).await?);
            let execution = if standalone {
                Execution::InProcess {
                    worker_name: "dlq-replay".into(),
                }
            } else {
                Execution::Fleet
            };
            let options = ReplayChoice {
                dry_run,
                yes,
                execution,
                stale_after: Duration::from_secs(stale_after_secs),
            };
            replay_command(&config, warehouse, &plan, options).await?;
        }
        DlqAction::Discard {
            ids,
            filters,
            reason,
            dry_run,
            yes,
        } => {
            if reason.trim().is_empty() {
                anyhow::bail!("--reason must say why the letters are discarded");
            }
            let filter =
                dlq_filter::for_action(&ids, &filters, "discard").map_err(anyhow::Error::msg)?;
            let plan = letters::plan_discard(letters::select(warehouse.as_ref(), &filter).await?);
            discard_command(warehouse.as_ref(), &plan, &reason, dry_run, yes).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Ask before a destructive or bulk action; refuse without a terminal.
fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{question} — refusing without confirmation: pass --yes (or --dry-run to see what would happen)"
        );
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// How the operator asked a replay to go.
struct ReplayChoice {
    dry_run: bool,
    yes: bool,
    execution: Execution,
    stale_after: Duration,
}

async fn replay_command(
    config: &Config,
    warehouse: Arc<dyn Warehouse>,
    plan: &ReplayPlan,
    choice: ReplayChoice,
) -> anyhow::Result<()> {
    if plan.already_done > 0 {
        println!(
            "{} selected letters are already replayed or discarded: left alone",
            plan.already_done
        );
    }
    if plan.replay.is_empty() && plan.skipped.is_empty() {
        println!("no dead letter to replay");
        return Ok(());
    }
    for p in &plan.replay {
        println!(
            "{} {} {} {}: to {} with a fresh budget of {} attempts",
            if choice.dry_run {
                "would replay"
            } else {
                "replay"
            },
            p.letter.letter.id,
            p.route,
            p.scope,
            p.queue,
            p.max_attempts
        );
    }
    for (id, why) in &plan.skipped {
        println!("skip {id}: {why}");
    }
    let replayable = plan.replay.len();
    if choice.dry_run {
        println!(
            "dry run: {replayable} of {} letters would be replayed; nothing changed",
            replayable + plan.skipped.len()
        );
        return Ok(());
    }
    if replayable > 0 && !choice.yes && !confirm(&format!("Replay {replayable} dead letters?"))? {
        println!("nothing replayed");
        return Ok(());
    }
    let bar = super::summary::progress_bar("replay");
    bar.set_length(replayable as u64);
    let outcome = letters::replay(
        config,
        warehouse,
        plan,
        &choice.execution,
        &super::operator(),
        choice.stale_after,
        |done, _| bar.set_position(done as u64),
    )
    .await;
    bar.finish_and_clear();
    let outcome = outcome?;
    println!(
        "replayed {} letters, skipped {}",
        outcome.report.replayed.len(),
        outcome.report.skipped.len() + plan.skipped.len()
    );
    for (id, why) in &outcome.report.skipped {
        println!("  skipped {id}: {why}");
    }
    for s in &outcome.runs {
        println!(
            "run {}: {} tasks, {} done, {} dead, {} unfinished",
            s.run_id, s.tasks, s.done, s.dead, s.unfinished
        );
    }
    Ok(())
}

async fn discard_command(
    warehouse: &dyn Warehouse,
    plan: &DiscardPlan,
    reason: &str,
    dry_run: bool,
    yes: bool,
) -> anyhow::Result<()> {
    for a in &plan.discard {
        println!(
            "{} {}: {}",
            if dry_run { "would discard" } else { "discard" },
            a.letter.id,
            a.letter
                .scope
                .as_ref()
                .map_or("(not a task)".into(), |s| s.to_string())
        );
    }
    for (id, status) in &plan.skipped {
        println!("skip {id}: already {status}");
    }
    let n = plan.discard.len();
    if dry_run {
        println!("dry run: {n} letters would be discarded; nothing changed");
        return Ok(());
    }
    if n > 0 && !yes && !confirm(&format!("Discard {n} dead letters?"))? {
        println!("nothing discarded");
        return Ok(());
    }
    let discarded = letters::discard(warehouse, plan, &super::operator(), reason).await?;
    println!("discarded {discarded} letters (kept, marked discarded, audited)");
    Ok(())
}
