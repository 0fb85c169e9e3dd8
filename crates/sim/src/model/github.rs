//! The GitHub side of the organisation: repositories, their pull requests
//! with commits, and deployments with their statuses.

use super::BOT_LOGIN_SUFFIX;
use chrono::{DateTime, Utc};

/// One GitHub repository with its pull requests and deployments.
#[derive(Debug, Clone, PartialEq)]
pub struct Repo {
    /// Owner (organisation) login, e.g. `acme`.
    pub owner: String,
    /// Repository name, e.g. `payments-api`.
    pub name: String,
    /// Id of the owning team.
    pub team: String,
    /// How production deployments of this repository are recorded.
    pub deploys_with: DeployMechanism,
    /// Ordered by number (= by creation).
    pub pulls: Vec<PullRequest>,
    /// Ordered by id (= by creation). Empty for Jenkins-deployed repos.
    pub deployments: Vec<GithubDeployment>,
    /// SHA of the root commit of main, which every main history starts from.
    pub root_sha: String,
    /// When the root commit was committed: a day before the organisation's start.
    pub root_committed_at: DateTime<Utc>,
}

impl Repo {
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// Where a repository's production deployments are recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployMechanism {
    /// Through the GitHub Deployments API ([`Repo::deployments`]).
    GithubDeployments,
    /// Deployed by builds of this Jenkins job.
    JenkinsJob(String),
}

/// One GitHub pull request with its commits.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequest {
    /// Number within the repository, ascending by creation.
    pub number: u64,
    /// Title.
    pub title: String,
    /// GitHub login of the author (`dependabot[bot]` for dependency bumps).
    pub author_login: String,
    /// Whether the author is a bot (dependabot).
    pub author_is_bot: bool,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it was last changed. In the generated history this is the final
    /// value, which may lie after the end of the range; [`PullRequest::as_of`]
    /// recomputes it for an instant.
    pub updated_at: DateTime<Utc>,
    /// When it was closed, merged or not; `None` while open.
    pub closed_at: Option<DateTime<Utc>>,
    /// When it was merged; `None` if not merged.
    pub merged_at: Option<DateTime<Utc>>,
    /// GitHub's `merge_commit_sha`; for merged pull requests, the commit that
    /// later deployments ship. Set for unmerged ones too, as GitHub does.
    pub merge_commit_sha: String,
    /// Name of the source branch.
    pub head_ref: String,
    /// Name of the target branch (`main`).
    pub base_ref: String,
    /// Chronological by authored time (a commit from a machine with a wrong
    /// clock may be authored after the merge; it is pushed, and listed, last).
    pub commits: Vec<Commit>,
    /// When the pull request was deleted (it is absent from every view from
    /// then on); `None` if it never is.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl PullRequest {
    /// Whether it is still open (not closed, merged or otherwise).
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// SHA of the last commit; empty if there are no commits.
    pub fn head_sha(&self) -> &str {
        self.commits.last().map_or("", |c| c.sha.as_str())
    }

    /// The earliest authored time among commits whose author is not a bot;
    /// `None` for bot-only pull requests.
    pub fn first_human_commit_at(&self) -> Option<DateTime<Utc>> {
        self.commits
            .iter()
            .filter(|c| !c.is_bot())
            .map(|c| c.authored_at)
            .min()
    }
}

/// One commit of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Commit SHA (40 hex digits).
    pub sha: String,
    /// GitHub login of the author (ends in `[bot]` for bots).
    pub author_login: String,
    /// Git author name.
    pub author_name: String,
    /// Git author e-mail (a GitHub noreply address).
    pub author_email: String,
    /// Git author date.
    pub authored_at: DateTime<Utc>,
    /// Git committer date, taken as the time the commit was pushed: a commit
    /// is visible from then on.
    pub committed_at: DateTime<Utc>,
    /// Commit message.
    pub message: String,
}

impl Commit {
    /// Whether the author is a bot (login ends in [`BOT_LOGIN_SUFFIX`]).
    pub fn is_bot(&self) -> bool {
        self.author_login.ends_with(BOT_LOGIN_SUFFIX)
    }
}

/// One GitHub deployment with its statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubDeployment {
    /// Deployment id, unique across the organisation, ascending by creation.
    pub id: u64,
    /// SHA of the deployed commit.
    pub sha: String,
    /// The deployed ref (GitHub's `ref` field), e.g. `main`.
    pub ref_name: String,
    /// Target environment, `production` or `staging`.
    pub environment: String,
    /// When the deployment was created.
    pub created_at: DateTime<Utc>,
    /// GitHub login of whoever created it.
    pub creator_login: String,
    /// Chronological.
    pub statuses: Vec<DeploymentStatus>,
    /// When the deployment was deleted (it is absent from every view from
    /// then on, statuses included); `None` if it never is.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl GithubDeployment {
    /// The status with the latest `created_at` (ties: the higher id).
    pub fn latest_status(&self) -> Option<&DeploymentStatus> {
        self.statuses.iter().max_by_key(|s| (s.created_at, s.id))
    }

    /// When the latest status was created, or the creation time if there is none.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.latest_status()
            .map_or(self.created_at, |s| s.created_at)
    }
}

/// One status of a GitHub deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStatus {
    /// Status id, unique across the organisation, ascending by creation.
    pub id: u64,
    /// queued, in_progress, success, failure or error.
    pub state: String,
    /// When the status was set.
    pub created_at: DateTime<Utc>,
    /// GitHub login of whoever set it.
    pub creator_login: String,
}
