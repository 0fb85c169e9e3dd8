//! The data endpoints the simulator serves, as a closed set: faults target
//! them, the request log and the statistics are keyed by them.

use dorafleet_core::Source;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One data endpoint of the simulator; serialized in snake case (`pull_commits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// GitHub `GET /repos/{o}/{r}/pulls`.
    Pulls,
    /// GitHub `GET /repos/{o}/{r}/pulls/{n}/commits`.
    PullCommits,
    /// GitHub `GET /repos/{o}/{r}/deployments`.
    Deployments,
    /// GitHub `GET /repos/{o}/{r}/commits` (the default branch's history).
    RepoCommits,
    /// GitHub `GET /repos/{o}/{r}/deployments/{id}/statuses`.
    DeploymentStatuses,
    /// Jira `GET|POST /rest/api/3/search/jql`.
    JiraSearch,
    /// Jira `POST /rest/api/3/search/approximate-count`.
    JiraApproximateCount,
    /// Jira `GET /rest/api/3/issue/{key}/changelog`.
    JiraChangelog,
    /// Jira `/rest/api/3/search`, removed in 2025 (410 Gone).
    JiraOldSearch,
    /// Jira Data Center `GET|POST /rest/api/2/search` (`startAt`, `total`).
    JiraSearchV2,
    /// Jira Data Center `GET /rest/api/2/issue/{key}` (`expand=changelog`).
    JiraIssue,
    /// Jira `GET /rest/api/2/serverInfo`.
    JiraServerInfo,
    /// Jira `GET /rest/api/{2|3}/myself`.
    JiraMyself,
    /// Jenkins `GET /job/{name}/api/json`.
    JenkinsBuilds,
}

impl Endpoint {
    /// Every endpoint, in declaration order.
    pub const ALL: [Endpoint; 14] = [
        Endpoint::Pulls,
        Endpoint::PullCommits,
        Endpoint::Deployments,
        Endpoint::RepoCommits,
        Endpoint::DeploymentStatuses,
        Endpoint::JiraSearch,
        Endpoint::JiraApproximateCount,
        Endpoint::JiraChangelog,
        Endpoint::JiraOldSearch,
        Endpoint::JiraSearchV2,
        Endpoint::JiraIssue,
        Endpoint::JiraServerInfo,
        Endpoint::JiraMyself,
        Endpoint::JenkinsBuilds,
    ];

    /// The snake-case name, as serialized and displayed (`pull_commits`).
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Pulls => "pulls",
            Endpoint::PullCommits => "pull_commits",
            Endpoint::Deployments => "deployments",
            Endpoint::RepoCommits => "repo_commits",
            Endpoint::DeploymentStatuses => "deployment_statuses",
            Endpoint::JiraSearch => "jira_search",
            Endpoint::JiraApproximateCount => "jira_approximate_count",
            Endpoint::JiraChangelog => "jira_changelog",
            Endpoint::JiraOldSearch => "jira_old_search",
            Endpoint::JiraSearchV2 => "jira_search_v2",
            Endpoint::JiraIssue => "jira_issue",
            Endpoint::JiraServerInfo => "jira_server_info",
            Endpoint::JiraMyself => "jira_myself",
            Endpoint::JenkinsBuilds => "jenkins_builds",
        }
    }

    /// Shorter names accepted in fault specs (`github/commits`, `jira/search`).
    fn alias(self) -> &'static str {
        match self {
            Endpoint::Pulls => "pulls",
            Endpoint::PullCommits => "commits",
            Endpoint::Deployments => "deployments",
            Endpoint::RepoCommits => "history",
            Endpoint::DeploymentStatuses => "statuses",
            Endpoint::JiraSearch => "search",
            Endpoint::JiraApproximateCount => "count",
            Endpoint::JiraChangelog => "changelog",
            Endpoint::JiraOldSearch => "old_search",
            Endpoint::JiraSearchV2 => "search_v2",
            Endpoint::JiraIssue => "issue",
            Endpoint::JiraServerInfo => "server_info",
            Endpoint::JiraMyself => "myself",
            Endpoint::JenkinsBuilds => "builds",
        }
    }

    /// The tool the endpoint belongs to.
    pub fn source(self) -> Source {
        match self {
            Endpoint::Pulls
            | Endpoint::PullCommits
            | Endpoint::Deployments
            | Endpoint::RepoCommits
            | Endpoint::DeploymentStatuses => Source::Github,
            Endpoint::JiraSearch
            | Endpoint::JiraApproximateCount
            | Endpoint::JiraChangelog
            | Endpoint::JiraOldSearch
            | Endpoint::JiraSearchV2
            | Endpoint::JiraIssue
            | Endpoint::JiraServerInfo
            | Endpoint::JiraMyself => Source::Jira,
            Endpoint::JenkinsBuilds => Source::Jenkins,
        }
    }

    /// Whether records served here count in `served_records` (the changelog
    /// is detail of issues already counted, so it is reported separately).
    pub fn counts_as_served_records(self) -> bool {
        !matches!(
            self,
            Endpoint::JiraChangelog | Endpoint::JiraOldSearch | Endpoint::JiraIssue
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown endpoint `{0}`; expected one of: pulls, pull_commits, deployments, repo_commits, deployment_statuses, jira_search, jira_approximate_count, jira_changelog, jira_old_search, jira_search_v2, jira_issue, jira_server_info, jira_myself, jenkins_builds"
)]
pub struct UnknownEndpoint(pub String);

impl FromStr for Endpoint {
    type Err = UnknownEndpoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Endpoint::ALL
            .into_iter()
            .find(|e| {
                e.as_str().eq_ignore_ascii_case(wanted) || e.alias().eq_ignore_ascii_case(wanted)
            })
            .ok_or_else(|| UnknownEndpoint(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_branch_history_is_named_repo_commits_or_history_and_belongs_to_github() {
        assert_eq!("repo_commits".parse(), Ok(Endpoint::RepoCommits));
        assert_eq!("History".parse(), Ok(Endpoint::RepoCommits));
        assert_eq!(Endpoint::RepoCommits.to_string(), "repo_commits");
        assert_eq!(Endpoint::RepoCommits.source(), Source::Github);
        assert!(Endpoint::ALL.contains(&Endpoint::RepoCommits));
    }
}
