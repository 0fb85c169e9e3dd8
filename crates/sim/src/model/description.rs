//! What a client needs to be configured against the simulator, serializable
//! for `GET /_admin/org` and the CLI.

use super::JobKind;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a client needs to be configured against the simulator, serializable
/// for `GET /_admin/org` and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrgDescription {
    /// The generation seed.
    pub seed: u64,
    /// First instant covered (inclusive), midnight UTC.
    pub window_start: DateTime<Utc>,
    /// End of the covered range (exclusive), midnight UTC.
    pub window_end: DateTime<Utc>,
    /// Every team with what it owns.
    pub teams: Vec<TeamDescription>,
    /// Every person with their identity in each tool.
    pub people: Vec<PersonDescription>,
    /// GitHub environments that count as production ([`PRODUCTION_ENVIRONMENT`]).
    pub production_environments: Vec<String>,
    /// Jira issue types that count as incidents ([`INCIDENT_ISSUE_TYPE`]).
    pub incident_issue_types: Vec<String>,
    /// Suffix of bot logins ([`BOT_LOGIN_SUFFIX`]).
    pub bot_login_suffix: String,
}

/// One team in an [`OrgDescription`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamDescription {
    /// Team id.
    pub id: String,
    /// `owner/repo` full names.
    pub repos: Vec<String>,
    /// Jira project keys.
    pub jira_projects: Vec<String>,
    /// Every Jenkins job of the team, deploy and CI.
    pub jenkins_jobs: Vec<JobDescription>,
    /// Contributor ids of the members.
    pub members: Vec<String>,
}

/// One Jenkins job in a [`TeamDescription`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDescription {
    /// Job name.
    pub name: String,
    /// Deploy or CI job.
    pub kind: JobKind,
    /// `owner/repo` the job builds.
    pub repo: String,
}

/// One person in an [`OrgDescription`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonDescription {
    /// dorafleet's id for the person.
    pub contributor_id: String,
    /// Full name.
    pub display_name: String,
    /// Id of the person's team.
    pub team: String,
    /// GitHub login.
    pub github_login: String,
    /// Jira e-mail address.
    pub jira_email: String,
    /// Jenkins user id.
    pub jenkins_user: String,
}
