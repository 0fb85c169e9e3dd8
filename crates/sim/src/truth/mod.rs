//! Ground truth: the DORA v1 values of the generated organisation, computed
//! from the generated events themselves and never from HTTP responses, so
//! that it is an independent oracle for whatever the pipeline computes from
//! what the simulator serves.
//!
//! The truth of the simulator's clock is the truth of the view as of the
//! clock, on the days that are over ([`Organisation::ground_truth_as_of`]):
//! a pipeline that ran at that instant could have seen exactly those events.

mod metrics;
#[cfg(test)]
mod tests;

use crate::model::{
    DeployMechanism, INCIDENT_ISSUE_TYPE, JobKind, Organisation, PRODUCTION_ENVIRONMENT,
};
use chrono::{DateTime, NaiveDate, Utc};
use metrics::{Change, Deployment, Incident, team_truth};
use serde::{Deserialize, Serialize};

pub(crate) use metrics::{
    CHANGE_FAILURE_RATE, DEPLOYMENT_FREQUENCY, FAILED_DEPLOYMENT_RECOVERY_TIME,
    LEAD_TIME_FOR_CHANGES,
};

/// The metric names, in the order records are produced for each day.
pub const METRICS: [&str; 4] = [
    DEPLOYMENT_FREQUENCY,
    LEAD_TIME_FOR_CHANGES,
    CHANGE_FAILURE_RATE,
    FAILED_DEPLOYMENT_RECOVERY_TIME,
];

/// The true value of one metric for one team on one UTC date. `value` is
/// `None` where the metric is undefined (no deployments, no changes shipped,
/// no recoveries); deployment frequency is always defined (0.0 is a verified zero).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TruthRecord {
    /// Team id.
    pub team: String,
    /// The UTC date the value is for.
    pub date: NaiveDate,
    /// One of [`METRICS`].
    pub metric: String,
    /// Deployments that day for deployment frequency; the median in hours
    /// for lead time and recovery time; a 0.0–1.0 ratio for change failure rate.
    pub value: Option<f64>,
    /// Events behind the value: the day's deployments (deployment frequency,
    /// change failure rate), changes deployed that day (lead time), or
    /// incidents resolved that day (recovery time).
    pub sample_size: u64,
}

impl Organisation {
    /// One record per team × date in the range × metric, ordered by team, date, metric.
    pub fn ground_truth(&self) -> Vec<TruthRecord> {
        let dates = self.dates();
        self.teams
            .iter()
            .flat_map(|team| {
                let deployments = self.team_deployments(&team.id);
                let changes = self.team_changes(&team.id);
                let incidents = self.team_incidents(&team.id);
                team_truth(&team.id, &dates, &deployments, &changes, &incidents)
            })
            .collect()
    }

    /// The truth a clock reading `t` gives: the truth of [`Organisation::as_of`]
    /// `t` (on this organisation as the full history), on the days of the
    /// range that are over at `t` (dates before `t`'s date). A day's values
    /// can still change after it is over, when a late event arrives (a
    /// deployment's outcome, a reopened incident).
    pub fn ground_truth_as_of(&self, t: DateTime<Utc>) -> Vec<TruthRecord> {
        self.as_of(t).days_over_truth(t)
    }

    /// This organisation's truth (a view as of `t`) on the dates before `t`'s date.
    pub(crate) fn days_over_truth(&self, t: DateTime<Utc>) -> Vec<TruthRecord> {
        let today = t.date_naive();
        let mut truth = self.ground_truth();
        truth.retain(|r| r.date < today);
        truth
    }

    /// Successful production deployments of a team, from both mechanisms.
    fn team_deployments(&self, team: &str) -> Vec<Deployment> {
        let github = self
            .repos
            .iter()
            .filter(|r| r.team == team && r.deploys_with == DeployMechanism::GithubDeployments)
            .flat_map(|r| {
                let repo = r.full_name();
                r.deployments
                    .iter()
                    .filter(|d| d.environment == PRODUCTION_ENVIRONMENT)
                    .filter_map(|d| d.latest_status().filter(|s| s.state == "success"))
                    .map(move |s| Deployment {
                        repo: repo.clone(),
                        finished_at: s.created_at,
                    })
            });
        let jenkins = self
            .jenkins_jobs
            .iter()
            .filter(|j| j.team == team && j.kind == JobKind::Deploy)
            .flat_map(|j| {
                j.builds
                    .iter()
                    .filter(|b| b.result == Some(crate::model::BuildResult::Success))
                    .filter_map(|b| b.finished_at())
                    .map(|finished_at| Deployment {
                        repo: j.repo.clone(),
                        finished_at,
                    })
            });
        github.chain(jenkins).collect()
    }

    /// Merged pull requests with at least one human commit.
    fn team_changes(&self, team: &str) -> Vec<Change> {
        self.repos
            .iter()
            .filter(|r| r.team == team)
            .flat_map(|r| {
                let repo = r.full_name();
                r.pulls.iter().filter_map(move |p| {
                    Some(Change {
                        repo: repo.clone(),
                        merged_at: p.merged_at?,
                        first_human_commit_at: p.first_human_commit_at()?,
                    })
                })
            })
            .collect()
    }

    fn team_incidents(&self, team: &str) -> Vec<Incident> {
        self.jira_projects
            .iter()
            .filter(|p| p.team == team)
            .flat_map(|p| &p.issues)
            .filter(|i| i.issue_type == INCIDENT_ISSUE_TYPE)
            .map(|i| Incident {
                created_at: i.created,
                resolved_at: i.resolved,
            })
            .collect()
    }
}

/// Every difference between `observed` values (e.g. a pipeline's gold, as
/// truth-shaped records) and the truth, as readable lines; empty when they
/// agree on every (team, day, metric), values within 1e-9.
pub fn differences(truth: &[TruthRecord], observed: &[TruthRecord]) -> Vec<String> {
    use std::collections::BTreeMap;
    let key = |r: &TruthRecord| (r.team.clone(), r.date, r.metric.clone());
    let seen: BTreeMap<_, &TruthRecord> = observed.iter().map(|r| (key(r), r)).collect();
    let mut diffs = Vec::new();
    for t in truth {
        match seen.get(&key(t)) {
            None => diffs.push(format!("{:?}: missing (truth {:?})", key(t), t.value)),
            Some(o) => {
                let same = match (o.value, t.value) {
                    (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                    (None, None) => true,
                    _ => false,
                };
                if !same || o.sample_size != t.sample_size {
                    diffs.push(format!(
                        "{:?}: observed {:?} (n={}) vs truth {:?} (n={})",
                        key(t),
                        o.value,
                        o.sample_size,
                        t.value,
                        t.sample_size
                    ));
                }
            }
        }
    }
    if seen.len() != truth.len() {
        diffs.push(format!(
            "{} observed records for {} truth records",
            seen.len(),
            truth.len()
        ));
    }
    diffs
}
