//! Rendering DORA reports: per-team summary tables, daily tables, CSV (per
//! day, or per team and metric for the summary), every metric of
//! [`Metric::ALL`].

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
        (Metric::ChangeFailureRate | Metric::DeploymentReworkRate, Some(v)) => {
            format!("{:.1}%", v * 100.0)
        }
        (_, Some(v)) => format!("{v:.1} h"),
    }
}

/// A metric's column header in the daily table.
fn short_name(metric: Metric) -> &'static str {
    match metric {
        Metric::DeploymentFrequency => "deployments",
        Metric::LeadTimeForChanges => "lead time",
        Metric::ChangeFailureRate => "change failure",
        Metric::FailedDeploymentRecoveryTime => "recovery",
        Metric::DeploymentReworkRate => "rework",
        Metric::TimeToRestoreService => "restore",
    }
}

/// A metric's column header in the summary table.
fn summary_name(metric: Metric) -> &'static str {
    match metric {
        Metric::DeploymentFrequency => "deploy days",
        Metric::LeadTimeForChanges => "lead time for changes",
        Metric::ChangeFailureRate => "change failure rate",
        Metric::FailedDeploymentRecoveryTime => "recovery time",
        Metric::DeploymentReworkRate => "rework rate",
        Metric::TimeToRestoreService => "time to restore",
    }
}

/// A summary cell: the value with its level, "unknown"/"held" without a
/// known day; a metric without levels shows "—" for its level. Frequency's
/// cell is its deploy days per week and per month, which its level rates.
fn summary_cell(s: &MetricSummary) -> String {
    if s.known_days == 0 && s.unknown_days > 0 {
        return if s.held_days > 0 { "held" } else { "unknown" }.into();
    }
    let level = s.level.map_or("—".to_owned(), |l| l.to_string());
    match (s.metric, s.deploy_days, s.value) {
        (Metric::DeploymentFrequency, Some(d), _) => {
            format!("{:.1}/wk {:.1}/mo ({level})", d.per_week, d.per_month)
        }
        (_, _, None) => "-".into(),
        (metric, _, value) => format!("{} ({level})", fmt_value(metric, value)),
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
/// with levels has no known day at all (its level is not known either).
fn overall(r: &TeamReport) -> String {
    let partial = r
        .summary
        .iter()
        .any(|s| s.known_days == 0 && s.no_level_reason.is_none());
    match (r.overall, partial) {
        (None, _) => "-".into(),
        (Some(l), false) => l.to_string(),
        (Some(l), true) => format!("{l} (partial)"),
    }
}

/// The table the levels come from, and the metrics that have none.
fn levels_note(reports: &[TeamReport]) -> String {
    let mut out = String::new();
    let mut seen = Vec::new();
    for r in reports {
        let l = &r.levels;
        if !seen.contains(&(l.year, l.overridden)) {
            seen.push((l.year, l.overridden));
            let _ = writeln!(
                out,
                "levels: {}{}; deployment frequency by deploy days per week",
                l.source,
                if l.overridden {
                    ", with [levels] overrides"
                } else {
                    ""
                }
            );
        }
    }
    let mut no_level: Vec<(Metric, &str)> = Vec::new();
    for s in reports.iter().flat_map(|r| &r.summary) {
        if let Some(why) = s.no_level_reason
            && !no_level.iter().any(|(m, _)| *m == s.metric)
        {
            no_level.push((s.metric, why));
        }
    }
    for (metric, why) in no_level {
        let _ = writeln!(out, "  {metric}: level —, {why}");
    }
    out
}

const SUMMARY_WIDTHS: [usize; 6] = [24, 22, 19, 18, 15, 18];

/// One line per team: the range summary with levels. "full days" counts the
/// days every metric is known.
pub fn summaries(reports: &[TeamReport]) -> String {
    let mut out = String::new();
    let header: Vec<String> = Metric::ALL
        .iter()
        .zip(SUMMARY_WIDTHS)
        .map(|(m, w)| format!("{:<w$}", summary_name(*m)))
        .collect();
    let _ = writeln!(
        out,
        "{:<12} {:>10} {:<12} {} {:<8}",
        "team",
        "full days",
        "deploys/day",
        header.join(" "),
        "overall"
    );
    for r in reports {
        let cells: Vec<String> = r
            .summary
            .iter()
            .zip(SUMMARY_WIDTHS)
            .map(|(s, w)| format!("{:<w$}", summary_cell(s)))
            .collect();
        let per_day = r
            .summary
            .iter()
            .find(|s| s.metric == Metric::DeploymentFrequency)
            .map_or("-".into(), |s| fmt_value(s.metric, s.value));
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:<12} {} {:<8}",
            r.team,
            format!("{}/{}", r.known_days, r.known_days + r.unknown_days),
            per_day,
            cells.join(" "),
            overall(r)
        );
    }
    out.push_str(&levels_note(reports));
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
    let header: Vec<String> = Metric::ALL
        .iter()
        .map(|m| format!("{:<20}", short_name(*m)))
        .collect();
    let _ = writeln!(out, "{:<10}  {}", "date", header.join(" "));
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

/// One row per (team, metric) over the range: the summary with its level.
pub fn summary_csv(reports: &[TeamReport]) -> String {
    let mut out = String::from(
        "team,from,to,metric,known_days,unknown_days,held_days,value,sample_size,\
         deploy_days,deploy_days_per_week,deploy_days_per_month,level,levels_year,\
         no_level_reason,unknown_reason\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for r in reports {
        for s in &r.summary {
            let d = s.deploy_days;
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.team,
                r.from,
                r.to,
                s.metric,
                s.known_days,
                s.unknown_days,
                s.held_days,
                opt(s.value),
                s.sample_size,
                d.map_or(String::new(), |d| d.days.to_string()),
                opt(d.map(|d| d.per_week)),
                opt(d.map(|d| d.per_month)),
                s.level.map_or(String::new(), |l| l.to_string()),
                r.levels.year,
                s.no_level_reason.map_or(String::new(), csv_field),
                s.unknown_reason.as_deref().map_or(String::new(), csv_field),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};
    use dorafleet_core::LevelThresholds;
    use dorafleet_dora::report::team_report;
    use dorafleet_warehouse::GoldRecord;

    fn report() -> TeamReport {
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let gold: Vec<GoldRecord> = Metric::ALL
            .into_iter()
            .map(|metric| GoldRecord {
                date: day,
                team_id: "pay".into(),
                metric,
                value: Some(if metric == Metric::DeploymentFrequency {
                    2.0
                } else {
                    0.1
                }),
                sample_size: 1,
                samples: vec![0.1],
                definition_version: 1,
                run_id: uuid::Uuid::nil(),
                computed_at: Utc::now(),
                complete: true,
            })
            .collect();
        let to = day + chrono::Duration::days(2);
        team_report("pay", &gold, day, to, &LevelThresholds::default())
    }

    #[test]
    fn every_metric_has_a_column_in_the_tables_and_rows_in_both_csvs() {
        let r = report();
        let table = summaries(std::slice::from_ref(&r));
        for name in Metric::ALL.map(summary_name) {
            assert!(table.contains(name), "{name}: {table}");
        }
        assert!(table.contains("State of DevOps Report 2024"), "{table}");
        assert!(
            table.contains("(—)"),
            "the rework rate has no level: {table}"
        );
        assert!(table.contains("deployment_rework_rate: level —"), "{table}");
        let daily = daily(&r);
        for name in Metric::ALL.map(short_name) {
            assert!(daily.lines().nth(1).unwrap().contains(name), "{daily}");
        }
        assert_eq!(csv(std::slice::from_ref(&r)).lines().count(), 1 + 2 * 6);
        let summary = summary_csv(std::slice::from_ref(&r));
        assert_eq!(summary.lines().count(), 1 + 6, "{summary}");
        let freq = summary
            .lines()
            .find(|l| l.contains(",deployment_frequency,"))
            .unwrap();
        // 1 deploy day of 1 known day: 7 a week, 30.44 a month, elite.
        assert!(freq.contains(",1,7,30.44,elite,2024,"), "{freq}");
        assert!(
            summary.contains(",deployment_rework_rate,")
                && summary.contains("no DORA report gives"),
            "{summary}"
        );
    }
}
