//! Typed GitHub payloads, limited to what the pipeline reads. Timestamps are
//! RFC 3339 and decoded straight to UTC; unknown fields are ignored, nullable
//! ones are `Option`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An account (`user`, `creator`, commit `author`). `null` for deleted users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The account name: mapped to a contributor id, and matched for bots.
    pub login: String,
    /// `User` or `Bot`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl User {
    /// A bot account: `type` is `Bot` or the login ends in `[bot]`.
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]")
    }
}

/// `head` / `base` of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    /// `ref`: the branch name.
    #[serde(rename = "ref")]
    pub name: String,
    /// The commit the branch pointed at.
    pub sha: String,
}

/// An item of `GET /repos/{o}/{r}/pulls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    /// The PR number, unique in its repo: the silver change's key.
    pub number: u64,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: Option<String>,
    /// The PR's title.
    #[serde(default)]
    pub title: Option<String>,
    /// The author; `None` for a deleted account.
    #[serde(default)]
    pub user: Option<User>,
    /// When the PR was opened, UTC.
    pub created_at: DateTime<Utc>,
    /// When the PR last changed, UTC: the list is crawled newest first by it.
    pub updated_at: DateTime<Utc>,
    /// When it was closed (merged or not), UTC.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// When it was merged, UTC; `None` for an unmerged PR, which is no change.
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    /// The commit the merge created on the base branch.
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// The branch merged from.
    #[serde(default)]
    pub head: Option<GitRef>,
    /// The branch merged into.
    #[serde(default)]
    pub base: Option<GitRef>,
}

impl PullRequest {
    /// The author's login; `None` for a deleted account.
    pub fn author_login(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.login.as_str())
    }
}

/// Name, e-mail and time of a git author or committer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitActor {
    /// The git name; matched against the bot list when GitHub knows no account.
    #[serde(default)]
    pub name: Option<String>,
    /// The git e-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// The git author or committer date, converted to UTC.
    pub date: DateTime<Utc>,
}

/// The git part of a commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitDetail {
    /// The git author; its date is when the change was authored.
    #[serde(default)]
    pub author: Option<GitActor>,
    /// The git committer.
    #[serde(default)]
    pub committer: Option<GitActor>,
    /// The commit message.
    #[serde(default)]
    pub message: Option<String>,
}

/// A parent of a commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentRef {
    /// The parent's sha.
    pub sha: String,
}

/// An item of `GET /repos/{o}/{r}/pulls/{n}/commits` (also `/commits`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullCommit {
    /// The commit's sha: its key within the PR.
    pub sha: String,
    /// Its parents, first parent first (the branch it was made on).
    #[serde(default)]
    pub parents: Vec<ParentRef>,
    /// The git side of the commit: author, committer, message.
    pub commit: CommitDetail,
    /// The GitHub account of the git author, when GitHub could match it.
    #[serde(default)]
    pub author: Option<User>,
    /// The GitHub account of the git committer, when GitHub could match it.
    #[serde(default)]
    pub committer: Option<User>,
}

impl PullCommit {
    /// When the change was authored (git author date), in UTC.
    pub fn authored_at(&self) -> Option<DateTime<Utc>> {
        self.commit.author.as_ref().map(|a| a.date)
    }

    /// When it was committed (git committer date, else the author date), in UTC.
    pub fn committed_at(&self) -> Option<DateTime<Utc>> {
        self.commit
            .committer
            .as_ref()
            .map(|c| c.date)
            .or_else(|| self.authored_at())
    }
}

/// An item of `GET /repos/{o}/{r}/deployments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// GitHub's deployment id: in the silver key (`{repo}#{id}`) and in the
    /// path of its statuses.
    pub id: u64,
    /// The commit deployed.
    pub sha: String,
    /// `ref`: the branch, tag or sha that was deployed.
    #[serde(rename = "ref", default)]
    pub git_ref: Option<String>,
    /// The deployment's task, e.g. `deploy`.
    #[serde(default)]
    pub task: Option<String>,
    /// The target environment, matched against the definitions' production
    /// environments.
    pub environment: String,
    /// When the deployment was created, UTC: its start, and its position in
    /// the newest-first list.
    pub created_at: DateTime<Utc>,
    /// When it last changed, UTC.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Who created it: the silver deployer.
    #[serde(default)]
    pub creator: Option<User>,
}

/// An item of `GET /repos/{o}/{r}/deployments/{id}/statuses`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    /// GitHub's status id; breaks ties between statuses set at the same instant.
    pub id: u64,
    /// `error`, `failure`, `inactive`, `in_progress`, `queued`, `pending` or `success`.
    pub state: String,
    /// When the status was set, UTC; a final status's is the deployment's
    /// finish time.
    pub created_at: DateTime<Utc>,
    /// When it last changed, UTC.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The environment the status reports on.
    #[serde(default)]
    pub environment: Option<String>,
    /// Free text set with the status.
    #[serde(default)]
    pub description: Option<String>,
    /// Who set the status.
    #[serde(default)]
    pub creator: Option<User>,
}
