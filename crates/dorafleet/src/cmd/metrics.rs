//! `dorafleet metrics`: gold by day and summarised over a range, with each
//! team's DORA performance levels from the table of one DORA report year
//! (`[levels] year`, or `--levels-year`). Days without gold are shown as unknown —
//! held by a sensor, or inputs incomplete — and never as zero; a zero shown
//! is a verified one. Under the table, each source's freshness: the newest
//! successfully extracted record and the stalest scope.

use chrono::{Duration, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use dorafleet_operations::metrics;
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
    /// Only the per-team summary: the summary table, or with `--format csv`
    /// one row per team and metric (deploy days, level) instead of per day.
    #[arg(long)]
    pub summary_only: bool,
    /// DORA report year whose performance levels apply: 2021, 2023 or 2024
    /// (default: `[levels] year`, else 2024). 2025 is refused: that report
    /// has team profiles instead of levels.
    #[arg(long, value_name = "YEAR")]
    pub levels_year: Option<u16>,
}

pub async fn run(config: Option<&Path>, args: MetricsArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config)?;
    let to = args.to.unwrap_or_else(|| Utc::now().date_naive());
    let from = args.from.unwrap_or(to - Duration::days(30));
    if from >= to {
        anyhow::bail!("--from ({from}) must be before --to ({to})");
    }
    if let (Some(year), Err(e)) = (args.levels_year, config.levels.thresholds(args.levels_year)) {
        anyhow::bail!("--levels-year {year}: {e}");
    }
    let warehouse = super::connect::open_warehouse(&config).await?;
    let reports = metrics::team_reports_with_levels(
        warehouse.as_ref(),
        &config,
        &args.team,
        from,
        to,
        args.levels_year,
    )
    .await?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
        Format::Csv if args.summary_only => {
            print!("{}", super::dora_table::summary_csv(&reports));
        }
        Format::Csv => print!("{}", super::dora_table::csv(&reports)),
        Format::Table => {
            if !args.summary_only {
                for r in &reports {
                    println!("{}", super::dora_table::daily(r));
                }
            }
            print!("{}", super::dora_table::summaries(&reports));
            let fresh = metrics::freshness(warehouse.as_ref(), &config).await?;
            print!("{}", freshness(&fresh));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Per source: the newest successfully extracted record over its scopes
/// (the high-watermarks), and the scope that is furthest behind.
fn freshness(sources: &[metrics::Freshness]) -> String {
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
    for f in sources {
        let _ = match (f.newest, &f.stalest) {
            (Some(n), Some((scope, s))) => writeln!(
                out,
                "  {:<8} newest {} ({}); stalest scope {scope} ({}){}",
                f.source.as_str(),
                n.format("%Y-%m-%d %H:%M"),
                age(n),
                age(*s),
                if f.never.is_empty() {
                    String::new()
                } else {
                    format!("; never extracted: {}", f.never.join(", "))
                }
            ),
            _ => writeln!(out, "  {:<8} never extracted", f.source.as_str()),
        };
    }
    out
}
