//! The generated organisation as plain data: teams, people, repositories with
//! their pull requests and deployments, Jenkins jobs with their builds, Jira
//! projects with their issues.
//!
//! These types are the single source both the HTTP layer (which renders them
//! in each tool's JSON dialect) and the ground truth (which computes DORA
//! values from them) read, so the two can only disagree if one of them is
//! wrong, which is exactly what the tests look for.

use chrono::{DateTime, NaiveDate, Utc};
use dorafleet_core::{IdentityConfig, TeamConfig};
use serde::Serialize;

/// Suffix GitHub gives every bot login (`dependabot[bot]`).
pub const BOT_LOGIN_SUFFIX: &str = "[bot]";
/// The GitHub deployment environment that counts as production.
pub const PRODUCTION_ENVIRONMENT: &str = "production";
/// The Jira issue type that counts as an incident.
pub const INCIDENT_ISSUE_TYPE: &str = "Incident";

/// Everything the simulator serves, generated from one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    pub seed: u64,
    /// First instant covered (inclusive), midnight UTC.
    pub start: DateTime<Utc>,
    /// End of the covered range (exclusive), midnight UTC.
    pub end: DateTime<Utc>,
    /// First day of the quiet holiday week, if the range is long enough for one.
    pub holiday_start: Option<NaiveDate>,
    pub teams: Vec<SimTeam>,
    pub people: Vec<Person>,
    pub repos: Vec<Repo>,
    pub jenkins_jobs: Vec<JenkinsJob>,
    pub jira_projects: Vec<JiraProject>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimTeam {
    pub id: String,
    /// `owner/repo` full names.
    pub repos: Vec<String>,
    pub jira_project: String,
    pub jenkins_jobs: Vec<String>,
    /// Contributor ids of the members.
    pub members: Vec<String>,
}

/// One human, known by a different name in every tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub contributor_id: String,
    pub display_name: String,
    pub team: String,
    pub github_login: String,
    pub github_id: u64,
    pub jira_email: String,
    pub jira_account_id: String,
    pub jenkins_user: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
    pub team: String,
    pub deploys_with: DeployMechanism,
    /// Ordered by number (= by creation).
    pub pulls: Vec<PullRequest>,
    /// Ordered by id (= by creation). Empty for Jenkins-deployed repos.
    pub deployments: Vec<GithubDeployment>,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployMechanism {
    GithubDeployments,
    /// Deployed by builds of this Jenkins job.
    JenkinsJob(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    pub author_login: String,
    pub author_is_bot: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub merged_at: Option<DateTime<Utc>>,
    pub merge_commit_sha: String,
    pub head_ref: String,
    pub base_ref: String,
    /// Chronological by authored time.
    pub commits: Vec<Commit>,
}

impl PullRequest {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub author_login: String,
    pub author_name: String,
    pub author_email: String,
    pub authored_at: DateTime<Utc>,
    pub committed_at: DateTime<Utc>,
    pub message: String,
}

impl Commit {
    pub fn is_bot(&self) -> bool {
        self.author_login.ends_with(BOT_LOGIN_SUFFIX)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubDeployment {
    pub id: u64,
    pub sha: String,
    pub ref_name: String,
    pub environment: String,
    pub created_at: DateTime<Utc>,
    pub creator_login: String,
    /// Chronological.
    pub statuses: Vec<DeploymentStatus>,
}

impl GithubDeployment {
    /// The status with the latest `created_at` (ties: the higher id).
    pub fn latest_status(&self) -> Option<&DeploymentStatus> {
        self.statuses.iter().max_by_key(|s| (s.created_at, s.id))
    }

    pub fn updated_at(&self) -> DateTime<Utc> {
        self.latest_status()
            .map_or(self.created_at, |s| s.created_at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub id: u64,
    /// queued, in_progress, success, failure or error.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub creator_login: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Every successful build is a production deployment of `repo`.
    Deploy,
    /// Builds and tests only; never a deployment.
    Ci,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Deploy => "deploy",
            JobKind::Ci => "ci",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JenkinsJob {
    pub name: String,
    pub kind: JobKind,
    /// `owner/repo` the job builds.
    pub repo: String,
    pub team: String,
    /// Ascending by number (= by start time).
    pub builds: Vec<JenkinsBuild>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildResult {
    Success,
    Failure,
    Unstable,
    Aborted,
}

impl BuildResult {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildResult::Success => "SUCCESS",
            BuildResult::Failure => "FAILURE",
            BuildResult::Unstable => "UNSTABLE",
            BuildResult::Aborted => "ABORTED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JenkinsBuild {
    pub number: u64,
    /// `None` while building.
    pub result: Option<BuildResult>,
    pub started_at: DateTime<Utc>,
    /// 0 while building, like Jenkins.
    pub duration_ms: u64,
    pub building: bool,
    /// Contributor id of whoever started it; `None` for SCM-triggered builds.
    pub started_by: Option<String>,
}

impl JenkinsBuild {
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        (!self.building)
            .then(|| self.started_at + chrono::Duration::milliseconds(self.duration_ms as i64))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JiraProject {
    pub key: String,
    pub id: u64,
    pub name: String,
    pub team: String,
    /// Ordered by creation (= by key number).
    pub issues: Vec<JiraIssue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraIssue {
    pub id: u64,
    pub key: String,
    pub project_key: String,
    pub summary: String,
    /// Story, Task, Bug or Incident.
    pub issue_type: String,
    /// P1..P4.
    pub priority: String,
    pub created: DateTime<Utc>,
    pub resolved: Option<DateTime<Utc>>,
    /// Contributor ids.
    pub reporter: String,
    pub assignee: Option<String>,
    /// Chronological status changes.
    pub transitions: Vec<StatusTransition>,
}

impl JiraIssue {
    pub fn status(&self) -> &str {
        self.transitions.last().map_or("To Do", |t| t.to.as_str())
    }

    pub fn updated(&self) -> DateTime<Utc> {
        self.transitions.last().map_or(self.created, |t| t.at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusTransition {
    pub id: u64,
    pub at: DateTime<Utc>,
    /// Contributor id.
    pub author: String,
    pub from: String,
    pub to: String,
}

/// What a client needs to be configured against the simulator, serializable
/// for `GET /_admin/org` and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrgDescription {
    pub seed: u64,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub teams: Vec<TeamDescription>,
    pub people: Vec<PersonDescription>,
    pub production_environments: Vec<String>,
    pub incident_issue_types: Vec<String>,
    pub bot_login_suffix: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamDescription {
    pub id: String,
    pub repos: Vec<String>,
    pub jira_projects: Vec<String>,
    pub jenkins_jobs: Vec<JobDescription>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDescription {
    pub name: String,
    pub kind: JobKind,
    pub repo: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonDescription {
    pub contributor_id: String,
    pub display_name: String,
    pub team: String,
    pub github_login: String,
    pub jira_email: String,
    pub jenkins_user: String,
}

impl Organisation {
    /// The team configuration a dorafleet deployment needs to read this
    /// organisation: every repo, project and job (deploy and CI) per team.
    pub fn team_configs(&self) -> Vec<TeamConfig> {
        self.teams
            .iter()
            .map(|t| TeamConfig {
                id: t.id.clone(),
                github_repos: t.repos.clone(),
                jira_projects: vec![t.jira_project.clone()],
                jenkins_jobs: t.jenkins_jobs.clone(),
                deploy_jobs: self
                    .jenkins_jobs
                    .iter()
                    .filter(|j| j.team == t.id && j.kind == JobKind::Deploy)
                    .map(|j| (j.name.clone(), j.repo.clone()))
                    .collect(),
            })
            .collect()
    }

    /// Every person's identity in each tool, as dorafleet's config states it.
    pub fn identity_configs(&self) -> Vec<IdentityConfig> {
        self.people
            .iter()
            .map(|p| IdentityConfig {
                contributor_id: p.contributor_id.clone(),
                github: vec![p.github_login.clone()],
                jira: vec![p.jira_email.clone()],
                jenkins: vec![p.jenkins_user.clone()],
            })
            .collect()
    }

    pub fn description(&self) -> OrgDescription {
        let teams = self
            .teams
            .iter()
            .map(|t| TeamDescription {
                id: t.id.clone(),
                repos: t.repos.clone(),
                jira_projects: vec![t.jira_project.clone()],
                jenkins_jobs: self
                    .jenkins_jobs
                    .iter()
                    .filter(|j| j.team == t.id)
                    .map(|j| JobDescription {
                        name: j.name.clone(),
                        kind: j.kind,
                        repo: j.repo.clone(),
                    })
                    .collect(),
                members: t.members.clone(),
            })
            .collect();
        let people = self
            .people
            .iter()
            .map(|p| PersonDescription {
                contributor_id: p.contributor_id.clone(),
                display_name: p.display_name.clone(),
                team: p.team.clone(),
                github_login: p.github_login.clone(),
                jira_email: p.jira_email.clone(),
                jenkins_user: p.jenkins_user.clone(),
            })
            .collect();
        OrgDescription {
            seed: self.seed,
            window_start: self.start,
            window_end: self.end,
            teams,
            people,
            production_environments: vec![PRODUCTION_ENVIRONMENT.to_owned()],
            incident_issue_types: vec![INCIDENT_ISSUE_TYPE.to_owned()],
            bot_login_suffix: BOT_LOGIN_SUFFIX.to_owned(),
        }
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos
            .iter()
            .find(|r| r.owner == owner && r.name == name)
    }

    pub fn job(&self, name: &str) -> Option<&JenkinsJob> {
        self.jenkins_jobs.iter().find(|j| j.name == name)
    }

    pub fn person(&self, contributor_id: &str) -> Option<&Person> {
        self.people
            .iter()
            .find(|p| p.contributor_id == contributor_id)
    }

    pub fn issue(&self, key: &str) -> Option<&JiraIssue> {
        self.jira_projects
            .iter()
            .flat_map(|p| &p.issues)
            .find(|i| i.key.eq_ignore_ascii_case(key) || i.id.to_string() == key)
    }

    /// The UTC dates covered, in order.
    pub fn dates(&self) -> Vec<NaiveDate> {
        self.start
            .date_naive()
            .iter_days()
            .take_while(|d| *d < self.end.date_naive())
            .collect()
    }
}
