//! Rendering DORA reports: per-team summary tables, daily tables, CSV.

use dorafleet_core::Metric;
use dorafleet_dora::report::{DayRow, MetricSummary, TeamReport};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A CSV field, quoted when it holds a comma or a quote.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn fmt_value(metric: Metric, value: Option<f64>) -> String {
    match (metric, value) {
        (_, None) => "-".into(),
        (Metric::DeploymentFrequency, Some(v)) => format!("{v:.2}/day"),
        (Metric::ChangeFailureRate, Some(v)) => format!("{:.1}%", v * 100.0),
        (_, Some(v)) => format!("{v:.1} h"),
    }
}

fn summary_cell(s: &MetricSummary) -> String {
    if s.known_days == 0 && s.unknown_days > 0 {
        return if s.held_days > 0 { "held" } else { "unknown" }.into();
    }
    match s.level {
        Some(level) => format!("{} ({level})", fmt_value(s.metric, s.value)),
        None => "-".into(),
    }
}

/// Under the summary table: each metric some days lack, with why.
fn unknown_notes(reports: &[TeamReport]) -> String {
    let mut out = String::new();
    for r in reports {
        for s in r.summary.iter().filter(|s| s.unknown_days > 0) {
            let _ = writeln!(
                out,
                "  {} {}: {}/{} days known; unknown: {}",
                r.team,
                s.metric,
                s.known_days,
                s.known_days + s.unknown_days,
                s.unknown_reason.as_deref().unwrap_or("no gold")
            );
        }
    }
    out
}

/// The weakest level among the known metrics, marked partial when a metric
/// has no known day at all (its level is not known either).
fn overall(r: &TeamReport) -> String {
    let partial = r.summary.iter().any(|s| s.known_days == 0);
    match (r.overall, partial) {
        (None, _) => "-".into(),
        (Some(l), false) => l.to_string(),
        (Some(l), true) => format!("{l} (partial)"),
    }
}

/// One line per team: the range summary with levels. "full days" counts the
/// days every metric is known.
pub fn summaries(reports: &[TeamReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>10} {:<22} {:<22} {:<20} {:<22} {:<8}",
        "team",
        "full days",
        "deployment frequency",
        "lead time for changes",
        "change failure rate",
        "recovery time",
        "overall"
    );
    for r in reports {
        let cells: Vec<String> = r.summary.iter().map(summary_cell).collect();
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:<22} {:<22} {:<20} {:<22} {:<8}",
            r.team,
            format!("{}/{}", r.known_days, r.known_days + r.unknown_days),
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            overall(r)
        );
    }
    let notes = unknown_notes(reports);
    if !notes.is_empty() {
        out.push_str("unknown, never zero:\n");
        out.push_str(&notes);
    }
    out
}

fn day_cells(row: &DayRow) -> String {
    Metric::ALL
        .iter()
        .map(|metric| {
            let text = match (row.metrics.get(metric), row.unknown.get(metric)) {
                (Some(c), _) if *metric == Metric::DeploymentFrequency => {
                    let v = c.value.unwrap_or(0.0);
                    if v == 0.0 {
                        "0 (verified)".into()
                    } else {
                        format!("{v}")
                    }
                }
                (Some(c), _) => match c.value {
                    None => "no data".into(),
                    Some(_) => format!("{} (n={})", fmt_value(*metric, c.value), c.sample_size),
                },
                (None, Some(u)) if u.held_by_run.is_some() => "held".into(),
                (None, _) => "unknown".into(),
            };
            format!("{text:<20}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The reasons of a day's unknown metrics, grouped: "change failure rate,
/// recovery time: jira incomplete for PAY since …".
fn day_reasons(row: &DayRow) -> String {
    let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (metric, u) in &row.unknown {
        by_reason
            .entry(u.reason.as_str())
            .or_default()
            .push(metric.as_str());
    }
    by_reason
        .into_iter()
        .map(|(reason, metrics)| format!("{}: {reason}", metrics.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A team's daily table followed by its summary.
pub fn daily(r: &TeamReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "team {}: {} .. {} ({} days known, {} unknown of which {} held)",
        r.team, r.from, r.to, r.known_days, r.unknown_days, r.held_days
    );
    let _ = writeln!(
        out,
        "{:<10}  {:<20} {:<20} {:<20} {:<20}",
        "date", "deployments", "lead time", "change failure", "recovery"
    );
    // A reason is printed on the first day it applies; the days after it
    // with the same reason say "as above".
    let mut previous = String::new();
    for row in &r.days {
        let _ = write!(out, "{:<10}  {}", row.date, day_cells(row));
        let reasons = day_reasons(row);
        if !row.is_known() {
            if reasons == previous {
                out.push_str("  (as above)");
            } else {
                let _ = write!(out, "  ({reasons})");
            }
        }
        previous = reasons;
        out.push('\n');
    }
    out
}

/// Every (team, day, metric) as CSV, unknown days included.
pub fn csv(reports: &[TeamReport]) -> String {
    let mut out =
        String::from("team,date,metric,status,value,sample_size,definition_version,reason\n");
    for r in reports {
        for row in &r.days {
            for metric in Metric::ALL {
                let unknown = row.unknown.get(&metric);
                let reason = unknown.map_or(String::new(), |u| csv_field(&u.reason));
                let (status, value, n, version) = match row.metrics.get(&metric) {
                    None if unknown.is_some_and(|u| u.held_by_run.is_some()) => {
                        ("held", String::new(), String::new(), String::new())
                    }
                    None => ("unknown", String::new(), String::new(), String::new()),
                    Some(c) => (
                        if c.value.is_some() {
                            "known"
                        } else {
                            "no_data"
                        },
                        c.value.map_or(String::new(), |v| v.to_string()),
                        c.sample_size.to_string(),
                        c.definition_version.to_string(),
                    ),
                };
                let _ = writeln!(
                    out,
                    "{},{},{metric},{status},{value},{n},{version},{reason}",
                    r.team, row.date
                );
            }
        }
    }
    out
}
