//! Reading gold back for people: a team's days over a range, each shown as
//! a value, "no data" (complete inputs, nothing happened) or "unknown" (no
//! gold: inputs incomplete), and the range summarised with DORA performance
//! levels.
//!
//! Range values are computed from the stored samples, not from daily values:
//! the median lead time of a month is the median of all its changes, not a
//! median of daily medians.

use crate::metrics::value_of;
use chrono::{Duration, NaiveDate};
use dorafleet_core::{LevelThresholds, Metric};
use dorafleet_warehouse::GoldRecord;
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
        Metric::FailedDeploymentRecoveryTime => (&t.recovery_hours, false),
    };
    let meets = |bound: f64| {
        if higher_is_better {
            value >= bound
        } else if metric == Metric::ChangeFailureRate {
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
    /// `None`: unknown (no gold for that day).
    pub metrics: Option<BTreeMap<Metric, DayCell>>,
    /// The run whose open hold keeps this day out of gold, if any: unknown
    /// because a sensor distrusted the inputs, not because they are missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by_run: Option<uuid::Uuid>,
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
        let row = by_day.get(&date).map(|metrics| {
            metrics
                .iter()
                .map(|(m, g)| {
                    if *m == Metric::DeploymentFrequency {
                        deployments += g.value.unwrap_or(0.0);
                    } else {
                        samples.entry(*m).or_default().extend(&g.samples);
                    }
                    let cell = DayCell {
                        value: g.value,
                        sample_size: g.sample_size,
                        definition_version: g.definition_version,
                    };
                    (*m, cell)
                })
                .collect()
        });
        days.push(DayRow {
            date,
            metrics: row,
            held_by_run: None,
        });
        date += Duration::days(1);
    }
    let known_days = days.iter().filter(|d| d.metrics.is_some()).count();
    let summary: Vec<MetricSummary> = Metric::ALL
        .into_iter()
        .map(|metric| {
            let (value, n) = if metric == Metric::DeploymentFrequency {
                let per_day = (known_days > 0).then(|| deployments / known_days as f64);
                (per_day, deployments as u64)
            } else {
                let s = samples.get(&metric).map_or(&[][..], Vec::as_slice);
                (value_of(metric, s), s.len() as u64)
            };
            MetricSummary {
                metric,
                value,
                sample_size: n,
                level: value.map(|v| level(metric, v, thresholds)),
            }
        })
        .collect();
    TeamReport {
        team: team.to_owned(),
        from,
        to,
        known_days,
        unknown_days: days.len() - known_days,
        held_days: 0,
        overall: summary.iter().filter_map(|s| s.level).min(),
        days,
        summary,
    }
}

impl TeamReport {
    /// Mark the unknown days that `holds` (open holds of this team) cover.
    pub fn mark_held(&mut self, holds: &[dorafleet_warehouse::Hold]) {
        for row in self.days.iter_mut().filter(|r| r.metrics.is_none()) {
            row.held_by_run = holds
                .iter()
                .find(|h| h.team_id == self.team && h.holds_day(row.date))
                .map(|h| h.run_id);
        }
        self.held_days = self.days.iter().filter(|r| r.held_by_run.is_some()).count();
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
        ];
        let r = team_report(
            "t",
            &gold,
            d,
            d + Duration::days(3),
            &LevelThresholds::default(),
        );
        assert_eq!((r.known_days, r.unknown_days), (2, 1));
        assert!(r.days[1].metrics.is_none(), "the 2nd is unknown");
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
