//! `dorafleet metrics`: gold by day and summarised over a range, with each
//! team's DORA performance level. Days without gold are shown as unknown —
//! held by a sensor, or inputs incomplete — and never as zero; a zero shown
//! is a verified one. Under the table, each source's freshness: the newest
//! successfully extracted record and the stalest scope.

use chrono::{Duration, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use dorafleet_core::{Config, Scope, Source};
use dorafleet_dora::report::team_report;
use dorafleet_warehouse::{GoldFilter, HoldFilter, HoldStatus, Warehouse};
use std::fmt::Write;
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
    let warehouse = super::fleet::open_warehouse(&config).await?;
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
    let holds = warehouse
        .holds(&HoldFilter {
            status: Some(HoldStatus::Open),
            ..HoldFilter::default()
        })
        .await?;
    let reports: Vec<_> = teams
        .iter()
        .map(|t| {
            let mut report = team_report(t, &gold, from, to, &config.levels);
            report.mark_held(&holds);
            report
        })
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
            print!("{}", freshness(&config, warehouse.as_ref()).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Per source: the newest successfully extracted record over its scopes
/// (the high-watermarks), and the scope that is furthest behind.
async fn freshness(config: &Config, warehouse: &dyn Warehouse) -> anyhow::Result<String> {
    let now = Utc::now();
    let age = |t: chrono::DateTime<Utc>| {
        let hours = (now - t).num_minutes() as f64 / 60.0;
        if hours < 48.0 {
            format!("{hours:.1} h ago")
        } else {
            format!("{:.1} days ago", hours / 24.0)
        }
    };
    let mut out = String::from("\nfreshness (newest record extracted):\n");
    for source in Source::ALL {
        let mut marks = Vec::new();
        let mut never = Vec::new();
        for team in &config.teams {
            for target in team.targets(source) {
                let scope = Scope {
                    team: team.id.clone(),
                    target: Some(target.clone()),
                };
                match warehouse.high_watermark(source, &scope).await? {
                    Some(t) => marks.push((t, target.clone())),
                    None => never.push(target.clone()),
                }
            }
        }
        let newest = marks.iter().max_by_key(|(t, _)| *t);
        let stalest = marks.iter().min_by_key(|(t, _)| *t);
        let _ = match (newest, stalest) {
            (Some((n, _)), Some((s, scope))) => writeln!(
                out,
                "  {:<8} newest {} ({}); stalest scope {scope} ({}){}",
                source.as_str(),
                n.format("%Y-%m-%d %H:%M"),
                age(*n),
                age(*s),
                if never.is_empty() {
                    String::new()
                } else {
                    format!("; never extracted: {}", never.join(", "))
                }
            ),
            _ if never.is_empty() => continue,
            _ => writeln!(out, "  {:<8} never extracted", source.as_str()),
        };
    }
    Ok(out)
}
