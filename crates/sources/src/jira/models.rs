//! Typed Jira payloads: a search page and its issues (also a single issue
//! from `/rest/api/2/issue/{key}`), and a page of an issue's changelog
//! (`/rest/api/3/issue/{key}/changelog`). Jira timestamps such as
//! `2021-06-18T18:41:29.398+0000` are converted to UTC while decoding.

use crate::timestamps::{jira_time, jira_time_opt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A page of `GET /rest/api/3/search/jql`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    /// The page's issues.
    pub issues: Vec<Issue>,
    /// `nextPageToken`: the opaque cursor of the next page, absent on the last.
    #[serde(default)]
    pub next_page_token: Option<String>,
    /// `isLast`: `true` on the last page.
    #[serde(default)]
    pub is_last: Option<bool>,
}

/// An issue of a search page (or of `GET /rest/api/2/issue/{key}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// Jira's numeric id, as a string.
    pub id: String,
    /// The issue key (`OPS-12`): the silver incident's key.
    pub key: String,
    /// The requested fields ([`SEARCH_FIELDS`](super::SEARCH_FIELDS)).
    pub fields: IssueFields,
}

/// The requested fields of an issue. Jira sends `null` for empty ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueFields {
    /// The issue's title.
    #[serde(default)]
    pub summary: Option<String>,
    /// The issue type; the definitions pick incidents by its name.
    #[serde(default)]
    pub issuetype: Option<NamedField>,
    /// The priority; the definitions may exclude some by name.
    #[serde(default)]
    pub priority: Option<NamedField>,
    /// The workflow status.
    #[serde(default)]
    pub status: Option<Status>,
    /// The project; without it, the key's prefix names the project.
    #[serde(default)]
    pub project: Option<ProjectRef>,
    /// When the issue was created, converted to UTC.
    #[serde(deserialize_with = "jira_time")]
    pub created: DateTime<Utc>,
    /// When it last changed, converted to UTC: the search's window and order.
    #[serde(deserialize_with = "jira_time")]
    pub updated: DateTime<Utc>,
    /// When it was resolved, converted to UTC; `None` while unresolved.
    #[serde(default, deserialize_with = "jira_time_opt")]
    pub resolutiondate: Option<DateTime<Utc>>,
    /// Who reported it; the e-mail, if visible, maps to the silver reporter.
    #[serde(default)]
    pub reporter: Option<JiraUser>,
    /// Who it is assigned to.
    #[serde(default)]
    pub assignee: Option<JiraUser>,
}

/// Issue type or priority: the pipeline matches on the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedField {
    /// Jira's id of the type or priority.
    #[serde(default)]
    pub id: Option<String>,
    /// The name, as shown in Jira (`Incident`, `P1`).
    pub name: String,
}

/// An issue's workflow status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Jira's id of the status; changelog items name statuses by it too.
    #[serde(default)]
    pub id: Option<String>,
    /// The status name, e.g. `In Progress`.
    pub name: String,
    /// `statusCategory`: the status's category.
    #[serde(default)]
    pub status_category: Option<StatusCategory>,
}

/// `new`, `indeterminate` or `done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCategory {
    /// The category key: `new`, `indeterminate` or `done`.
    pub key: String,
    /// The category's display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A page of `GET /rest/api/3/issue/{key}/changelog`: offset paging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangelogPage {
    /// The page's change groups, oldest first.
    pub values: Vec<History>,
    /// `startAt`: the offset of the first entry of this page.
    #[serde(default)]
    pub start_at: Option<u64>,
    /// `maxResults`: the page size the server used.
    #[serde(default)]
    pub max_results: Option<u64>,
    /// `total`: how many change groups the issue has.
    #[serde(default)]
    pub total: Option<u64>,
    /// `isLast`: `true` on the last page.
    #[serde(default)]
    pub is_last: Option<bool>,
}

/// One change group of an issue's changelog (also an entry of the
/// `changelog.histories` an issue embeds when expanded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Jira's id of the change group, as a string; increasing over time.
    pub id: String,
    /// When the change was made, converted to UTC.
    #[serde(deserialize_with = "jira_time")]
    pub created: DateTime<Utc>,
    /// The fields the change set.
    #[serde(default)]
    pub items: Vec<ChangeItem>,
}

/// One field changed by a change group: for a status, `from`/`to` are
/// status ids and `fromString`/`toString` their names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeItem {
    /// The field's name, `status` for a workflow transition.
    pub field: String,
    /// The value before (an id), if any.
    #[serde(default)]
    pub from: Option<String>,
    /// `fromString`: the value before, as shown (a status name).
    #[serde(default, rename = "fromString")]
    pub from_name: Option<String>,
    /// The value after (an id), if any.
    #[serde(default)]
    pub to: Option<String>,
    /// `toString`: the value after, as shown (a status name).
    #[serde(default, rename = "toString")]
    pub to_name: Option<String>,
}

/// The project an issue belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    /// The project key (`OPS`): the silver incident's project.
    pub key: String,
    /// The project's display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A reporter or assignee. `emailAddress` is hidden by many privacy settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraUser {
    /// `accountId`: the Atlassian account id.
    #[serde(default)]
    pub account_id: Option<String>,
    /// `emailAddress`; `None` when hidden.
    #[serde(default)]
    pub email_address: Option<String>,
    /// `displayName`.
    #[serde(default)]
    pub display_name: Option<String>,
}

impl Issue {
    /// The issue type's name.
    pub fn issue_type(&self) -> Option<&str> {
        self.fields.issuetype.as_ref().map(|t| t.name.as_str())
    }

    /// The priority's name.
    pub fn priority(&self) -> Option<&str> {
        self.fields.priority.as_ref().map(|p| p.name.as_str())
    }

    /// The status's name.
    pub fn status(&self) -> Option<&str> {
        self.fields.status.as_ref().map(|s| s.name.as_str())
    }

    /// When the issue was created, UTC.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.fields.created
    }

    /// When the issue last changed, UTC.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.fields.updated
    }

    /// When the issue was resolved, UTC; `None` while unresolved.
    pub fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.fields.resolutiondate
    }
}
