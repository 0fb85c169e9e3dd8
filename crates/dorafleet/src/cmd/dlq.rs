//! `dorafleet dlq`: see what failed and why, and put it back — safely, in
//! bulk, with an audit trail. Letters are never deleted: discarding marks
//! them, replaying republishes their task with a fresh attempt budget.

use super::dlq_filter::{self, parse_error_class, parse_id, parse_time};
use super::dlq_view;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use dorafleet_broker::{Broker, InProcessBroker};
use dorafleet_coordinator::replay::{ReplayOptions, not_replayable, replay, replay_envelope};
use dorafleet_core::{Config, ErrorClass, Source, Stage};
use dorafleet_warehouse::{ArchivedLetter, LetterFilter, LetterStatus, Warehouse};
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
    let warehouse = super::fleet::open_warehouse(&config).await?;
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
            let letters = warehouse.archived_letters(&filter).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&letters)?),
                Format::Table => print!("{}", dlq_view::table(&letters)),
            }
        }
        DlqAction::Show { id, format } => {
            let letter = find(warehouse.as_ref(), &id).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&letter)?),
                Format::Table => print!(
                    "{}",
                    dlq_view::show(&letter, &config.observability.jaeger_url)
                ),
            }
        }
        DlqAction::Stats { runs } => {
            let letters = warehouse.archived_letters(&LetterFilter::default()).await?;
            let mut recent = Vec::new();
            for run in warehouse.runs(runs).await? {
                let tasks = warehouse.run_tasks(run.run_id).await?;
                recent.push((run, tasks));
            }
            print!("{}", dlq_view::stats(&letters, &recent));
        }
        DlqAction::Replay {
            ids,
            filters,
            dry_run,
            yes,
            standalone,
            stale_after_secs,
        } => {
            return replay_command(
                &config,
                warehouse,
                &ids,
                &filters,
                dry_run,
                yes,
                standalone,
                stale_after_secs,
            )
            .await;
        }
        DlqAction::Discard {
            ids,
            filters,
            reason,
            dry_run,
            yes,
        } => {
            return discard_command(warehouse.as_ref(), &ids, &filters, &reason, dry_run, yes)
                .await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn find(warehouse: &dyn Warehouse, id: &str) -> anyhow::Result<ArchivedLetter> {
    let id = parse_id(id).map_err(anyhow::Error::msg)?;
    let filter = LetterFilter {
        ids: vec![id],
        ..LetterFilter::default()
    };
    warehouse
        .archived_letters(&filter)
        .await?
        .into_iter()
        .next()
        .with_context(|| format!("no dead letter with id {id} (see `dorafleet dlq list`)"))
}

/// The letters a bulk action selects; unknown ids are an error before anything changes.
async fn select(
    warehouse: &dyn Warehouse,
    ids: &[String],
    filters: &[String],
    verb: &str,
) -> anyhow::Result<Vec<ArchivedLetter>> {
    let filter = dlq_filter::for_action(ids, filters, verb).map_err(anyhow::Error::msg)?;
    let letters = warehouse.archived_letters(&filter).await?;
    let unknown: Vec<String> = filter
        .ids
        .iter()
        .filter(|id| !letters.iter().any(|a| a.letter.id == **id))
        .map(|id| id.to_string())
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "unknown dead-letter id(s): {} — nothing was changed",
            unknown.join(", ")
        );
    }
    Ok(letters)
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

#[allow(clippy::too_many_arguments)]
async fn replay_command(
    config: &Config,
    warehouse: Arc<dyn Warehouse>,
    ids: &[String],
    filters: &[String],
    dry_run: bool,
    yes: bool,
    standalone: bool,
    stale_after_secs: u64,
) -> anyhow::Result<ExitCode> {
    let selected = select(warehouse.as_ref(), ids, filters, "replay").await?;
    // Dead letters, and claims left by a replay that died, are replayable;
    // replayed and discarded ones are left alone.
    let (letters, others): (Vec<ArchivedLetter>, Vec<ArchivedLetter>) = selected
        .into_iter()
        .partition(|a| matches!(a.status, LetterStatus::Dead | LetterStatus::Replaying));
    if !others.is_empty() {
        println!(
            "{} selected letters are already replayed or discarded: left alone",
            others.len()
        );
    }
    if letters.is_empty() {
        println!("no dead letter to replay");
        return Ok(ExitCode::SUCCESS);
    }
    let replayable = letters
        .iter()
        .filter(|a| not_replayable(a).is_none())
        .count();
    for a in &letters {
        match (not_replayable(a), replay_envelope(a)) {
            (None, Some(task)) => println!(
                "{} {} {} {}: to {} with a fresh budget of {} attempts",
                if dry_run { "would replay" } else { "replay" },
                a.letter.id,
                task.route(),
                task.scope,
                dorafleet_broker::task_queue(&task),
                task.max_attempts
            ),
            (why, _) => println!("skip {}: {}", a.letter.id, why.unwrap_or_default()),
        }
    }
    if dry_run {
        println!(
            "dry run: {replayable} of {} letters would be replayed; nothing changed",
            letters.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if replayable > 0 && !yes && !confirm(&format!("Replay {replayable} dead letters?"))? {
        println!("nothing replayed");
        return Ok(ExitCode::SUCCESS);
    }
    let options = ReplayOptions {
        actor: super::operator(),
        stale_after: Duration::from_secs(stale_after_secs),
    };
    let bar = super::summary::progress_bar("replay");
    bar.set_length(letters.len() as u64);
    let in_process = InProcessBroker::new();
    let broker: Arc<dyn Broker> = if standalone {
        Arc::new(in_process.clone())
    } else {
        Arc::new(super::fleet::connect_broker(config, None).await?)
    };
    let report = replay(
        warehouse.as_ref(),
        broker.as_ref(),
        &letters,
        &options,
        |done, _| bar.set_position(done as u64),
    )
    .await;
    bar.finish_and_clear();
    let report = report?;
    println!(
        "replayed {} letters, skipped {}",
        report.replayed.len(),
        report.skipped.len()
    );
    for (id, why) in &report.skipped {
        println!("  skipped {id}: {why}");
    }
    if standalone && !report.replayed.is_empty() {
        let summaries = super::standalone::finish_here(
            config,
            Arc::clone(&warehouse),
            &in_process,
            "dlq-replay",
        )
        .await?;
        for s in &summaries {
            println!(
                "run {}: {} tasks, {} done, {} dead, {} unfinished",
                s.run_id, s.tasks, s.done, s.dead, s.unfinished
            );
        }
    } else {
        broker.close().await?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn discard_command(
    warehouse: &dyn Warehouse,
    ids: &[String],
    filters: &[String],
    reason: &str,
    dry_run: bool,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    if reason.trim().is_empty() {
        anyhow::bail!("--reason must say why the letters are discarded");
    }
    let letters = select(warehouse, ids, filters, "discard").await?;
    let dead: Vec<_> = letters
        .iter()
        .filter(|a| a.status == LetterStatus::Dead)
        .collect();
    for a in &letters {
        if a.status == LetterStatus::Dead {
            println!(
                "{} {}: {}",
                if dry_run { "would discard" } else { "discard" },
                a.letter.id,
                dlq_filter_scope(a)
            );
        } else {
            println!("skip {}: already {}", a.letter.id, a.status);
        }
    }
    if dry_run {
        println!(
            "dry run: {} letters would be discarded; nothing changed",
            dead.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !dead.is_empty() && !yes && !confirm(&format!("Discard {} dead letters?", dead.len()))? {
        println!("nothing discarded");
        return Ok(ExitCode::SUCCESS);
    }
    let who = super::operator();
    let mut discarded = 0;
    for a in dead {
        if warehouse.discard_letter(a.letter.id, &who, reason).await? {
            discarded += 1;
        }
    }
    println!("discarded {discarded} letters (kept, marked discarded, audited)");
    Ok(ExitCode::SUCCESS)
}

fn dlq_filter_scope(a: &ArchivedLetter) -> String {
    a.letter
        .scope
        .as_ref()
        .map_or("(not a task)".into(), |s| s.to_string())
}
