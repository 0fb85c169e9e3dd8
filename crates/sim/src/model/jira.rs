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
    /// Jira's `resolutiondate`: the time of the last move into Done while
    /// the issue is Done with a resolution set; `None` otherwise (unresolved,
    /// reopened, or Done without a resolution, see `resolution_unset`).
    pub resolved: Option<DateTime<Utc>>,
    /// The issue went to Done without a resolution ever being set, so Jira
    /// shows `resolutiondate: null` even while it is Done.
    pub resolution_unset: bool,
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
        self.transitions.last().map_or(TO_DO, |t| t.to.as_str())
    }

    /// Time of the last transition, else the creation time.
    pub fn updated(&self) -> DateTime<Utc> {
        self.transitions.last().map_or(self.created, |t| t.at)
    }
}

/// The status an issue starts in.
pub const TO_DO: &str = "To Do";
/// The status of work under way.
pub const IN_PROGRESS: &str = "In Progress";
/// The status of finished work (sets the resolution unless it is unset).
pub const DONE: &str = "Done";
/// The status of an issue reopened after it was Done (clears the resolution).
pub const REOPENED: &str = "Reopened";

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
