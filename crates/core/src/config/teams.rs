//! Teams: the repositories, Jira projects and Jenkins jobs whose work
//! counts as each team's.

use crate::model::Source;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A team and the places its work shows up in each tool.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeamConfig {
    /// The team's id, unique among the teams (scopes name teams by it).
    pub id: String,
    /// `owner/repo`
    pub github_repos: Vec<String>,
    /// Jira project keys.
    pub jira_projects: Vec<String>,
    /// Jenkins job names (deploy and CI jobs alike: all are extracted).
    pub jenkins_jobs: Vec<String>,
    /// Jenkins jobs whose successful builds are production deployments, and
    /// the repo (`owner/repo`) each one deploys.
    pub deploy_jobs: BTreeMap<String, String>,
}

impl TeamConfig {
    /// The extract targets of this team for one source.
    pub fn targets(&self, source: Source) -> &[String] {
        match source {
            Source::Github => &self.github_repos,
            Source::Jira => &self.jira_projects,
            Source::Jenkins => &self.jenkins_jobs,
        }
    }
}
