//! Typed Jira payloads: a search page and its issues (also a single issue
//! from `/rest/api/2/issue/{key}`). Jira timestamps such as
//! `2021-06-18T18:41:29.398+0000` are converted to UTC while decoding.

use crate::timestamps::{jira_time, jira_time_opt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A page of `GET /rest/api/3/search/jql`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    pub issues: Vec<Issue>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub is_last: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub id: String,
    pub key: String,
    pub fields: IssueFields,
}

/// The requested fields of an issue. Jira sends `null` for empty ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueFields {
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub issuetype: Option<NamedField>,
    #[serde(default)]
    pub priority: Option<NamedField>,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub project: Option<ProjectRef>,
    #[serde(deserialize_with = "jira_time")]
    pub created: DateTime<Utc>,
    #[serde(deserialize_with = "jira_time")]
    pub updated: DateTime<Utc>,
    #[serde(default, deserialize_with = "jira_time_opt")]
    pub resolutiondate: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reporter: Option<JiraUser>,
    #[serde(default)]
    pub assignee: Option<JiraUser>,
}

/// Issue type or priority: the pipeline matches on the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedField {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub name: String,
    #[serde(default)]
    pub status_category: Option<StatusCategory>,
}

/// `new`, `indeterminate` or `done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCategory {
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A reporter or assignee. `emailAddress` is hidden by many privacy settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraUser {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

impl Issue {
    pub fn issue_type(&self) -> Option<&str> {
        self.fields.issuetype.as_ref().map(|t| t.name.as_str())
    }

    pub fn priority(&self) -> Option<&str> {
        self.fields.priority.as_ref().map(|p| p.name.as_str())
    }

    pub fn status(&self) -> Option<&str> {
        self.fields.status.as_ref().map(|s| s.name.as_str())
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        self.fields.created
    }

    pub fn updated_at(&self) -> DateTime<Utc> {
        self.fields.updated
    }

    pub fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.fields.resolutiondate
    }
}
