//! The Jira side of the organisation: projects and their issues, with the
//! status transitions a changelog shows.

use chrono::{DateTime, Utc};

/// One Jira project with its issues.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraProject {
    /// Project key, e.g. `PAY`.
    pub key: String,
    /// Jira's numeric project id.
    pub id: u64,
    /// Project name, e.g. `payments team`.
    pub name: String,
    /// Id of the owning team.
    pub team: String,
    /// Ordered by creation (= by key number).
    pub issues: Vec<JiraIssue>,
}

/// One Jira issue with its status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraIssue {
    /// Jira's numeric issue id, unique across the organisation.
    pub id: u64,
    /// Issue key, e.g. `PAY-12`.
    pub key: String,
    /// Key of the issue's project.
    pub project_key: String,
    /// Summary (title).
    pub summary: String,
    /// Story, Task, Bug or Incident.
    pub issue_type: String,
    /// P1..P4.
    pub priority: String,
    /// When it was created (millisecond precision).
    pub created: DateTime<Utc>,
    /// When it was resolved (moved to Done); `None` while unresolved.
    pub resolved: Option<DateTime<Utc>>,
    /// Contributor id of the reporter.
    pub reporter: String,
    /// Contributor id of the assignee; `None` when unassigned.
    pub assignee: Option<String>,
    /// Chronological status changes.
    pub transitions: Vec<StatusTransition>,
}

impl JiraIssue {
    /// The current status: the target of the last transition, else `To Do`.
    pub fn status(&self) -> &str {
        self.transitions.last().map_or("To Do", |t| t.to.as_str())
    }

    /// Time of the last transition, else the creation time.
    pub fn updated(&self) -> DateTime<Utc> {
        self.transitions.last().map_or(self.created, |t| t.at)
    }
}

/// One status change of a Jira issue (a changelog entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusTransition {
    /// Changelog entry id, unique across the organisation.
    pub id: u64,
    /// When the status changed.
    pub at: DateTime<Utc>,
    /// Contributor id.
    pub author: String,
    /// Status before, e.g. `To Do`.
    pub from: String,
    /// Status after, e.g. `In Progress` or `Done`.
    pub to: String,
}
