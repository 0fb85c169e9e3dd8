//! The plain events the truth is computed from: a team's deployments,
//! changes and incidents, free of any source format. Both the linkage rules
//! and the metric arithmetic read them, so they live apart from either.

use chrono::{DateTime, Utc};

/// A successful production deployment of `repo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deployment {
    pub repo: String,
    /// GitHub deployment id or Jenkins build number: the last tie-breaker.
    pub id: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The deployed commit; `None` when the build recorded none.
    pub commit: Option<String>,
    /// The GitHub deployment's ref; `None` for Jenkins builds.
    pub ref_name: Option<String>,
}

impl Deployment {
    /// The order deployments are considered in: finish, then start, then id.
    pub(crate) fn order_key(&self) -> (DateTime<Utc>, DateTime<Utc>, u64) {
        (self.finished_at, self.started_at, self.id)
    }
}

/// A merged pull request with at least one human commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub repo: String,
    pub merged_at: DateTime<Utc>,
    pub merge_sha: String,
    pub first_human_commit_at: DateTime<Utc>,
    pub title: String,
    pub head_ref: String,
}

/// An incident with its resolution (resolution date, else last entry into Done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incident {
    pub key: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}
