//! Rendering DORA reports: per-team summary tables, daily tables, CSV.

use dorafleet_core::Metric;
use dorafleet_dora::report::{DayRow, MetricSummary, TeamReport};
use std::fmt::Write;

fn fmt_value(metric: Metric, value: Option<f64>) -> String {
    match (metric, value) {
        (_, None) => "-".into(),
        (Metric::DeploymentFrequency, Some(v)) => format!("{v:.2}/day"),
        (Metric::ChangeFailureRate, Some(v)) => format!("{:.1}%", v * 100.0),
        (_, Some(v)) => format!("{v:.1} h"),
    }
}

fn summary_cell(s: &MetricSummary) -> String {
    match s.level {
        Some(level) => format!("{} ({level})", fmt_value(s.metric, s.value)),
        None => "-".into(),
    }
}

/// One line per team: the range summary with levels.
pub fn summaries(reports: &[TeamReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>10} {:<22} {:<22} {:<20} {:<22} {:<8}",
        "team",
        "known days",
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
            r.overall.map_or("-".into(), |l| l.to_string())
        );
    }
    out
}

fn day_cells(row: &DayRow) -> String {
    match (&row.metrics, row.held_by_run) {
        (None, Some(run)) => format!("unknown: held by a sensor (dorafleet runs show {run})"),
        (None, None) => "unknown (inputs incomplete)".into(),
        (Some(m), _) => Metric::ALL
            .iter()
            .map(|metric| {
                let cell = m.get(metric);
                let text = match cell {
                    None => "unknown".into(),
                    Some(c) if *metric == Metric::DeploymentFrequency => {
                        let v = c.value.unwrap_or(0.0);
                        if v == 0.0 {
                            "0 (verified)".into()
                        } else {
                            format!("{v}")
                        }
                    }
                    Some(c) => match c.value {
                        None => "no data".into(),
                        Some(_) => format!("{} (n={})", fmt_value(*metric, c.value), c.sample_size),
                    },
                };
                format!("{text:<20}")
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
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
    for row in &r.days {
        let _ = writeln!(out, "{:<10}  {}", row.date, day_cells(row));
    }
    out
}

/// Every (team, day, metric) as CSV, unknown days included.
pub fn csv(reports: &[TeamReport]) -> String {
    let mut out = String::from("team,date,metric,status,value,sample_size,definition_version\n");
    for r in reports {
        for row in &r.days {
            for metric in Metric::ALL {
                let cell = row.metrics.as_ref().and_then(|m| m.get(&metric));
                let (status, value, n, version) = match cell {
                    None if row.held_by_run.is_some() => {
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
                    "{},{},{metric},{status},{value},{n},{version}",
                    r.team, row.date
                );
            }
        }
    }
    out
}
