//! The DORA metric definitions, version 2 (docs/metrics.md is the
//! contract), over silver records, as pure functions of a team's silver,
//! the definitions and where each repository's coverage begins.
//!
//! - A deployment is a successful production deployment from one of the
//!   definitions' `deployment_sources` ([`is_deployment`]); it happens when it
//!   finished.
//! - deployment_frequency: deployments finished that UTC day.
//! - lead_time_for_changes: median over the changes shipped by the day's
//!   deployments (linkage by commit history, [`linkage`]) of deployment
//!   finished − first commit, hours, after sample hygiene.
//! - change_failure_rate: share of the day's deployments linked to at least
//!   one incident; an incident links to the team's most recent deployment
//!   finished strictly before the incident was created, within
//!   `incident_link_window_hours`.
//! - failed_deployment_recovery_time: median over linked incidents resolved
//!   that day of resolved − the linked deployment's finish, hours.
//! - deployment_rework_rate: share of the day's deployments that are rework
//!   ([`rework`]).
//! - time_to_restore_service: median over incidents resolved that day of
//!   resolved − created, hours.

mod analysis;
mod behind;
pub mod linkage;
pub mod rework;

pub use behind::{Behind, DeploymentBehind, IncidentBehind, records_behind};

use chrono::{DateTime, NaiveDate, Utc};
use dorafleet_core::{Definitions, Metric};
use dorafleet_warehouse::{SilverDeployment, TeamSilver};
pub use linkage::{CoverageStarts, LinkTally};
use serde::Serialize;
use std::collections::BTreeMap;

/// One metric's observations on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayValue {
    /// The UTC day.
    pub date: NaiveDate,
    /// Which metric.
    pub metric: Metric,
    /// `None` when undefined (no observation that day).
    pub value: Option<f64>,
    /// How many observations the value rests on: deployments for the
    /// frequency and the failure rate, changes for lead time, linked
    /// incidents resolved that day for recovery time.
    pub sample_size: u64,
    /// Hours for the medians, 0/1 per deployment for the failure rate.
    pub samples: Vec<f64>,
}

/// Median with interpolation: the mean of the two middle values for an even count.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// Hours from `from` to `to`, fractional at millisecond precision; negative
/// when `to` is earlier.
pub fn hours_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 3_600_000.0
}

/// Whether a silver deployment counts as a deployment under `defs`.
pub fn is_deployment(d: &SilverDeployment, defs: &Definitions) -> bool {
    d.status.is_success()
        && d.finished_at.is_some()
        && defs.counts_as_deployment(d.source, &d.environment)
}

/// The value of `metric` from a day's (or a range's) samples.
pub fn value_of(metric: Metric, samples: &[f64]) -> Option<f64> {
    match metric {
        Metric::DeploymentFrequency => Some(samples.len() as f64),
        Metric::ChangeFailureRate | Metric::DeploymentReworkRate => {
            (!samples.is_empty()).then(|| samples.iter().sum::<f64>() / samples.len() as f64)
        }
        Metric::LeadTimeForChanges
        | Metric::FailedDeploymentRecoveryTime
        | Metric::TimeToRestoreService => median(samples),
    }
}

/// One change and the deployment that shipped it: the records behind a
/// lead-time sample, for people who ask why a number is what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeLink {
    /// The change's repository.
    pub repo: String,
    /// The pull request's number.
    pub number: u64,
    /// The pull request's title, when known.
    pub title: Option<String>,
    /// When it was merged.
    pub merged_at: DateTime<Utc>,
    /// Its first commit (author date).
    pub first_commit_at: DateTime<Utc>,
    /// The shipping deployment's key (`owner/repo#id`, `job#number`).
    pub deployment: String,
    /// When the deployment finished.
    pub deployed_at: DateTime<Utc>,
    /// Linked by time (the history could not tell) rather than by history.
    pub by_time: bool,
    /// The lead-time sample in hours; `None` when hygiene dropped it.
    pub lead_time_hours: Option<f64>,
    /// Why the sample was dropped.
    pub dropped: Option<String>,
    /// Whether the change marks its deployment as rework.
    pub rework: bool,
    /// The run that last normalized it.
    pub run_id: uuid::Uuid,
}

/// Every shipped change of a team with its deployment and lead time, and the
/// tally of linkage (changes merged before coverage are counted there, not
/// listed).
pub fn change_links(
    defs: &Definitions,
    silver: &TeamSilver,
    starts: &CoverageStarts,
) -> (Vec<ChangeLink>, LinkTally) {
    let analysis = analysis::analyse(defs, silver, starts);
    let links = (0..analysis.shipped.len())
        .map(|at| analysis.change_link(at))
        .collect();
    (links, analysis.tally)
}

/// The metrics of a team's days, and what linkage did on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    /// One value per requested day and metric, days outer, metrics inner.
    pub values: Vec<DayValue>,
    /// How changes were linked to deployments, and what was dropped.
    pub tally: LinkTally,
}

/// Every requested metric for every day in `days`, with each repository's
/// coverage starting where `starts` says.
pub fn compute(
    defs: &Definitions,
    silver: &TeamSilver,
    starts: &CoverageStarts,
    days: &[NaiveDate],
    metrics: &[Metric],
) -> Computed {
    let analysis = analysis::analyse(defs, silver, starts);
    let mut samples: BTreeMap<(NaiveDate, Metric), Vec<f64>> = BTreeMap::new();
    let mut add = |date: NaiveDate, metric: Metric, value: f64| {
        samples.entry((date, metric)).or_default().push(value);
    };
    for s in &analysis.shipped {
        if let Some(hours) = s.lead_time {
            add(
                analysis.finished(s.deployment).date_naive(),
                Metric::LeadTimeForChanges,
                hours,
            );
        }
    }
    for link in &analysis.incidents {
        let Some(resolved) = link.incident.resolved_at else {
            continue;
        };
        add(
            resolved.date_naive(),
            Metric::TimeToRestoreService,
            hours_between(link.incident.created_at, resolved),
        );
        if let Some(i) = link.measurable {
            add(
                resolved.date_naive(),
                Metric::FailedDeploymentRecoveryTime,
                hours_between(analysis.finished(i), resolved),
            );
        }
    }
    for i in 0..analysis.deployments.len() {
        let day = analysis.finished(i).date_naive();
        add(day, Metric::DeploymentFrequency, 1.0);
        add(
            day,
            Metric::ChangeFailureRate,
            f64::from(u8::from(analysis.failed[i])),
        );
        add(
            day,
            Metric::DeploymentReworkRate,
            f64::from(u8::from(analysis.rework[i])),
        );
    }

    let mut values = Vec::with_capacity(days.len() * metrics.len());
    for &date in days {
        for &metric in metrics {
            let day = samples.remove(&(date, metric)).unwrap_or_default();
            values.push(DayValue {
                date,
                metric,
                value: value_of(metric, &day),
                sample_size: day.len() as u64,
                // Deployment frequency needs only its count.
                samples: if metric == Metric::DeploymentFrequency {
                    Vec::new()
                } else {
                    day
                },
            });
        }
    }
    Computed {
        values,
        tally: analysis.tally,
    }
}

#[cfg(test)]
mod tests;
