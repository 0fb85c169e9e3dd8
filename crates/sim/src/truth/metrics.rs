//! The DORA v1 definitions over plain events, free of any source format, so
//! they can be checked by hand on a handful of events.

use super::TruthRecord;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

pub(crate) const DEPLOYMENT_FREQUENCY: &str = "deployment_frequency";
pub(crate) const LEAD_TIME_FOR_CHANGES: &str = "lead_time_for_changes";
pub(crate) const CHANGE_FAILURE_RATE: &str = "change_failure_rate";
pub(crate) const FAILED_DEPLOYMENT_RECOVERY_TIME: &str = "failed_deployment_recovery_time";

/// A successful production deployment of `repo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deployment {
    pub repo: String,
    pub finished_at: DateTime<Utc>,
}

/// A merged pull request with at least one human commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub repo: String,
    pub merged_at: DateTime<Utc>,
    pub first_human_commit_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incident {
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Median with interpolation: the mean of the two middle values for an even count.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

pub(crate) fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 3_600_000.0
}

/// Index of the deployment that ships a change merged at `merged_at` into
/// `repo`: the first one of that repo finished at or after the merge.
pub(crate) fn deploying_deployment(
    deployments: &[Deployment],
    repo: &str,
    merged_at: DateTime<Utc>,
) -> Option<usize> {
    deployments
        .iter()
        .enumerate()
        .filter(|(_, d)| d.repo == repo && d.finished_at >= merged_at)
        .min_by_key(|(_, d)| d.finished_at)
        .map(|(i, _)| i)
}

/// Index of the deployment an incident is blamed on: the team's most recent
/// deployment finished strictly before the incident was created.
pub(crate) fn blamed_deployment(
    deployments: &[Deployment],
    incident_created: DateTime<Utc>,
) -> Option<usize> {
    deployments
        .iter()
        .enumerate()
        .filter(|(_, d)| d.finished_at < incident_created)
        .max_by_key(|(_, d)| d.finished_at)
        .map(|(i, _)| i)
}

/// All four metrics for one team on every date of `dates`.
pub(crate) fn team_truth(
    team: &str,
    dates: &[NaiveDate],
    deployments: &[Deployment],
    changes: &[Change],
    incidents: &[Incident],
) -> Vec<TruthRecord> {
    let mut deploys_per_day: BTreeMap<NaiveDate, Vec<usize>> = BTreeMap::new();
    for (i, d) in deployments.iter().enumerate() {
        deploys_per_day
            .entry(d.finished_at.date_naive())
            .or_default()
            .push(i);
    }
    let mut lead_times: BTreeMap<NaiveDate, Vec<f64>> = BTreeMap::new();
    for change in changes {
        if let Some(i) = deploying_deployment(deployments, &change.repo, change.merged_at) {
            let finished = deployments[i].finished_at;
            lead_times
                .entry(finished.date_naive())
                .or_default()
                .push(hours(change.first_human_commit_at, finished));
        }
    }
    let mut failed = vec![false; deployments.len()];
    let mut recoveries: BTreeMap<NaiveDate, Vec<f64>> = BTreeMap::new();
    for incident in incidents {
        let Some(i) = blamed_deployment(deployments, incident.created_at) else {
            continue;
        };
        failed[i] = true;
        if let Some(resolved) = incident.resolved_at {
            recoveries
                .entry(resolved.date_naive())
                .or_default()
                .push(hours(incident.created_at, resolved));
        }
    }

    let mut records = Vec::with_capacity(dates.len() * 4);
    for &date in dates {
        let day_deploys = deploys_per_day.get(&date).map_or(&[][..], Vec::as_slice);
        let total = day_deploys.len() as u64;
        let linked = day_deploys.iter().filter(|i| failed[**i]).count();
        let record = |metric: &str, value: Option<f64>, sample_size: u64| TruthRecord {
            team: team.to_owned(),
            date,
            metric: metric.to_owned(),
            value,
            sample_size,
        };
        records.push(record(DEPLOYMENT_FREQUENCY, Some(total as f64), total));
        let mut leads = lead_times.get(&date).cloned().unwrap_or_default();
        let lead_count = leads.len() as u64;
        records.push(record(
            LEAD_TIME_FOR_CHANGES,
            median(&mut leads),
            lead_count,
        ));
        let cfr = (total > 0).then(|| linked as f64 / total as f64);
        records.push(record(CHANGE_FAILURE_RATE, cfr, total));
        let mut recovery = recoveries.get(&date).cloned().unwrap_or_default();
        let recovery_count = recovery.len() as u64;
        records.push(record(
            FAILED_DEPLOYMENT_RECOVERY_TIME,
            median(&mut recovery),
            recovery_count,
        ));
    }
    records
}
