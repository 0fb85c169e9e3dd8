//! Typed GitHub payloads, limited to what the pipeline reads. Timestamps are
//! RFC 3339 and decoded straight to UTC; unknown fields are ignored, nullable
//! ones are `Option`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An account (`user`, `creator`, commit `author`). `null` for deleted users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub login: String,
    /// `User` or `Bot`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl User {
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]")
    }
}

/// `head` / `base` of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    #[serde(rename = "ref")]
    pub name: String,
    pub sha: String,
}

/// An item of `GET /repos/{o}/{r}/pulls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub head: Option<GitRef>,
    #[serde(default)]
    pub base: Option<GitRef>,
}

impl PullRequest {
    pub fn author_login(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.login.as_str())
    }
}

/// Name, e-mail and time of a git author or committer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitActor {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub date: DateTime<Utc>,
}

/// The git part of a commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitDetail {
    #[serde(default)]
    pub author: Option<GitActor>,
    #[serde(default)]
    pub committer: Option<GitActor>,
    #[serde(default)]
    pub message: Option<String>,
}

/// An item of `GET /repos/{o}/{r}/pulls/{n}/commits` (also `/commits`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullCommit {
    pub sha: String,
    pub commit: CommitDetail,
    /// The GitHub account of the git author, when GitHub could match it.
    #[serde(default)]
    pub author: Option<User>,
    #[serde(default)]
    pub committer: Option<User>,
}

impl PullCommit {
    /// When the change was authored (git author date), in UTC.
    pub fn authored_at(&self) -> Option<DateTime<Utc>> {
        self.commit.author.as_ref().map(|a| a.date)
    }
}

/// An item of `GET /repos/{o}/{r}/deployments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    #[serde(rename = "ref", default)]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub task: Option<String>,
    pub environment: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub creator: Option<User>,
}

/// An item of `GET /repos/{o}/{r}/deployments/{id}/statuses`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub id: u64,
    /// `error`, `failure`, `inactive`, `in_progress`, `queued`, `pending` or `success`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub creator: Option<User>,
}
