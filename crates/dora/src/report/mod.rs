//! Reading gold back for people: a team's days over a range, each metric of
//! each day shown as a value, "no data" (complete inputs, nothing happened),
//! "held" (a sensor distrusts an input) or "unknown" with the input that is
//! missing — per metric, since a Jira outage blanks the incident metrics
//! only — and the range summarised with DORA performance levels.
//!
//! Range values are computed from the stored samples, not from daily values:
//! the median lead time of a month is the median of all its changes, not a
//! median of daily medians.

use crate::metrics::value_of;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use dorafleet_core::{Definitions, LevelThresholds, Metric, Source};
use dorafleet_warehouse::{GoldRecord, Hold};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A DORA performance level, ordered from worst (`Low`) to best (`Elite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Meets none of the thresholds.
    Low,
    /// Meets the medium threshold.
    Medium,
    /// Meets the high threshold.
    High,
    /// Meets the elite threshold.
    Elite,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Elite => "elite",
            Level::High => "high",
            Level::Medium => "medium",
            Level::Low => "low",
        })
    }
}

/// The level a range value earns under `t`.
pub fn level(metric: Metric, value: f64, t: &LevelThresholds) -> Level {
    let (bounds, higher_is_better) = match metric {
        Metric::DeploymentFrequency => (&t.deployments_per_day, true),
        Metric::LeadTimeForChanges => (&t.lead_time_hours, false),
        Metric::ChangeFailureRate => (&t.change_failure_rate, false),
        Metric::FailedDeploymentRecoveryTime | Metric::TimeToRestoreService => {
            (&t.recovery_hours, false)
        }
        // Placeholder until levels are chosen by report year.
        Metric::DeploymentReworkRate => (&t.change_failure_rate, false),
    };
    let meets = |bound: f64| {
        if higher_is_better {
            value >= bound
        } else if matches!(
            metric,
            Metric::ChangeFailureRate | Metric::DeploymentReworkRate
        ) {
            value <= bound
        } else {
            value < bound
        }
    };
    [Level::Elite, Level::High, Level::Medium]
        .into_iter()
        .zip(bounds)
        .find(|(_, b)| meets(**b))
        .map_or(Level::Low, |(l, _)| l)
}

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
    /// The level `value` earns; `None` without a value.
    pub level: Option<Level>,
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
    /// The weakest level among the metrics that have a value.
    pub overall: Option<Level>,
}

/// Build a team's report over `[from, to)` from its gold records.
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
                        deployments += g.value.unwrap_or(0.0);
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
            let (value, n) = if metric == Metric::DeploymentFrequency {
                let per_day = (known > 0).then(|| deployments / known as f64);
                (per_day, deployments as u64)
            } else {
                let s = samples.get(&metric).map_or(&[][..], Vec::as_slice);
                (value_of(metric, s), s.len() as u64)
            };
            MetricSummary {
                metric,
                known_days: known,
                unknown_days: days.len() - known,
                held_days: 0,
                unknown_reason: None,
                value,
                sample_size: n,
                level: value.map(|v| level(metric, v, thresholds)),
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
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn g(day: u32, metric: Metric, value: Option<f64>, samples: Vec<f64>) -> GoldRecord {
        GoldRecord {
            date: NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
            team_id: "t".into(),
            metric,
            value,
            sample_size: if metric == Metric::DeploymentFrequency {
                value.unwrap_or(0.0) as u64
            } else {
                samples.len() as u64
            },
            samples,
            definition_version: 1,
            run_id: Uuid::nil(),
            computed_at: Utc::now(),
            complete: true,
        }
    }

    #[test]
    fn a_metric_without_gold_is_unknown_alone_and_names_the_missing_input() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let gold = vec![
            g(1, Metric::DeploymentFrequency, Some(1.0), vec![]),
            g(1, Metric::LeadTimeForChanges, Some(2.0), vec![2.0]),
        ];
        let mut r = team_report(
            "t",
            &gold,
            d,
            d + Duration::days(1),
            &LevelThresholds::default(),
        );
        let at = |h: u32| d.and_hms_opt(h, 0, 0).unwrap().and_utc();
        let scopes = vec![
            ScopeCoverage {
                source: Source::Github,
                target: "acme/api".into(),
                covered: Some((at(0) - Duration::days(9), at(0) + Duration::days(2))),
            },
            ScopeCoverage {
                source: Source::Jira,
                target: "PAY".into(),
                covered: Some((at(0) - Duration::days(9), at(7))),
            },
        ];
        r.explain_unknowns(&Definitions::default(), &scopes, &[]);
        let day = &r.days[0];
        assert_eq!(
            day.metrics.len(),
            2,
            "deployment frequency and lead time are known"
        );
        assert_eq!(
            day.unknown[&Metric::ChangeFailureRate].reason,
            "jira incomplete for PAY since 2026-03-01 07:00"
        );
        assert_eq!(r.summary[0].known_days, 1);
        assert_eq!(r.summary[2].known_days, 0);
        assert_eq!(
            r.summary[3].unknown_reason.as_deref(),
            Some("jira incomplete for PAY since 2026-03-01 07:00")
        );
    }

    #[test]
    fn levels_follow_the_dora_thresholds() {
        let t = LevelThresholds::default();
        assert_eq!(level(Metric::DeploymentFrequency, 2.0, &t), Level::Elite);
        assert_eq!(level(Metric::DeploymentFrequency, 0.2, &t), Level::High);
        assert_eq!(level(Metric::DeploymentFrequency, 0.01, &t), Level::Low);
        assert_eq!(level(Metric::LeadTimeForChanges, 30.0, &t), Level::High);
        assert_eq!(level(Metric::ChangeFailureRate, 0.05, &t), Level::Elite);
        assert_eq!(level(Metric::ChangeFailureRate, 0.5, &t), Level::Low);
        assert_eq!(
            level(Metric::FailedDeploymentRecoveryTime, 0.5, &t),
            Level::Elite
        );
    }

    #[test]
    fn a_range_summary_uses_every_sample_and_shows_unknown_days() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let gold = vec![
            g(1, Metric::DeploymentFrequency, Some(2.0), vec![]),
            g(1, Metric::LeadTimeForChanges, Some(2.0), vec![1.0, 3.0]),
            g(1, Metric::ChangeFailureRate, Some(0.5), vec![0.0, 1.0]),
            g(3, Metric::DeploymentFrequency, Some(0.0), vec![]),
            g(3, Metric::LeadTimeForChanges, Some(10.0), vec![10.0]),
            g(3, Metric::ChangeFailureRate, None, vec![]),
            g(1, Metric::FailedDeploymentRecoveryTime, None, vec![]),
            g(3, Metric::FailedDeploymentRecoveryTime, None, vec![]),
        ];
        let r = team_report(
            "t",
            &gold,
            d,
            d + Duration::days(3),
            &LevelThresholds::default(),
        );
        assert_eq!((r.known_days, r.unknown_days), (2, 1));
        assert!(r.days[1].metrics.is_empty(), "the 2nd is unknown");
        assert!(!r.days[1].is_known());
        assert_eq!(r.summary[3].known_days, 2);
        let lead = &r.summary[1];
        assert_eq!(
            (lead.value, lead.sample_size),
            (Some(3.0), 3),
            "median of all samples"
        );
        assert_eq!(
            r.summary[0].value,
            Some(1.0),
            "2 deployments over 2 known days"
        );
        assert_eq!(r.summary[2].value, Some(0.5));
        assert_eq!(r.summary[3].value, None);
        assert_eq!(r.overall, Some(Level::Low), "a 50 % failure rate is low");
    }
}
