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

pub mod linkage;
pub mod rework;

use chrono::{DateTime, Duration, NaiveDate, Utc};
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

/// The team's deployments in the order they happened: by finish, then
/// start, then key.
fn deployments_in_order<'a>(
    defs: &Definitions,
    silver: &'a TeamSilver,
) -> Vec<&'a SilverDeployment> {
    let mut deployments: Vec<&SilverDeployment> = silver
        .deployments
        .iter()
        .filter(|d| is_deployment(d, defs))
        .collect();
    deployments.sort_by(|a, b| {
        (a.finished_at, a.started_at, &a.key).cmp(&(b.finished_at, b.started_at, &b.key))
    });
    deployments
}

/// One change and the deployment that shipped it: the records behind a
/// lead-time sample, for people who ask why a number is what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeLink {
    /// The change's repository.
    pub repo: String,
    /// The pull request's number.
    pub number: u64,
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
}

/// Every shipped change of a team with its deployment and lead time, and the
/// tally of linkage (changes merged before coverage are counted there, not
/// listed).
pub fn change_links(
    defs: &Definitions,
    silver: &TeamSilver,
    starts: &CoverageStarts,
) -> (Vec<ChangeLink>, LinkTally) {
    let deployments = deployments_in_order(defs, silver);
    let mut tally = LinkTally::default();
    let shipped = linkage::ship(
        defs,
        &silver.changes,
        &silver.commits,
        &deployments,
        starts,
        &mut tally,
    );
    let links = shipped
        .into_iter()
        .map(|s| {
            let d = deployments[s.deployment];
            ChangeLink {
                repo: s.change.repo.clone(),
                number: s.change.number,
                deployment: d.key.clone(),
                deployed_at: d.finished_at.unwrap_or(d.started_at),
                by_time: s.by_time,
                lead_time_hours: s.lead_time,
                dropped: s.dropped.map(str::to_owned),
            }
        })
        .collect();
    (links, tally)
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
    let deployments = deployments_in_order(defs, silver);
    let finished = |i: usize| {
        deployments[i]
            .finished_at
            .unwrap_or(deployments[i].started_at)
    };

    let mut samples: BTreeMap<(NaiveDate, Metric), Vec<f64>> = BTreeMap::new();
    let mut add = |date: NaiveDate, metric: Metric, value: f64| {
        samples.entry((date, metric)).or_default().push(value);
    };

    let mut tally = LinkTally::default();
    let shipped = linkage::ship(
        defs,
        &silver.changes,
        &silver.commits,
        &deployments,
        starts,
        &mut tally,
    );
    let incidents: Vec<_> = silver
        .incidents
        .iter()
        .filter(|i| defs.counts_as_incident(&i.issue_type, i.priority.as_deref()))
        .collect();
    let rules = rework::Rework::new(defs, incidents.iter().map(|i| i.key.clone()));
    let mut rework: Vec<bool> = deployments.iter().map(|d| rules.is_rework_ref(d)).collect();
    for s in &shipped {
        if let Some(hours) = s.lead_time {
            add(
                finished(s.deployment).date_naive(),
                Metric::LeadTimeForChanges,
                hours,
            );
        }
        if !rework[s.deployment] && rules.is_rework_change(s.change) {
            rework[s.deployment] = true;
        }
    }

    let window = Duration::hours(i64::from(defs.incident_link_window_hours));
    let mut failed = vec![false; deployments.len()];
    for incident in incidents {
        let before = deployments.partition_point(|d| d.finished_at < Some(incident.created_at));
        let linked = before
            .checked_sub(1)
            .filter(|&i| incident.created_at - finished(i) <= window);
        if let Some(i) = linked {
            failed[i] = true;
        }
        // Recovery is measured only from a deployment after every scope's
        // coverage began: before, a later deployment of another scope may
        // be unread (the failed one), and with none in the window the failed
        // one may lie before coverage.
        let measurable =
            linked.filter(|&i| starts.latest().is_none_or(|start| finished(i) >= start));
        let window_before_coverage = starts
            .latest()
            .is_some_and(|start| incident.created_at - window < start);
        if measurable.is_none() && (linked.is_some() || window_before_coverage) {
            tally.count(linkage::INCIDENT_LINK_BEFORE_COVERAGE);
        }
        let Some(resolved) = incident.resolved_at else {
            continue;
        };
        add(
            resolved.date_naive(),
            Metric::TimeToRestoreService,
            hours_between(incident.created_at, resolved),
        );
        if let Some(i) = measurable {
            add(
                resolved.date_naive(),
                Metric::FailedDeploymentRecoveryTime,
                hours_between(finished(i), resolved),
            );
        }
    }
    for i in 0..deployments.len() {
        let day = finished(i).date_naive();
        add(day, Metric::DeploymentFrequency, 1.0);
        add(
            day,
            Metric::ChangeFailureRate,
            f64::from(u8::from(failed[i])),
        );
        add(
            day,
            Metric::DeploymentReworkRate,
            f64::from(u8::from(rework[i])),
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
    Computed { values, tally }
}

#[cfg(test)]
mod tests;
