//! Reading gold back for people: a team's days over a range, each metric of
//! each day shown as a value, "no data" (complete inputs, nothing happened),
//! "held" (a sensor distrusts an input) or "unknown" with the input that is
//! missing — per metric, since a Jira outage blanks the incident metrics
//! only — and the range summarised with DORA performance levels.
//!
//! Range values are computed from the stored samples, not from daily values:
//! the median lead time of a month is the median of all its changes, not a
//! median of daily medians. Deployment frequency is summarised both as
//! deployments per day and as deploy days per week and per month, and its
//! level comes from the deploy days (see [`level`]).

mod level;

pub use level::{DeployDays, Level, deploy_days, level};

use crate::metrics::value_of;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use dorafleet_core::config::no_level_reason;
use dorafleet_core::{Definitions, LevelThresholds, Metric, Source};
use dorafleet_warehouse::{GoldRecord, Hold};
use serde::Serialize;
use std::collections::BTreeMap;

/// One metric over a report's whole range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSummary {
    /// Which metric.
    pub metric: Metric,
    /// Days of the range with gold for this metric.
    pub known_days: usize,
    /// Days without (inputs incomplete, or held).
    pub unknown_days: usize,
    /// Unknown days an open hold keeps out (part of `unknown_days`).
    pub held_days: usize,
    /// Why the first unknown day is unknown, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_reason: Option<String>,
    /// Deployments per day for frequency; the range median or rate otherwise.
    pub value: Option<f64>,
    /// Deployments for frequency; the samples over the range otherwise.
    pub sample_size: u64,
    /// Frequency only: the known days with at least one deployment, per
    /// week and per month (what its level is rated by).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_days: Option<DeployDays>,
    /// The level the value earns (for frequency: its deploy days per week);
    /// `None` without a value, or for a metric without levels.
    pub level: Option<Level>,
    /// Why the metric has no level whatever its value, when it has none
    /// (the deployment rework rate: no DORA report gives clusters for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_level_reason: Option<&'static str>,
}

/// Which DORA report's table gave a report its levels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelsUsed {
    /// The report year.
    pub year: u16,
    /// The report.
    pub source: &'static str,
    /// Whether `[levels]` overrides replaced rows of the report's table.
    pub overridden: bool,
}

/// One day of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayRow {
    /// The UTC day.
    pub date: NaiveDate,
    /// The metrics gold holds for the day.
    pub metrics: BTreeMap<Metric, DayCell>,
    /// The metrics it does not hold, each with why.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<Metric, Unknown>,
}

impl DayRow {
    /// Whether every metric is known that day.
    pub fn is_known(&self) -> bool {
        self.unknown.is_empty()
    }
}

/// Why one metric of one day has no gold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unknown {
    /// The missing input, e.g. "jira incomplete for PAY since 2026-11-03",
    /// or the hold that keeps it out.
    pub reason: String,
    /// The run whose open hold keeps the day out, when it is held: unknown
    /// because a sensor distrusted an input, not because it is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by_run: Option<uuid::Uuid>,
}

/// What one scope of a team has been extracted over: the inputs a report
/// names when a metric is unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeCoverage {
    /// The scope's source.
    pub source: Source,
    /// Repository, project or job.
    pub target: String,
    /// The extracted span, `None` if never extracted.
    pub covered: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Why `day` has no gold for a metric reading `inputs`: the first input
/// scope that does not cover it, else "not computed yet".
pub fn why_unknown(day: NaiveDate, inputs: &[Source], scopes: &[ScopeCoverage]) -> String {
    let (start, end) = (day_start(day), day_start(day + Duration::days(1)));
    for scope in scopes.iter().filter(|s| inputs.contains(&s.source)) {
        let (source, target) = (scope.source, &scope.target);
        match scope.covered {
            None => return format!("{source} {target} never extracted"),
            Some((from, _)) if start < from => {
                return format!(
                    "{source} {target} not extracted before {}",
                    from.date_naive()
                );
            }
            Some((_, to)) if end > to => {
                return format!(
                    "{source} incomplete for {target} since {}",
                    to.format("%Y-%m-%d %H:%M")
                );
            }
            Some(_) => {}
        }
    }
    "inputs complete; not computed yet (the day is not over, or no run since)".into()
}

/// One metric on one known day, as stored in gold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayCell {
    /// The day's value; `None` when undefined (e.g. no deployment for the
    /// failure rate).
    pub value: Option<f64>,
    /// How many observations the value rests on.
    pub sample_size: u64,
    /// The version of the metric definitions the value was computed under.
    pub definition_version: u32,
}

/// A team's gold over a range of days, day by day and summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamReport {
    /// The team's id.
    pub team: String,
    /// The first day (UTC).
    pub from: NaiveDate,
    /// Exclusive.
    pub to: NaiveDate,
    /// Days with gold.
    pub known_days: usize,
    /// Days without gold (inputs incomplete, or held).
    pub unknown_days: usize,
    /// Unknown days an open hold keeps out of gold (part of `unknown_days`).
    pub held_days: usize,
    /// Every day of `[from, to)`, in order.
    pub days: Vec<DayRow>,
    /// One summary per metric, in [`Metric::ALL`] order.
    pub summary: Vec<MetricSummary>,
    /// The weakest level among the metrics that have one.
    pub overall: Option<Level>,
    /// The DORA report table the levels come from.
    pub levels: LevelsUsed,
}

/// Build a team's report over `[from, to)` from its gold records, with
/// levels from `thresholds` (a DORA report year's table).
pub fn team_report(
    team: &str,
    gold: &[GoldRecord],
    from: NaiveDate,
    to: NaiveDate,
    thresholds: &LevelThresholds,
) -> TeamReport {
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<Metric, &GoldRecord>> = BTreeMap::new();
    for g in gold
        .iter()
        .filter(|g| g.team_id == team && g.date >= from && g.date < to)
    {
        by_day.entry(g.date).or_default().insert(g.metric, g);
    }
    let mut days = Vec::new();
    let mut samples: BTreeMap<Metric, Vec<f64>> = BTreeMap::new();
    let mut deployments = 0.0;
    let mut deploy_day_count = 0u64;
    let mut date = from;
    while date < to {
        let mut row = DayRow {
            date,
            metrics: BTreeMap::new(),
            unknown: BTreeMap::new(),
        };
        let stored = by_day.get(&date);
        for metric in Metric::ALL {
            match stored.and_then(|m| m.get(&metric)) {
                Some(g) => {
                    if metric == Metric::DeploymentFrequency {
                        let count = g.value.unwrap_or(0.0);
                        deployments += count;
                        deploy_day_count += u64::from(count >= 1.0);
                    } else {
                        samples.entry(metric).or_default().extend(&g.samples);
                    }
                    row.metrics.insert(
                        metric,
                        DayCell {
                            value: g.value,
                            sample_size: g.sample_size,
                            definition_version: g.definition_version,
                        },
                    );
                }
                None => {
                    row.unknown.insert(
                        metric,
                        Unknown {
                            reason: "no gold".into(),
                            held_by_run: None,
                        },
                    );
                }
            }
        }
        days.push(row);
        date += Duration::days(1);
    }
    let known_days = days.iter().filter(|d| d.is_known()).count();
    let summary: Vec<MetricSummary> = Metric::ALL
        .into_iter()
        .map(|metric| {
            let known = days
                .iter()
                .filter(|d| d.metrics.contains_key(&metric))
                .count();
            let (value, n, deploys, rated) = if metric == Metric::DeploymentFrequency {
                let per_day = (known > 0).then(|| deployments / known as f64);
                let deploys = deploy_days(deploy_day_count, known);
                (
                    per_day,
                    deployments as u64,
                    deploys,
                    deploys.map(|d| d.per_week),
                )
            } else {
                let s = samples.get(&metric).map_or(&[][..], Vec::as_slice);
                let value = value_of(metric, s);
                (value, s.len() as u64, None, value)
            };
            MetricSummary {
                metric,
                known_days: known,
                unknown_days: days.len() - known,
                held_days: 0,
                unknown_reason: None,
                value,
                sample_size: n,
                deploy_days: deploys,
                level: rated.and_then(|v| level(metric, v, thresholds)),
                no_level_reason: no_level_reason(metric),
            }
        })
        .collect();
    let mut report = TeamReport {
        team: team.to_owned(),
        from,
        to,
        known_days,
        unknown_days: days.len() - known_days,
        held_days: 0,
        overall: summary.iter().filter_map(|s| s.level).min(),
        days,
        summary,
        levels: LevelsUsed {
            year: thresholds.year,
            source: thresholds.source,
            overridden: thresholds.overridden,
        },
    };
    report.count_unknowns();
    report
}

impl TeamReport {
    /// Say why each unknown metric of each day is unknown: held by an open
    /// hold on one of its inputs (`holds`, this team's), or the input scope
    /// that does not cover the day (`scopes`, the team's coverage).
    pub fn explain_unknowns(
        &mut self,
        definitions: &Definitions,
        scopes: &[ScopeCoverage],
        holds: &[Hold],
    ) {
        for row in &mut self.days {
            for (metric, unknown) in &mut row.unknown {
                let inputs = definitions.inputs(*metric);
                let hold = holds
                    .iter()
                    .find(|h| h.team_id == self.team && h.holds_day_for(row.date, &inputs));
                *unknown = match hold {
                    Some(h) => Unknown {
                        reason: format!(
                            "held by the {} sensor on {} (dorafleet runs show {})",
                            h.sensor,
                            h.scope.as_deref().unwrap_or("the team's inputs"),
                            h.run_id
                        ),
                        held_by_run: Some(h.run_id),
                    },
                    None => Unknown {
                        reason: why_unknown(row.date, &inputs, scopes),
                        held_by_run: None,
                    },
                };
            }
        }
        self.count_unknowns();
    }

    fn count_unknowns(&mut self) {
        let held = |row: &DayRow, metric: &Metric| {
            row.unknown
                .get(metric)
                .is_some_and(|u| u.held_by_run.is_some())
        };
        for summary in &mut self.summary {
            summary.held_days = self
                .days
                .iter()
                .filter(|r| held(r, &summary.metric))
                .count();
            summary.unknown_reason = self
                .days
                .iter()
                .find_map(|r| r.unknown.get(&summary.metric))
                .map(|u| u.reason.clone());
        }
        self.held_days = self
            .days
            .iter()
            .filter(|r| r.unknown.values().any(|u| u.held_by_run.is_some()))
            .count();
    }
}

#[cfg(test)]
mod tests;
