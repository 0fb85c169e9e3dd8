//! `dorafleet metrics`: gold by day and summarised over a range, with each
//! team's DORA performance level; days without gold are shown as unknown.

use anyhow::Context;
use chrono::{Duration, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use dorafleet_pipeline::report::team_report;
use dorafleet_warehouse::GoldFilter;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Teams to show (comma-separated or repeated); default every configured team.
    #[arg(long, value_delimiter = ',')]
    pub team: Vec<String>,
    /// First day, YYYY-MM-DD (default: 30 days before --to).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Day after the last one shown, YYYY-MM-DD (default: today, UTC).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only the per-team summary (table format).
    #[arg(long)]
    pub summary_only: bool,
}

pub async fn run(config: Option<&Path>, args: MetricsArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let to = args.to.unwrap_or_else(|| Utc::now().date_naive());
    let from = args.from.unwrap_or(to - Duration::days(30));
    if from >= to {
        anyhow::bail!("--from ({from}) must be before --to ({to})");
    }
    let warehouse = dorafleet_warehouse::open(&config.warehouse.url)
        .with_context(|| format!("opening warehouse {}", config.warehouse.url))?;
    let gold = warehouse
        .gold(&GoldFilter {
            teams: args.team.clone(),
            from: Some(from),
            to: Some(to),
            ..GoldFilter::default()
        })
        .await?;
    let mut teams = args.team.clone();
    if teams.is_empty() {
        teams = config.teams.iter().map(|t| t.id.clone()).collect();
    }
    if teams.is_empty() {
        teams = gold.iter().map(|g| g.team_id.clone()).collect();
        teams.dedup();
    }
    if teams.is_empty() {
        anyhow::bail!("no teams: configure [[teams]] or pass --team");
    }
    for t in &args.team {
        if !config.teams.is_empty() && !config.teams.iter().any(|c| &c.id == t) {
            anyhow::bail!("team `{t}` is not configured");
        }
    }
    let reports: Vec<_> = teams
        .iter()
        .map(|t| team_report(t, &gold, from, to, &config.levels))
        .collect();
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
        Format::Csv => print!("{}", super::dora_table::csv(&reports)),
        Format::Table => {
            if !args.summary_only {
                for r in &reports {
                    println!("{}", super::dora_table::daily(r));
                }
            }
            print!("{}", super::dora_table::summaries(&reports));
        }
    }
    Ok(ExitCode::SUCCESS)
}
