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

mod as_of;
mod description;
mod github;
mod history;
mod jenkins;
mod jira;

pub use description::*;
pub use github::*;
pub use history::*;
pub use jenkins::*;
pub use jira::*;

/// Suffix GitHub gives every bot login (`dependabot[bot]`).
pub const BOT_LOGIN_SUFFIX: &str = "[bot]";
/// The GitHub deployment environment that counts as production.
pub const PRODUCTION_ENVIRONMENT: &str = "production";
/// The Jira issue type that counts as an incident.
pub const INCIDENT_ISSUE_TYPE: &str = "Incident";

/// Everything the simulator serves, generated from one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    /// The seed it was generated from ([`SimOptions::seed`](crate::SimOptions::seed)).
    pub seed: u64,
    /// First instant covered (inclusive), midnight UTC.
    pub start: DateTime<Utc>,
    /// End of the covered range (exclusive), midnight UTC.
    pub end: DateTime<Utc>,
    /// First day of the quiet holiday week, if the range is long enough for one.
    pub holiday_start: Option<NaiveDate>,
    /// The teams, in generation order.
    pub teams: Vec<SimTeam>,
    /// Everyone in every team.
    pub people: Vec<Person>,
    /// Every GitHub repository (two per team: `{team}-api` and `{team}-web`).
    pub repos: Vec<Repo>,
    /// Every Jenkins job (two per team: a deploy job and a CI job).
    pub jenkins_jobs: Vec<JenkinsJob>,
    /// Every Jira project (one per team).
    pub jira_projects: Vec<JiraProject>,
}

/// One team and the names of what it owns in each tool.
#[derive(Debug, Clone, PartialEq)]
pub struct SimTeam {
    /// Team id, e.g. `payments`.
    pub id: String,
    /// `owner/repo` full names.
    pub repos: Vec<String>,
    /// Key of the team's Jira project, e.g. `PAY`.
    pub jira_project: String,
    /// Names of the team's Jenkins jobs (deploy and CI).
    pub jenkins_jobs: Vec<String>,
    /// Contributor ids of the members.
    pub members: Vec<String>,
}

/// One human, known by a different name in every tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// dorafleet's id for the person, e.g. `maria-kowalski`; unique.
    pub contributor_id: String,
    /// Full name, e.g. `Maria Kowalski`, shown as the display name in every tool.
    pub display_name: String,
    /// Id of the person's team.
    pub team: String,
    /// GitHub login, e.g. `mkowal`.
    pub github_login: String,
    /// GitHub's numeric user id (also part of the commit noreply e-mail).
    pub github_id: u64,
    /// Jira e-mail address, e.g. `maria.kowalski@acme.example`.
    pub jira_email: String,
    /// Jira (Atlassian) `accountId`, 24 hex digits.
    pub jira_account_id: String,
    /// Jenkins user id, e.g. `maria_k`.
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

    /// [`team_configs`](Self::team_configs) for a Jenkins served in
    /// `flavour`: jobs named by their path (`{team}/{job}` in folders, the
    /// deploy job being the multibranch project, whose `main` branch deploys
    /// under the default `sources.jenkins.deploy_branches`).
    pub fn team_configs_in(&self, flavour: JenkinsFlavour) -> Vec<TeamConfig> {
        let mut teams = self.team_configs();
        for team in &mut teams {
            let path = |name: &String| {
                self.job(name)
                    .map_or_else(|| name.clone(), |j| j.path(flavour))
            };
            team.jenkins_jobs = team.jenkins_jobs.iter().map(path).collect();
            team.deploy_jobs = std::mem::take(&mut team.deploy_jobs)
                .into_iter()
                .map(|(job, repo)| (path(&job), repo))
                .collect();
        }
        teams
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

    /// The organisation as clients need to see it (served at `GET /_admin/org`).
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

    /// The repository `owner/name`, if it exists.
    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos
            .iter()
            .find(|r| r.owner == owner && r.name == name)
    }

    /// The Jenkins job called `name`, if it exists.
    pub fn job(&self, name: &str) -> Option<&JenkinsJob> {
        self.jenkins_jobs.iter().find(|j| j.name == name)
    }

    /// The person with this contributor id, if any.
    pub fn person(&self, contributor_id: &str) -> Option<&Person> {
        self.people
            .iter()
            .find(|p| p.contributor_id == contributor_id)
    }

    /// The issue with this key (case-insensitive) or numeric id, if any.
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
