//! The silver layer: normalized events (deployments, changes, incidents),
//! upserted by natural key so that normalizing twice changes nothing, with
//! the counts of what normalization kept, filtered and rejected.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::{Scope, Source};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A deployment's outcome. GitHub deployment states and Jenkins build
/// results share one vocabulary here; both backends store it as the lower-case
/// text of [`as_str`](Self::as_str), so stored silver reads back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum DeploymentOutcome {
    /// Deployed (GitHub `success`, Jenkins `SUCCESS`): the only outcome a
    /// deployment counts with.
    Success,
    /// Failed (GitHub `failure`, Jenkins `FAILURE`).
    Failure,
    /// GitHub `error`: the deployment could not run.
    Error,
    /// Jenkins `UNSTABLE`: built, with failing checks.
    Unstable,
    /// GitHub `in_progress`.
    InProgress,
    /// GitHub `queued`.
    Queued,
    /// No status yet (GitHub `pending`, or no status reported at all).
    Pending,
    /// Deleted at the source after dorafleet had seen it (its statuses
    /// answered 404): it never counts.
    Deleted,
    /// Any other state a source reports, kept as it said it (lower case).
    Other(String),
}

impl DeploymentOutcome {
    /// The stored, lower-case text.
    pub fn as_str(&self) -> &str {
        match self {
            DeploymentOutcome::Success => "success",
            DeploymentOutcome::Failure => "failure",
            DeploymentOutcome::Error => "error",
            DeploymentOutcome::Unstable => "unstable",
            DeploymentOutcome::InProgress => "in_progress",
            DeploymentOutcome::Queued => "queued",
            DeploymentOutcome::Pending => "pending",
            DeploymentOutcome::Deleted => "deleted",
            DeploymentOutcome::Other(s) => s,
        }
    }

    /// Whether the deployment succeeded.
    pub fn is_success(&self) -> bool {
        *self == DeploymentOutcome::Success
    }

    /// Whether the source may still change it: no final status yet (queued,
    /// in progress, pending). Such deployments are watched by later runs.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            DeploymentOutcome::InProgress | DeploymentOutcome::Queued | DeploymentOutcome::Pending
        )
    }
}

impl From<&str> for DeploymentOutcome {
    /// A source's state or result, in any case.
    fn from(text: &str) -> Self {
        match text.to_lowercase().as_str() {
            "success" => DeploymentOutcome::Success,
            "failure" => DeploymentOutcome::Failure,
            "error" => DeploymentOutcome::Error,
            "unstable" => DeploymentOutcome::Unstable,
            "in_progress" => DeploymentOutcome::InProgress,
            "queued" => DeploymentOutcome::Queued,
            "pending" => DeploymentOutcome::Pending,
            "deleted" => DeploymentOutcome::Deleted,
            other => DeploymentOutcome::Other(other.to_owned()),
        }
    }
}

impl From<String> for DeploymentOutcome {
    fn from(text: String) -> Self {
        DeploymentOutcome::from(text.as_str())
    }
}

impl From<DeploymentOutcome> for String {
    fn from(status: DeploymentOutcome) -> Self {
        status.as_str().to_owned()
    }
}

impl std::fmt::Display for DeploymentOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deployment attempt, successful or not. Natural key: (source, key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilverDeployment {
    /// Where it was reported: GitHub (deployments) or Jenkins (builds).
    pub source: Source,
    /// `owner/repo#id` for GitHub deployments, `job#number` for Jenkins builds.
    pub key: String,
    /// The team whose scope it was extracted for.
    pub team_id: String,
    /// The repo deployed (`owner/repo`).
    pub repo: String,
    /// The Jenkins job, for Jenkins deployments.
    pub job: Option<String>,
    /// GitHub environment; `production` for builds of configured deploy jobs.
    pub environment: String,
    /// The latest outcome the source reported.
    pub status: DeploymentOutcome,
    /// When it was created or started (UTC).
    pub started_at: DateTime<Utc>,
    /// When it reached its final status; `None` while still running.
    pub finished_at: Option<DateTime<Utc>>,
    /// The commit deployed, when the source reports one.
    pub sha: Option<String>,
    /// The deployed ref (GitHub's `ref`, e.g. `main` or `hotfix/PAY-12`);
    /// `None` for Jenkins builds and for silver written before it was kept.
    #[serde(default)]
    pub ref_name: Option<String>,
    /// contributor_id of whoever triggered it.
    pub deployer: Option<String>,
    /// The run that last normalized it (an upsert replaces it).
    pub run_id: Uuid,
}

/// A merged pull request made by people. Natural key: (repo, number).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilverChange {
    /// The repository (`owner/repo`).
    pub repo: String,
    /// The pull request's number in its repository.
    pub number: u64,
    /// The team whose scope it was extracted for.
    pub team_id: String,
    /// contributor_id of the PR author.
    pub author: Option<String>,
    /// Earliest commit authored by a non-bot.
    pub first_commit_at: DateTime<Utc>,
    /// When the pull request was merged (UTC).
    pub merged_at: DateTime<Utc>,
    /// The merge commit, when GitHub reports one.
    pub merge_sha: Option<String>,
    /// The pull request's title (rework rules read it).
    #[serde(default)]
    pub title: Option<String>,
    /// The pull request's head branch (rework rules read it).
    #[serde(default)]
    pub head_ref: Option<String>,
    /// The run that last normalized it (an upsert replaces it).
    pub run_id: Uuid,
}

/// A commit of a repository's default-branch history, with its parents:
/// which deployment shipped a change is read from these (a deployment ships
/// the merge commits its deployed commit contains). Natural key: (repo, sha).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilverCommit {
    /// The repository (`owner/repo`).
    pub repo: String,
    /// The commit's SHA.
    pub sha: String,
    /// The team whose scope it was extracted for.
    pub team_id: String,
    /// Parent SHAs, first parent first.
    pub parents: Vec<String>,
    /// The committer date (UTC): along first parents these only decrease.
    pub committed_at: DateTime<Utc>,
    /// The run that last normalized it.
    pub run_id: Uuid,
}

/// A Jira issue that may be an incident. Every issue is kept with its type and
/// priority, so which ones count is decided when gold is computed (a
/// definition change then needs no re-normalization). Natural key: `key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilverIncident {
    /// The Jira issue key, e.g. `PAY-123`.
    pub key: String,
    /// The Jira project key.
    pub project: String,
    /// The team whose scope it was extracted for.
    pub team_id: String,
    /// The Jira issue type's name (empty when Jira sent none).
    pub issue_type: String,
    /// The Jira priority's name, if the issue has one.
    pub priority: Option<String>,
    /// When the issue was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When the issue was resolved (UTC); `None` while unresolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// contributor_id of the reporter.
    pub reporter: Option<String>,
    /// The run that last normalized it (an upsert replaces it).
    pub run_id: Uuid,
}

/// What one normalize task read and what it left out, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizeCounts {
    /// The run the normalize task belonged to.
    pub run_id: Uuid,
    /// The source the task normalized (`None` in counts not tied to a task).
    pub source: Option<Source>,
    /// The scope the task normalized (`None` in counts not tied to a task).
    pub scope: Option<Scope>,
    /// Bronze pages read.
    pub pages: u64,
    /// Deployments written to silver.
    pub deployments: u64,
    /// Changes (merged pull requests) written to silver.
    pub changes: u64,
    /// Incident candidates (Jira issues) written to silver.
    pub incidents: u64,
    /// Pull requests without a single human commit (dependabot and friends).
    pub bot_changes_filtered: u64,
    /// Bot commits ignored when finding a change's first commit.
    pub bot_commits_filtered: u64,
    /// Jenkins builds that were aborted.
    pub aborted_builds_filtered: u64,
    /// Jenkins builds still running (kept in silver as `in_progress` and
    /// read again by later runs until they finish).
    pub running_builds_skipped: u64,
    /// Builds of jobs that are not deploy jobs (CI).
    pub non_deploy_builds_skipped: u64,
    /// Pull requests closed without merging.
    pub unmerged_changes_skipped: u64,
    /// Merged pull requests whose commit list held no usable commit (empty,
    /// or every commit rejected): no lead time, and not a bot's change.
    #[serde(default)]
    pub changes_without_commits: u64,
    /// Items deleted at the source after a list showed them (a child list
    /// answered 404): deployments marked `deleted`, pull requests left out.
    #[serde(default)]
    pub items_gone: u64,
    /// Jira issues without a `resolutiondate` resolved at the instant they
    /// last entered a Done-category status (from their changelog).
    #[serde(default)]
    pub incidents_resolved_by_status: u64,
    /// Records left out because they failed schema validation (a field the
    /// pipeline needs was missing or did not fit).
    #[serde(default)]
    pub rejected_records: u64,
    /// Fields the schemas do not know (schema drift), by name, with the
    /// number of records carrying each.
    #[serde(default)]
    pub unknown_fields: BTreeMap<String, u64>,
    /// How aggregate linked the team's changes to deployments (`by history`,
    /// `by time`, `not yet deployed`) and the changes or lead-time samples it
    /// left out, by reason; recorded by the aggregate task (source and
    /// target empty) over the team's whole silver as of the run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub linkage: BTreeMap<String, u64>,
}

impl NormalizeCounts {
    /// Add another task's counts to these, field by field (unknown fields
    /// by name); the run, source and scope stay these counts' own.
    pub fn add(&mut self, o: &NormalizeCounts) {
        self.pages += o.pages;
        self.deployments += o.deployments;
        self.changes += o.changes;
        self.incidents += o.incidents;
        self.bot_changes_filtered += o.bot_changes_filtered;
        self.bot_commits_filtered += o.bot_commits_filtered;
        self.aborted_builds_filtered += o.aborted_builds_filtered;
        self.running_builds_skipped += o.running_builds_skipped;
        self.non_deploy_builds_skipped += o.non_deploy_builds_skipped;
        self.unmerged_changes_skipped += o.unmerged_changes_skipped;
        self.changes_without_commits += o.changes_without_commits;
        self.items_gone += o.items_gone;
        self.incidents_resolved_by_status += o.incidents_resolved_by_status;
        self.rejected_records += o.rejected_records;
        for (name, n) in &o.unknown_fields {
            *self.unknown_fields.entry(name.clone()).or_default() += n;
        }
        for (name, n) in &o.linkage {
            *self.linkage.entry(name.clone()).or_default() += n;
        }
    }
}

/// The output of one normalize task, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SilverBatch {
    /// Deployments to upsert.
    pub deployments: Vec<SilverDeployment>,
    /// Changes to upsert.
    pub changes: Vec<SilverChange>,
    /// Incident candidates to upsert.
    pub incidents: Vec<SilverIncident>,
    /// Default-branch commits to upsert.
    #[serde(default)]
    pub commits: Vec<SilverCommit>,
    /// Deployments (source, key) found deleted that this batch has no record
    /// of (watched ones, listed by an earlier run): the normalize stage marks
    /// the stored ones `deleted` before the batch is written.
    #[serde(default)]
    pub gone_deployments: Vec<(Source, String)>,
    /// What the task read and left out, stored per (run, source, scope).
    pub counts: NormalizeCounts,
}

/// Everything silver knows about one team.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamSilver {
    /// The team's deployments, of every source.
    pub deployments: Vec<SilverDeployment>,
    /// The team's changes.
    pub changes: Vec<SilverChange>,
    /// The team's incident candidates.
    pub incidents: Vec<SilverIncident>,
    /// The default-branch history of the team's repositories, as far as it
    /// was listed.
    pub commits: Vec<SilverCommit>,
}

/// Normalized events: what normalize writes and aggregate reads.
#[async_trait]
pub trait SilverStore: Send + Sync + std::fmt::Debug {
    /// Upsert a normalize task's output by natural keys, with its counts, in
    /// one transaction: writing the same batch twice changes nothing.
    async fn upsert_silver(&self, batch: &SilverBatch) -> Result<()>;

    /// All silver of one team.
    async fn team_silver(&self, team_id: &str) -> Result<TeamSilver>;

    /// Normalize counts recorded for a run (or all runs).
    async fn normalize_counts(&self, run_id: Option<Uuid>) -> Result<Vec<NormalizeCounts>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_any_case_and_store_as_the_same_lower_case_text() {
        assert_eq!(
            DeploymentOutcome::from("SUCCESS"),
            DeploymentOutcome::Success
        );
        assert_eq!(
            DeploymentOutcome::from("in_progress"),
            DeploymentOutcome::InProgress
        );
        let odd = DeploymentOutcome::from("Waiting");
        assert_eq!(odd, DeploymentOutcome::Other("waiting".into()));
        for text in [
            "success",
            "failure",
            "error",
            "unstable",
            "in_progress",
            "queued",
            "pending",
            "deleted",
            "waiting",
        ] {
            assert_eq!(DeploymentOutcome::from(text).as_str(), text);
            let json = serde_json::to_string(&DeploymentOutcome::from(text)).unwrap();
            assert_eq!(json, format!("\"{text}\""));
        }
        assert!(!DeploymentOutcome::Unstable.is_success());
    }

    #[test]
    fn counts_stored_before_validation_existed_still_read_and_sums_merge_unknown_fields() {
        let old = r#"{"run_id":"00000000-0000-0000-0000-000000000000","source":"jira","scope":null,
            "pages":2,"deployments":0,"changes":0,"incidents":7,"bot_changes_filtered":0,
            "bot_commits_filtered":0,"aborted_builds_filtered":0,"running_builds_skipped":0,
            "non_deploy_builds_skipped":0,"unmerged_changes_skipped":0}"#;
        let mut total: NormalizeCounts = serde_json::from_str(old).unwrap();
        assert_eq!((total.incidents, total.rejected_records), (7, 0));
        assert!(total.unknown_fields.is_empty());
        let drifted = NormalizeCounts {
            incidents: 9,
            rejected_records: 1,
            unknown_fields: [("createdDate".to_owned(), 1), ("x".to_owned(), 2)].into(),
            ..NormalizeCounts::default()
        };
        total.add(&drifted);
        total.add(&drifted);
        assert_eq!((total.incidents, total.rejected_records), (25, 2));
        assert_eq!(
            total.unknown_fields,
            [("createdDate".to_owned(), 2), ("x".to_owned(), 4)].into()
        );
    }
}
