//! Ground truth: the DORA values (definitions version 2, docs/metrics.md) of the generated organisation, computed
//! from the generated events themselves and never from HTTP responses, so
//! that it is an independent oracle for whatever the pipeline computes from
//! what the simulator serves.
//!
//! The truth of the simulator's clock is the truth of the view as of the
//! clock, on the days that are over ([`Organisation::ground_truth_as_of`]):
//! a pipeline that ran at that instant could have seen exactly those events.

mod events;
mod linkage;
mod metrics;
#[cfg(test)]
mod tests;

use crate::model::{
    BuildResult, DONE, DeployMechanism, INCIDENT_ISSUE_TYPE, JiraIssue, JobKind, Organisation,
    PRODUCTION_ENVIRONMENT,
};
use chrono::{DateTime, NaiveDate, Utc};
use linkage::ListedHistory;
use metrics::{Change, Deployment, Incident, TeamEvents, team_truth};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(crate) use metrics::{
    CHANGE_FAILURE_RATE, DEPLOYMENT_FREQUENCY, DEPLOYMENT_REWORK_RATE,
    FAILED_DEPLOYMENT_RECOVERY_TIME, LEAD_TIME_FOR_CHANGES, TIME_TO_RESTORE_SERVICE,
};

/// The metric names, in the order records are produced for each day.
pub const METRICS: [&str; 6] = [
    DEPLOYMENT_FREQUENCY,
    LEAD_TIME_FOR_CHANGES,
    CHANGE_FAILURE_RATE,
    FAILED_DEPLOYMENT_RECOVERY_TIME,
    DEPLOYMENT_REWORK_RATE,
    TIME_TO_RESTORE_SERVICE,
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
    /// for lead time, recovery time and time to restore; a 0.0–1.0 ratio for
    /// change failure rate and rework rate.
    pub value: Option<f64>,
    /// Events behind the value: the day's deployments (deployment frequency,
    /// change failure rate, rework rate), changes deployed that day with a
    /// kept sample (lead time), or incidents resolved that day (recovery
    /// time: the linked ones; time to restore: all).
    pub sample_size: u64,
}

/// Where a pipeline's reading began: every source from `from`, and some
/// repositories' deployments (their deploy job added later, say) only from a
/// later instant.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthCoverage {
    /// When every scope's coverage began (the listed history starts here).
    pub from: DateTime<Utc>,
    /// Repositories (`owner/name`) whose deployments are covered only from a
    /// later instant.
    pub later: BTreeMap<String, DateTime<Utc>>,
}

impl TruthCoverage {
    /// Every scope covered from `from`.
    pub fn from(from: DateTime<Utc>) -> Self {
        TruthCoverage {
            from,
            later: BTreeMap::new(),
        }
    }

    /// Where `repo`'s changes start to be credited.
    fn start_of(&self, repo: &str) -> DateTime<Utc> {
        self.later
            .get(repo)
            .map_or(self.from, |later| (*later).max(self.from))
    }
}

impl Organisation {
    /// One record per team × date in the range × metric, ordered by team,
    /// date, metric, with coverage from the organisation's start.
    pub fn ground_truth(&self) -> Vec<TruthRecord> {
        self.ground_truth_covered_from(self.start)
    }

    /// Like [`Organisation::ground_truth`] with the sources covered from
    /// `covered_from`: changes merged before it are not credited, and only
    /// main commits committed from it on are in the listed history.
    pub fn ground_truth_covered_from(&self, covered_from: DateTime<Utc>) -> Vec<TruthRecord> {
        let dates = self.dates();
        let coverage = TruthCoverage::from(covered_from);
        self.teams
            .iter()
            .flat_map(|team| {
                let events = self.team_events(&team.id, &coverage);
                team_truth(&team.id, &dates, &events)
            })
            .collect()
    }

    /// The truth a clock reading `t` gives: the truth of [`Organisation::as_of`]
    /// `t` (on this organisation as the full history), on the days of the
    /// range that are over at `t` (dates before `t`'s date). A day's values
    /// can still change after it is over, when a late event arrives (a
    /// deployment's outcome, a reopened incident).
    pub fn ground_truth_as_of(&self, t: DateTime<Utc>) -> Vec<TruthRecord> {
        self.ground_truth_as_of_covered_from(t, self.start)
    }

    /// [`Organisation::ground_truth_as_of`] with the sources covered from
    /// `covered_from` (see [`Organisation::ground_truth_covered_from`]).
    pub fn ground_truth_as_of_covered_from(
        &self,
        t: DateTime<Utc>,
        covered_from: DateTime<Utc>,
    ) -> Vec<TruthRecord> {
        self.ground_truth_as_of_coverage(t, &TruthCoverage::from(covered_from))
    }

    /// [`Organisation::ground_truth_as_of`] under `coverage`: each
    /// repository's changes are credited from its own start, and recovery is
    /// measured only from deployments after every start of the team.
    pub fn ground_truth_as_of_coverage(
        &self,
        t: DateTime<Utc>,
        coverage: &TruthCoverage,
    ) -> Vec<TruthRecord> {
        let today = t.date_naive();
        let view = self.as_of(t);
        let dates = view.dates();
        let mut truth: Vec<TruthRecord> = view
            .teams
            .iter()
            .flat_map(|team| {
                let events = view.team_events(&team.id, coverage);
                team_truth(&team.id, &dates, &events)
            })
            .collect();
        truth.retain(|r| r.date < today);
        truth
    }

    /// This organisation's truth (a view as of `t`) on the dates before `t`'s date.
    pub(crate) fn days_over_truth(&self, t: DateTime<Utc>) -> Vec<TruthRecord> {
        let today = t.date_naive();
        let mut truth = self.ground_truth();
        truth.retain(|r| r.date < today);
        truth
    }

    fn team_events(&self, team: &str, coverage: &TruthCoverage) -> TeamEvents {
        let repo_starts: BTreeMap<String, DateTime<Utc>> = self
            .repos
            .iter()
            .filter(|r| r.team == team)
            .map(|r| {
                let name = r.full_name();
                let start = coverage.start_of(&name);
                (name, start)
            })
            .collect();
        TeamEvents {
            deployments: self.team_deployments(team),
            changes: self.team_changes(team),
            incidents: self.team_incidents(team),
            histories: self.team_histories(team, coverage.from),
            covered_from: Some(repo_starts.values().copied().max().unwrap_or(coverage.from)),
            repo_starts,
        }
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
                    .filter_map(|d| Some((d, d.latest_status().filter(|s| s.state == "success")?)))
                    .map(move |(d, s)| Deployment {
                        repo: repo.clone(),
                        id: d.id,
                        started_at: d.created_at,
                        finished_at: s.created_at,
                        commit: Some(d.sha.clone()),
                        ref_name: Some(d.ref_name.clone()),
                    })
            });
        let jenkins = self
            .jenkins_jobs
            .iter()
            .filter(|j| j.team == team && j.kind == JobKind::Deploy)
            .flat_map(|j| {
                j.builds
                    .iter()
                    .filter(|b| b.result == Some(BuildResult::Success))
                    .filter_map(|b| Some((b, b.finished_at()?)))
                    .map(|(b, finished_at)| Deployment {
                        repo: j.repo.clone(),
                        id: b.number,
                        started_at: b.started_at,
                        finished_at,
                        commit: b.commit.clone(),
                        ref_name: None,
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
                        merge_sha: p.merge_commit_sha.clone(),
                        first_human_commit_at: p.first_human_commit_at()?,
                        title: p.title.clone(),
                        head_ref: p.head_ref.clone(),
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
                key: i.key.clone(),
                created_at: i.created,
                resolved_at: resolution(i),
            })
            .collect()
    }

    /// Each team repository's main commits committed from `covered_from` on
    /// (the root never), as the pipeline lists them.
    fn team_histories(
        &self,
        team: &str,
        covered_from: DateTime<Utc>,
    ) -> BTreeMap<String, ListedHistory> {
        self.repos
            .iter()
            .filter(|r| r.team == team)
            .map(|r| {
                let listed = r
                    .main_history()
                    .into_iter()
                    .filter(|c| c.ordinal > 0 && c.committed_at >= covered_from)
                    .map(|c| (c.sha, c.committed_at))
                    .collect();
                (r.full_name(), ListedHistory::new(listed))
            })
            .collect()
    }
}

/// An issue's resolution: its resolution date, else, while it is Done, its
/// last move into Done; `None` while unresolved.
fn resolution(issue: &JiraIssue) -> Option<DateTime<Utc>> {
    issue.resolved.or_else(|| {
        (issue.status() == DONE)
            .then(|| issue.transitions.iter().rev().find(|t| t.to == DONE))
            .flatten()
            .map(|t| t.at)
    })
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
