//! The unit of a crawl: one request, and the page it brought back.
//!
//! Requests are plain data so that pending ones can be checkpointed in the
//! warehouse and a retried extract resumes where it stopped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One HTTP request of a crawl; serializable because pending requests are
/// checkpointed in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// What kind of list this is: one of the `endpoint` constants.
    pub endpoint: String,
    /// Absolute (a followed `Link: rel="next"`), or a path relative to the
    /// source base URL, including the query.
    pub url: String,
    /// 1-based position within its list.
    pub page_no: u32,
    /// A JSON body to POST instead of a GET (Jira's approximate count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_body: Option<String>,
}

/// The endpoint names a [`PageRequest`] can carry.
pub mod endpoint {
    /// GitHub `GET /repos/{o}/{r}/pulls`: a repo's pull requests.
    pub const PULLS: &str = "pulls";
    /// GitHub `GET /repos/{o}/{r}/pulls/{n}/commits`: one pull request's commits.
    pub const PULL_COMMITS: &str = "pull_commits";
    /// GitHub `GET /repos/{o}/{r}/deployments`: a repo's deployments.
    pub const DEPLOYMENTS: &str = "deployments";
    /// GitHub `GET /repos/{o}/{r}/deployments/{id}/statuses`: one deployment's statuses.
    pub const DEPLOYMENT_STATUSES: &str = "deployment_statuses";
    /// GitHub `GET /repos/{o}/{r}/commits?since=…&until=…`: the default
    /// branch's commits committed in a window, with their parents.
    pub const REPO_COMMITS: &str = "repo_commits";
    /// Jira `GET /rest/api/3/search/jql`: a project's issues in a window.
    pub const JIRA_SEARCH: &str = "jira_search";
    /// Jira's count of the issues a JQL matches: a check of the search, no records.
    pub const JIRA_COUNT: &str = "jira_count";
    /// Jira `GET /rest/api/3/issue/{key}/changelog`: one issue's change groups.
    pub const JIRA_CHANGELOG: &str = "jira_changelog";
    /// Jira Data Center `GET /rest/api/2/issue/{key}?expand=changelog`: one
    /// issue with its whole changelog (`changelog.histories`): Data Center
    /// has no changelog endpoint of its own.
    pub const JIRA_ISSUE_CHANGELOG: &str = "jira_issue_changelog";
    /// Jira `GET /rest/api/2/serverInfo`: which Jira this is
    /// (`deploymentType`), when `sources.jira.api` is `auto`. No records.
    pub const JIRA_SERVER_INFO: &str = "jira_server_info";
    /// Jira `GET /rest/api/{2|3}/myself`: the API user, whose `timeZone`
    /// JQL dates are read in. No records.
    pub const JIRA_MYSELF: &str = "jira_myself";
    /// Jenkins `GET /job/X/api/json?tree=allBuilds[…]`: a job's builds.
    pub const JENKINS_BUILDS: &str = "jenkins_builds";
    /// Jenkins `GET /job/X/api/json?tree=jobs[…]`: the branch jobs of a
    /// multibranch project.
    pub const JENKINS_BRANCHES: &str = "jenkins_branches";
    /// Jenkins `GET /job/X/job/B/api/json?tree=allBuilds[…]`: the builds of
    /// one branch job of a multibranch project (a child list: a branch
    /// deleted since the listing answers 404).
    pub const JENKINS_BRANCH_BUILDS: &str = "jenkins_branch_builds";
}

impl FetchedPage {
    /// Whether this page says its item is gone (a 404 on a child list).
    pub fn says_gone(&self) -> bool {
        self.status == 404 && self.request.is_child()
    }

    /// Whether the server answered `304 Not Modified`: the page is the one
    /// whose validators the request carried, and this response has no body.
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }
}

/// The validators of a page fetched earlier, which a conditional request
/// carries so that an unchanged page costs a `304` without a body (and, on
/// GitHub, nothing from the hourly quota): `If-None-Match` with the ETag,
/// else `If-Modified-Since` with `Last-Modified` (RFC 9110 §13.1.3: a
/// server evaluates the ETag first, so sending both adds nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The stored page's `ETag`, exactly as the server sent it.
    pub etag: Option<String>,
    /// The stored page's `Last-Modified`, exactly as the server sent it.
    pub last_modified: Option<String>,
}

impl Validators {
    /// Neither validator: the request is sent unconditionally.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    /// The conditional header the request carries, if any.
    pub fn header(&self) -> Option<(reqwest::header::HeaderName, &str)> {
        match (&self.etag, &self.last_modified) {
            (Some(etag), _) => Some((reqwest::header::IF_NONE_MATCH, etag.as_str())),
            (None, Some(date)) => Some((reqwest::header::IF_MODIFIED_SINCE, date.as_str())),
            (None, None) => None,
        }
    }
}

impl PageRequest {
    /// A `GET` of `url` (absolute or relative to the base URL), the
    /// `page_no`-th page of an `endpoint` list.
    pub fn new(endpoint: &str, url: impl Into<String>, page_no: u32) -> PageRequest {
        PageRequest {
            endpoint: endpoint.to_owned(),
            url: url.into(),
            page_no,
            json_body: None,
        }
    }

    /// A POST of `json_body` to `url`.
    pub fn post(endpoint: &str, url: impl Into<String>, json_body: String) -> PageRequest {
        PageRequest {
            json_body: Some(json_body),
            ..PageRequest::new(endpoint, url, 1)
        }
    }

    /// A request that only checks the crawl (it lists no records): when the
    /// server does not offer it, the crawl goes on without the check.
    pub fn is_check(&self) -> bool {
        self.endpoint == endpoint::JIRA_COUNT
    }

    /// A request for the child list of an item a list showed (a pull
    /// request's commits, a deployment's statuses, a Jira issue's
    /// changelog). Such an item can be deleted between the list and this
    /// request: a 404 here means the item is gone, which is data, not a
    /// failure of the crawl.
    pub fn is_child(&self) -> bool {
        matches!(
            self.endpoint.as_str(),
            endpoint::PULL_COMMITS
                | endpoint::DEPLOYMENT_STATUSES
                | endpoint::JIRA_CHANGELOG
                | endpoint::JIRA_ISSUE_CHANGELOG
                | endpoint::JENKINS_BRANCH_BUILDS
        )
    }

    /// `GET` or `POST`.
    pub fn method(&self) -> &'static str {
        if self.json_body.is_some() {
            "POST"
        } else {
            "GET"
        }
    }
}

/// A response the client accepted (2xx, 304, or 404 for a child list, see
/// [`PageRequest::is_child`]), with what the crawl and the bronze layer need
/// from its headers.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    /// The request this page answers.
    pub request: PageRequest,
    /// The HTTP status: 2xx, 304, or 404 (a child list of a deleted item).
    pub status: u16,
    /// The response body, as received.
    pub body: String,
    /// When the response headers arrived, on this machine's clock, in UTC.
    pub fetched_at: DateTime<Utc>,
    /// The `Link: rel="next"` target, exactly as sent.
    pub link_next: Option<String>,
    /// The `ETag` header, exactly as sent.
    pub etag: Option<String>,
    /// The `Last-Modified` header, exactly as sent: the validator of a
    /// server that sends no `ETag`.
    pub last_modified: Option<String>,
    /// Time this request spent waiting for the rate budget or a server pause.
    pub rate_limit_wait: Duration,
}
