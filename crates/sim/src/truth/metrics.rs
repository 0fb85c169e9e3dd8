//! The DORA definitions version 2 (docs/metrics.md) over plain events, free
//! of any source format, so they can be checked by hand on a handful of
//! events.

use super::TruthRecord;
pub(crate) use super::events::{Change, Deployment, Incident};
use super::linkage::{ListedHistory, is_rework_change, is_rework_ref, shipping_deployment};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::collections::BTreeMap;

pub(crate) const DEPLOYMENT_FREQUENCY: &str = "deployment_frequency";
pub(crate) const LEAD_TIME_FOR_CHANGES: &str = "lead_time_for_changes";
pub(crate) const CHANGE_FAILURE_RATE: &str = "change_failure_rate";
pub(crate) const FAILED_DEPLOYMENT_RECOVERY_TIME: &str = "failed_deployment_recovery_time";
pub(crate) const DEPLOYMENT_REWORK_RATE: &str = "deployment_rework_rate";
pub(crate) const TIME_TO_RESTORE_SERVICE: &str = "time_to_restore_service";

/// How far back an incident links to a deployment (`incident_link_window_hours`).
pub(crate) const LINK_WINDOW: Duration = Duration::hours(168);
/// Longest lead time kept (`max_lead_time_days`).
pub(crate) const MAX_LEAD_TIME: Duration = Duration::days(365);

/// Everything one team's truth reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct TeamEvents {
    pub deployments: Vec<Deployment>,
    pub changes: Vec<Change>,
    pub incidents: Vec<Incident>,
    /// Listed main history per repository (`owner/name`).
    pub histories: BTreeMap<String, ListedHistory>,
    /// The latest coverage start of the team's scopes: recovery is measured
    /// only from deployments after it.
    pub covered_from: Option<DateTime<Utc>>,
    /// Each repository's coverage start: its changes merged before it are
    /// not credited.
    pub repo_starts: BTreeMap<String, DateTime<Utc>>,
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

/// Index of the deployment an incident links to: the team's most recent
/// deployment finished strictly before the incident was created and at most
/// [`LINK_WINDOW`] earlier.
pub(crate) fn linked_deployment(
    deployments: &[Deployment],
    incident_created: DateTime<Utc>,
) -> Option<usize> {
    deployments
        .iter()
        .enumerate()
        .filter(|(_, d)| d.finished_at < incident_created)
        .filter(|(_, d)| d.finished_at >= incident_created - LINK_WINDOW)
        .max_by_key(|(_, d)| d.order_key())
        .map(|(i, _)| i)
}

/// Samples per day.
type Daily = BTreeMap<NaiveDate, Vec<f64>>;

/// All six metrics for one team on every date of `dates`.
pub(crate) fn team_truth(team: &str, dates: &[NaiveDate], events: &TeamEvents) -> Vec<TruthRecord> {
    let deployments = &events.deployments;
    let mut deploys_per_day: BTreeMap<NaiveDate, Vec<usize>> = BTreeMap::new();
    for (i, d) in deployments.iter().enumerate() {
        deploys_per_day
            .entry(d.finished_at.date_naive())
            .or_default()
            .push(i);
    }
    let keys: Vec<String> = events.incidents.iter().map(|i| i.key.clone()).collect();
    let mut rework: Vec<bool> = deployments
        .iter()
        .map(|d| d.ref_name.as_deref().is_some_and(is_rework_ref))
        .collect();
    let mut lead_times = Daily::new();
    for change in &events.changes {
        if events
            .repo_starts
            .get(&change.repo)
            .or(events.covered_from.as_ref())
            .is_some_and(|from| change.merged_at < *from)
        {
            continue;
        }
        let history = events.histories.get(&change.repo);
        let Some(i) = shipping_deployment(deployments, history, change) else {
            continue;
        };
        if is_rework_change(change, &keys) {
            rework[i] = true;
        }
        let finished = deployments[i].finished_at;
        let lead = finished - change.first_human_commit_at;
        if lead >= Duration::zero() && lead <= MAX_LEAD_TIME {
            lead_times
                .entry(finished.date_naive())
                .or_default()
                .push(hours(change.first_human_commit_at, finished));
        }
    }
    let mut failed = vec![false; deployments.len()];
    let mut recoveries = Daily::new();
    let mut restores = Daily::new();
    for incident in &events.incidents {
        let linked = linked_deployment(deployments, incident.created_at);
        if let Some(i) = linked {
            failed[i] = true;
        }
        let Some(resolved) = incident.resolved_at else {
            continue;
        };
        let day = resolved.date_naive();
        restores
            .entry(day)
            .or_default()
            .push(hours(incident.created_at, resolved));
        // A deployment before coverage was never read: the recovery from it
        // cannot be measured, so the incident gives no recovery sample.
        let measurable = linked.filter(|&i| {
            events
                .covered_from
                .is_none_or(|from| deployments[i].finished_at >= from)
        });
        if let Some(i) = measurable {
            recoveries
                .entry(day)
                .or_default()
                .push(hours(deployments[i].finished_at, resolved));
        }
    }

    let mut records = Vec::with_capacity(dates.len() * 6);
    for &date in dates {
        let day_deploys = deploys_per_day.get(&date).map_or(&[][..], Vec::as_slice);
        let total = day_deploys.len() as u64;
        let share = |flags: &[bool]| {
            let hits = day_deploys.iter().filter(|i| flags[**i]).count();
            (total > 0).then(|| hits as f64 / total as f64)
        };
        let record = |metric: &str, value: Option<f64>, sample_size: u64| TruthRecord {
            team: team.to_owned(),
            date,
            metric: metric.to_owned(),
            value,
            sample_size,
        };
        let median_of = |daily: &Daily| {
            let mut samples = daily.get(&date).cloned().unwrap_or_default();
            let n = samples.len() as u64;
            (median(&mut samples), n)
        };
        records.push(record(DEPLOYMENT_FREQUENCY, Some(total as f64), total));
        let (lead, n) = median_of(&lead_times);
        records.push(record(LEAD_TIME_FOR_CHANGES, lead, n));
        records.push(record(CHANGE_FAILURE_RATE, share(&failed), total));
        let (recovery, n) = median_of(&recoveries);
        records.push(record(FAILED_DEPLOYMENT_RECOVERY_TIME, recovery, n));
        records.push(record(DEPLOYMENT_REWORK_RATE, share(&rework), total));
        let (restore, n) = median_of(&restores);
        records.push(record(TIME_TO_RESTORE_SERVICE, restore, n));
    }
    records
}
