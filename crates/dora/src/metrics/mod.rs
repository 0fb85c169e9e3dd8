//! The DORA metric definitions (version 1, see docs/architecture.md) over
//! silver records, as pure functions of a team's silver and the definitions.
//!
//! - A deployment is a successful production deployment from one of the
//!   definitions' `deployment_sources`: a GitHub deployment in a production
//!   environment whose latest status is `success`, or a successful build of
//!   a configured deploy job ([`Definitions::counts_as_deployment`]); it
//!   happens when it finished.
//! - deployment_frequency: deployments finished that UTC day.
//! - lead_time_for_changes: median (interpolated) over changes whose deploying
//!   deployment — the first of the same repo finished at or after the merge —
//!   finished that day, of deployment finished − first commit authored, hours.
//! - change_failure_rate: share of the day's deployments linked to at least
//!   one incident; an incident links to the team's most recent deployment
//!   finished strictly before the incident was created.
//! - failed_deployment_recovery_time: median over incidents resolved that day
//!   and linked to a deployment, of resolved − created, in hours.

use chrono::{DateTime, NaiveDate, Utc};
use dorafleet_core::{Definitions, Metric};
use dorafleet_warehouse::{SilverDeployment, TeamSilver};
use std::collections::{BTreeMap, HashMap};

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

/// Every requested metric for every day in `days`.
pub fn compute(
    defs: &Definitions,
    silver: &TeamSilver,
    days: &[NaiveDate],
    metrics: &[Metric],
) -> Vec<DayValue> {
    let mut deployments: Vec<DateTime<Utc>> = Vec::new();
    let mut by_repo: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
    for d in silver.deployments.iter().filter(|d| is_deployment(d, defs)) {
        let Some(finished) = d.finished_at else {
            continue;
        };
        deployments.push(finished);
        by_repo.entry(d.repo.as_str()).or_default().push(finished);
    }
    deployments.sort();
    by_repo.values_mut().for_each(|v| v.sort());

    let mut samples: BTreeMap<(NaiveDate, Metric), Vec<f64>> = BTreeMap::new();
    let mut add = |date: NaiveDate, metric: Metric, value: f64| {
        samples.entry((date, metric)).or_default().push(value);
    };

    for change in &silver.changes {
        let Some(repo_deploys) = by_repo.get(change.repo.as_str()) else {
            continue;
        };
        let first_at_or_after = repo_deploys.partition_point(|t| *t < change.merged_at);
        if let Some(shipped) = repo_deploys.get(first_at_or_after) {
            add(
                shipped.date_naive(),
                Metric::LeadTimeForChanges,
                hours_between(change.first_commit_at, *shipped),
            );
        }
    }

    let mut linked = vec![false; deployments.len()];
    for incident in silver
        .incidents
        .iter()
        .filter(|i| defs.counts_as_incident(&i.issue_type, i.priority.as_deref()))
    {
        let before = deployments.partition_point(|t| *t < incident.created_at);
        let Some(blamed) = before.checked_sub(1) else {
            continue;
        };
        linked[blamed] = true;
        if let Some(resolved) = incident.resolved_at {
            add(
                resolved.date_naive(),
                Metric::FailedDeploymentRecoveryTime,
                hours_between(incident.created_at, resolved),
            );
        }
    }
    for (finished, failed) in deployments.iter().zip(&linked) {
        add(finished.date_naive(), Metric::DeploymentFrequency, 1.0);
        add(
            finished.date_naive(),
            Metric::ChangeFailureRate,
            if *failed { 1.0 } else { 0.0 },
        );
    }

    let mut out = Vec::with_capacity(days.len() * metrics.len());
    for &date in days {
        for &metric in metrics {
            let day = samples.remove(&(date, metric)).unwrap_or_default();
            out.push(DayValue {
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use dorafleet_core::Source;
    use dorafleet_warehouse::{SilverChange, SilverIncident};
    use uuid::Uuid;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    fn deploy(repo: &str, finished: DateTime<Utc>, status: &str, env: &str) -> SilverDeployment {
        SilverDeployment {
            source: Source::Github,
            key: format!("{repo}#{}", finished.timestamp()),
            team_id: "t".into(),
            repo: repo.into(),
            job: None,
            environment: env.into(),
            status: status.into(),
            started_at: finished,
            finished_at: Some(finished),
            sha: None,
            deployer: None,
            run_id: Uuid::nil(),
        }
    }

    fn change(repo: &str, first: DateTime<Utc>, merged: DateTime<Utc>) -> SilverChange {
        SilverChange {
            repo: repo.into(),
            number: first.timestamp() as u64,
            team_id: "t".into(),
            author: None,
            first_commit_at: first,
            merged_at: merged,
            merge_sha: None,
            run_id: Uuid::nil(),
        }
    }

    fn incident(
        created: DateTime<Utc>,
        resolved: Option<DateTime<Utc>>,
        priority: &str,
    ) -> SilverIncident {
        SilverIncident {
            key: format!("T-{}", created.timestamp()),
            project: "T".into(),
            team_id: "t".into(),
            issue_type: "Incident".into(),
            priority: Some(priority.into()),
            created_at: created,
            resolved_at: resolved,
            reporter: None,
            run_id: Uuid::nil(),
        }
    }

    fn value(values: &[DayValue], day: u32, metric: Metric) -> (Option<f64>, u64) {
        let v = values
            .iter()
            .find(|v| v.date.day0() + 1 == day && v.metric == metric)
            .unwrap();
        (v.value, v.sample_size)
    }

    use chrono::Datelike;

    #[test]
    fn medians_interpolate_between_the_two_middle_values() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn a_hand_checked_week_gives_the_expected_four_metrics() {
        let silver = TeamSilver {
            deployments: vec![
                deploy("a", at(2, 10), "success", "production"),
                deploy("a", at(2, 16), "success", "production"),
                deploy("a", at(2, 12), "failure", "production"),
                deploy("a", at(2, 13), "success", "staging"),
                deploy("b", at(3, 9), "success", "production"),
            ],
            changes: vec![
                // Shipped by the 10:00 deploy: 10 h and 4 h.
                change("a", at(2, 0), at(2, 9)),
                change("a", at(2, 6), at(2, 10)),
                // Merged after the last deploy of repo a: never shipped.
                change("a", at(2, 17), at(2, 18)),
                // Repo b: shipped on the 3rd after 33 h.
                change("b", at(2, 0), at(2, 20)),
            ],
            incidents: vec![
                // Blamed on the 16:00 deploy, resolved on the 3rd after 5 h.
                incident(at(2, 20), Some(at(3, 1)), "P1"),
                // Before any deployment: not linked, no recovery sample.
                incident(at(1, 5), Some(at(1, 6)), "P2"),
            ],
        };
        let days: Vec<NaiveDate> = (1..=3).map(|d| at(d, 0).date_naive()).collect();
        let v = compute(&Definitions::default(), &silver, &days, &Metric::ALL);
        assert_eq!(v.len(), 12);
        assert_eq!(value(&v, 1, Metric::DeploymentFrequency), (Some(0.0), 0));
        assert_eq!(value(&v, 1, Metric::ChangeFailureRate), (None, 0));
        assert_eq!(value(&v, 2, Metric::DeploymentFrequency), (Some(2.0), 2));
        assert_eq!(value(&v, 2, Metric::LeadTimeForChanges), (Some(7.0), 2));
        assert_eq!(value(&v, 2, Metric::ChangeFailureRate), (Some(0.5), 2));
        assert_eq!(value(&v, 3, Metric::LeadTimeForChanges), (Some(33.0), 1));
        assert_eq!(
            value(&v, 3, Metric::FailedDeploymentRecoveryTime),
            (Some(5.0), 1)
        );
        assert_eq!(
            value(&v, 1, Metric::FailedDeploymentRecoveryTime),
            (None, 0)
        );
    }

    #[test]
    fn an_excluded_priority_no_longer_fails_its_deployment() {
        let silver = TeamSilver {
            deployments: vec![deploy("a", at(2, 10), "success", "production")],
            changes: vec![],
            incidents: vec![incident(at(2, 11), Some(at(2, 13)), "P4")],
        };
        let days = [at(2, 0).date_naive()];
        let mut defs = Definitions::default();
        let before = compute(&defs, &silver, &days, &[Metric::ChangeFailureRate]);
        defs.excluded_priorities = vec!["P4".into()];
        let after = compute(&defs, &silver, &days, &[Metric::ChangeFailureRate]);
        assert_eq!(before[0].value, Some(1.0));
        assert_eq!(after[0].value, Some(0.0));
    }
}
