//! What the APIs show at one instant of the generated history.
//!
//! The generator produces the whole history, every status, finish, merge and
//! resolution at its real time even after the end of the covered range. The
//! simulator serves a view of that history as of its clock, so a pipeline run
//! at different instants sees the world move under it: deployments that were
//! in progress finish, builds stop building, incidents get resolved, reopened
//! and resolved again, items disappear. [`Organisation::as_of`] is that view;
//! it is pure, so the ground truth of any instant can be recomputed.

use super::{
    DONE, GithubDeployment, JenkinsBuild, JenkinsJob, JiraIssue, JiraProject, Organisation,
    PullRequest, Repo,
};
use chrono::{DateTime, Utc};

impl Organisation {
    /// The organisation as the APIs show it at instant `t`: items created
    /// after `t` or deleted at or before `t` are absent, and every item shows
    /// only what had happened by `t` (see the `as_of` of each item).
    pub fn as_of(&self, t: DateTime<Utc>) -> Organisation {
        Organisation {
            seed: self.seed,
            start: self.start,
            end: self.end,
            holiday_start: self.holiday_start,
            teams: self.teams.clone(),
            people: self.people.clone(),
            repos: self.repos.iter().map(|r| r.as_of(t)).collect(),
            jenkins_jobs: self.jenkins_jobs.iter().map(|j| j.as_of(t)).collect(),
            jira_projects: self.jira_projects.iter().map(|p| p.as_of(t)).collect(),
        }
    }
}

impl Repo {
    /// The repository with its pull requests and deployments as of `t`.
    pub fn as_of(&self, t: DateTime<Utc>) -> Repo {
        Repo {
            owner: self.owner.clone(),
            name: self.name.clone(),
            team: self.team.clone(),
            deploys_with: self.deploys_with.clone(),
            pulls: self.pulls.iter().filter_map(|p| p.as_of(t)).collect(),
            deployments: self.deployments.iter().filter_map(|d| d.as_of(t)).collect(),
            root_sha: self.root_sha.clone(),
            root_committed_at: self.root_committed_at,
        }
    }
}

/// Whether an item deleted at `deleted_at` is gone at `t`.
fn deleted_by(deleted_at: Option<DateTime<Utc>>, t: DateTime<Utc>) -> bool {
    deleted_at.is_some_and(|d| d <= t)
}

impl PullRequest {
    /// The pull request as of `t`; `None` if it was not yet opened or already
    /// deleted. Close and merge show only once they happened, commits only
    /// once pushed (`committed_at`), and `updated_at` is the latest of the
    /// creation, the visible pushes, close and merge, and the final
    /// `updated_at` once reached.
    pub fn as_of(&self, t: DateTime<Utc>) -> Option<PullRequest> {
        if self.created_at > t || deleted_by(self.deleted_at, t) {
            return None;
        }
        let commits: Vec<_> = self
            .commits
            .iter()
            .filter(|c| c.committed_at <= t)
            .cloned()
            .collect();
        let closed_at = self.closed_at.filter(|c| *c <= t);
        let merged_at = self.merged_at.filter(|m| *m <= t);
        let updated_at = commits
            .iter()
            .map(|c| c.committed_at)
            .chain(closed_at)
            .chain(merged_at)
            .chain(Some(self.updated_at).filter(|u| *u <= t))
            .fold(self.created_at, DateTime::max);
        Some(PullRequest {
            updated_at,
            closed_at,
            merged_at,
            commits,
            deleted_at: None,
            ..self.clone()
        })
    }
}

impl GithubDeployment {
    /// The deployment as of `t` with the statuses set by then; `None` if it
    /// was not yet created or already deleted.
    pub fn as_of(&self, t: DateTime<Utc>) -> Option<GithubDeployment> {
        if self.created_at > t || deleted_by(self.deleted_at, t) {
            return None;
        }
        Some(GithubDeployment {
            statuses: self
                .statuses
                .iter()
                .filter(|s| s.created_at <= t)
                .cloned()
                .collect(),
            deleted_at: None,
            ..self.clone()
        })
    }
}

impl JenkinsJob {
    /// The job with the builds started by `t`.
    pub fn as_of(&self, t: DateTime<Utc>) -> JenkinsJob {
        JenkinsJob {
            name: self.name.clone(),
            kind: self.kind,
            repo: self.repo.clone(),
            team: self.team.clone(),
            builds: self.builds.iter().filter_map(|b| b.as_of(t)).collect(),
        }
    }
}

impl JenkinsBuild {
    /// The build as of `t`; `None` if not yet started. A build that finishes
    /// after `t` is shown as Jenkins shows a running build: `building: true`,
    /// no result, duration 0.
    pub fn as_of(&self, t: DateTime<Utc>) -> Option<JenkinsBuild> {
        if self.started_at > t {
            return None;
        }
        let finished = self.started_at + chrono::Duration::milliseconds(self.duration_ms as i64);
        if self.building || finished <= t {
            return Some(self.clone());
        }
        Some(JenkinsBuild {
            result: None,
            duration_ms: 0,
            building: true,
            ..self.clone()
        })
    }
}

impl JiraProject {
    /// The project with the issues created by `t`.
    pub fn as_of(&self, t: DateTime<Utc>) -> JiraProject {
        JiraProject {
            key: self.key.clone(),
            id: self.id,
            name: self.name.clone(),
            team: self.team.clone(),
            issues: self.issues.iter().filter_map(|i| i.as_of(t)).collect(),
        }
    }
}

impl JiraIssue {
    /// The issue as of `t` with the transitions made by then; `None` if not
    /// yet created. `resolved` is the time of the last move into Done when
    /// the status at `t` is Done and the resolution is set, else `None`.
    pub fn as_of(&self, t: DateTime<Utc>) -> Option<JiraIssue> {
        if self.created > t {
            return None;
        }
        let transitions: Vec<_> = self
            .transitions
            .iter()
            .filter(|tr| tr.at <= t)
            .cloned()
            .collect();
        let resolved = match transitions.last() {
            Some(last) if last.to == DONE && !self.resolution_unset => Some(last.at),
            _ => None,
        };
        Some(JiraIssue {
            resolved,
            transitions,
            ..self.clone()
        })
    }
}
