//! How a Jira extract walks its search: one JQL query for the project and
//! window, ordered by `updated`, in the dialect of the Jira it talks to.
//!
//! - **Cloud** (REST v3): the enhanced search `/rest/api/3/search/jql`,
//!   followed by `nextPageToken` until `isLast`. The token is opaque and the
//!   search has no total, so a page skipped by the server cannot be seen in
//!   the pages themselves: after the last page the crawl asks Jira's
//!   approximate count for the same JQL, and the extract stage compares it
//!   with the issues the pages held.
//! - **Data Center / Server** (REST v2): `/rest/api/2/search`, paged by
//!   `startAt`/`maxResults`, each page saying the `total`. After the last
//!   page the crawl hands `total` to the same comparison; an empty page
//!   before `total` is reached is a gap at once.
//!
//! A crawl told its API and project ([`JiraCrawl`], in the task's
//! [`Watch`]) learns two things before it searches, each one request stored
//! in bronze like any page: which Jira this is, from
//! `GET /rest/api/2/serverInfo` (`deploymentType`), when `sources.jira.api`
//! is `auto`; and the API user's time zone, from `GET /rest/api/{2|3}/myself`
//! (`timeZone`), because Jira reads JQL dates in it. The search's bounds
//! are then written in that zone (see [`super::zone`]). A crawl without a
//! [`JiraCrawl`] searches Jira Cloud at once, its bounds in UTC.
//!
//! An issue in a Done-category status without a `resolutiondate` is
//! resolved when it last entered that category (see [`super::resolution`]),
//! which only its changelog tells. Each such issue of a search page adds
//! its changelog: on Cloud `GET /rest/api/3/issue/{key}/changelog`, paged
//! by `startAt` until `isLast`; on Data Center, which has no changelog
//! endpoint, `GET /rest/api/2/issue/{key}?fields=status&expand=changelog`,
//! the whole changelog in one answer. No other issue's changelog is asked
//! for.

use super::models::{History, Issue};
use super::resolution::needs_changelog;
use super::zone::JqlZone;
use crate::crawl::{CrawlStep, Watch, checked, next_page, page_error, parse_body};
use crate::page::{FetchedPage, PageRequest, endpoint};
use crate::urls::{relative, with_query_param};
use chrono::{DateTime, Utc};
use dorafleet_core::config::{Definitions, JiraApi};
use dorafleet_core::{Source, TaskError, Window};
use serde::{Deserialize, Serialize};

mod preamble;
use preamble::*;
mod changelog;
use changelog::*;

/// What a Jira crawl is told when its task starts: which API to speak
/// (`sources.jira.api`) and the project to search. Kept in the task's
/// [`Watch`], so a resumed attempt writes the same search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraCrawl {
    /// `cloud`, `datacenter`, or `auto` (asked from `serverInfo`).
    pub api: JiraApi,
    /// The project key the search is restricted to.
    pub project: String,
}

/// The two dialects of Jira's REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// Jira Cloud, REST v3.
    Cloud,
    /// Jira Data Center or Server, REST v2.
    DataCenter,
}

impl Flavour {
    /// The REST API version the flavour's requests use.
    fn version(self) -> &'static str {
        match self {
            Flavour::Cloud => "3",
            Flavour::DataCenter => "2",
        }
    }

    /// The flavour a request's path speaks: `/rest/api/2/…` is Data Center.
    fn of_request(url: &str) -> Flavour {
        let path = url.split('?').next().unwrap_or(url);
        if path.contains("rest/api/2/") {
            Flavour::DataCenter
        } else {
            Flavour::Cloud
        }
    }
}

/// Changelog pages are asked with Jira's largest page.
const CHANGELOG_PAGE_SIZE: u64 = 100;

/// The cursor of a search page, next to its `issues`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cursor {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    is_last: Option<bool>,
}

/// The issue fields the pipeline reads.
pub const SEARCH_FIELDS: &str =
    "summary,issuetype,priority,status,project,created,updated,resolutiondate,reporter,assignee";

/// The JQL of one project and window, its bounds in UTC. JQL dates have
/// minute resolution, so `from` is rounded down and `to` up: the window may
/// grow by under a minute at each end, but nothing inside it is lost.
///
/// Jira reads these dates in the time zone of the calling user: this is
/// right only for a user set to UTC (see [`window_jql_in`]).
pub fn window_jql(project: &str, window: &Window) -> String {
    window_jql_in(project, window, JqlZone::UTC)
}

/// The JQL of one project and window, its bounds written in `zone`, the
/// API user's time zone (see [`JqlZone`]).
pub fn window_jql_in(project: &str, window: &Window, zone: JqlZone) -> String {
    format!(
        "{} ORDER BY updated ASC",
        window_filter(project, window, zone)
    )
}

/// The JQL restriction of one project and window, without an order.
fn window_filter(project: &str, window: &Window, zone: JqlZone) -> String {
    let escaped = project.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "project = \"{escaped}\" AND updated >= \"{}\" AND updated < \"{}\"",
        zone.lower_bound(window.from),
        zone.upper_bound(window.to),
    )
}

/// `POST /rest/api/3/search/approximate-count` for the search's restriction.
fn count_request(search_url: &str) -> Option<PageRequest> {
    let jql = crate::urls::query_param(search_url, "jql")?;
    let filter = jql.strip_suffix(" ORDER BY updated ASC").unwrap_or(&jql);
    Some(PageRequest::post(
        endpoint::JIRA_COUNT,
        relative(&["rest", "api", "3", "search", "approximate-count"], &[]),
        serde_json::json!({ "jql": filter }).to_string(),
    ))
}

/// The approximate count's answer: `{"count": N}`.
#[derive(Debug, Deserialize)]
struct Count {
    count: u64,
}

/// The first request of a Jira Cloud search in UTC (a crawl without a
/// [`JiraCrawl`]).
pub(crate) fn start_request(project: &str, window: &Window, page_size: u32) -> PageRequest {
    search_request(Flavour::Cloud, project, window, page_size, JqlZone::UTC)
}

/// The first requests of a Jira crawl: with a [`JiraCrawl`], what the crawl
/// must learn first (`serverInfo` when the API is `auto`, else `/myself`);
/// without one, the Cloud search in UTC.
pub(crate) fn start_requests(
    project: &str,
    window: &Window,
    page_size: u32,
    watch: &Watch,
) -> Vec<PageRequest> {
    match watch.jira.as_ref().map(|j| j.api) {
        None => vec![start_request(project, window, page_size)],
        Some(JiraApi::Auto) => vec![server_info_request()],
        Some(JiraApi::Cloud) => vec![myself_request(Flavour::Cloud)],
        Some(JiraApi::Datacenter) => vec![myself_request(Flavour::DataCenter)],
    }
}

/// The first page of the search of `project` in `window`, in `flavour`'s
/// dialect, its bounds in `zone`.
fn search_request(
    flavour: Flavour,
    project: &str,
    window: &Window,
    page_size: u32,
    zone: JqlZone,
) -> PageRequest {
    let max_results = page_size.clamp(1, 100).to_string();
    let jql = window_jql_in(project, window, zone);
    let url = match flavour {
        Flavour::Cloud => relative(
            &["rest", "api", "3", "search", "jql"],
            &[
                ("jql", &jql),
                ("maxResults", &max_results),
                ("fields", SEARCH_FIELDS),
            ],
        ),
        Flavour::DataCenter => relative(
            &["rest", "api", "2", "search"],
            &[
                ("jql", &jql),
                ("startAt", "0"),
                ("maxResults", &max_results),
                ("fields", SEARCH_FIELDS),
            ],
        ),
    };
    PageRequest::new(endpoint::JIRA_SEARCH, url, 1)
}

/// `GET /rest/api/2/serverInfo`: which Jira answers.
fn server_info_request() -> PageRequest {
    PageRequest::new(
        endpoint::JIRA_SERVER_INFO,
        relative(&["rest", "api", "2", "serverInfo"], &[]),
        1,
    )
}

/// `GET /rest/api/{2|3}/myself`: the API user and its time zone.
fn myself_request(flavour: Flavour) -> PageRequest {
    PageRequest::new(
        endpoint::JIRA_MYSELF,
        relative(&["rest", "api", flavour.version(), "myself"], &[]),
        1,
    )
}

/// `GET /rest/api/2/issue/{key}?fields=status&expand=changelog`: a Data
/// Center issue with its whole changelog.
pub fn issue_changelog_request(key: &str) -> PageRequest {
    PageRequest::new(
        endpoint::JIRA_ISSUE_CHANGELOG,
        relative(
            &["rest", "api", "2", "issue", key],
            &[("fields", "status"), ("expand", "changelog")],
        ),
        1,
    )
}

/// `GET /rest/api/3/issue/{key}/changelog`, the page at `start_at`.
pub fn changelog_request(key: &str, start_at: u64, page_no: u32) -> PageRequest {
    PageRequest::new(
        endpoint::JIRA_CHANGELOG,
        relative(
            &["rest", "api", "3", "issue", key, "changelog"],
            &[
                ("startAt", &start_at.to_string()),
                ("maxResults", &CHANGELOG_PAGE_SIZE.to_string()),
            ],
        ),
        page_no,
    )
}

/// The issue key of a changelog request: `…/issue/{key}/changelog?…`
/// (Cloud) or `…/issue/{key}?…expand=changelog` (Data Center).
pub(crate) fn changelog_key(request: &str) -> Option<&str> {
    let path = request.split('?').next().unwrap_or(request);
    let mut parts = path.rsplit('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("changelog"), Some(key), Some("issue")) if !key.is_empty() => Some(key),
        (Some(key), Some("issue"), _) if !key.is_empty() && key != "changelog" => Some(key),
        _ => None,
    }
}

/// The Done statuses the crawl reads from its watch (see [`Watch`]).
fn definitions(watch: &Watch) -> Definitions {
    let mut definitions = Definitions::default();
    if let Some(done) = &watch.done_statuses {
        definitions.done_statuses = done.clone();
    }
    definitions
}

pub(crate) fn next_steps(
    page: &FetchedPage,
    window: &Window,
    page_size: u32,
    watch: &Watch,
) -> Result<CrawlStep, TaskError> {
    match page.request.endpoint.as_str() {
        endpoint::JIRA_CHANGELOG => changelog_steps(page),
        endpoint::JIRA_ISSUE_CHANGELOG => issue_changelog_steps(page),
        endpoint::JIRA_SERVER_INFO => server_info_steps(page),
        endpoint::JIRA_MYSELF => myself_steps(page, window, page_size, watch),
        endpoint::JIRA_COUNT => {
            let body = parse_body(Source::Jira, page)?;
            let count = Count::deserialize(&body).map_err(|e| {
                page_error(
                    Source::Jira,
                    page,
                    &format!("not an approximate count: {e}"),
                )
            })?;
            Ok(CrawlStep {
                expected_total: Some(count.count),
                ..CrawlStep::default()
            })
        }
        endpoint::JIRA_SEARCH => match Flavour::of_request(&page.request.url) {
            Flavour::Cloud => cloud_search_steps(page, watch),
            Flavour::DataCenter => datacenter_search_steps(page, watch),
        },
        other => Err(page_error(
            Source::Jira,
            page,
            &format!("`{other}` is not a Jira endpoint"),
        )),
    }
}

/// The changelog request of an issue a search page showed, in the search's
/// dialect.
fn changelog_of(flavour: Flavour, key: &str) -> PageRequest {
    match flavour {
        Flavour::Cloud => changelog_request(key, 0, 1),
        Flavour::DataCenter => issue_changelog_request(key),
    }
}

/// The valid issues' changelog requests, for those that need one.
fn changelogs_of(flavour: Flavour, issues: &[Issue], watch: &Watch) -> Vec<PageRequest> {
    let definitions = definitions(watch);
    issues
        .iter()
        .filter(|issue| needs_changelog(issue, &definitions))
        .map(|issue| changelog_of(flavour, &issue.key))
        .collect()
}

fn cloud_search_steps(page: &FetchedPage, watch: &Watch) -> Result<CrawlStep, TaskError> {
    let body = parse_body(Source::Jira, page)?;
    let issues = checked::<Issue>(Source::Jira, page, &body)?;
    let search = Cursor::deserialize(&body).map_err(|e| {
        page_error(
            Source::Jira,
            page,
            &format!("body does not match the expected schema: {e}"),
        )
    })?;
    let token = search.next_page_token.as_deref().filter(|t| !t.is_empty());
    let mut follow_ups: Vec<PageRequest> = match (search.is_last, token) {
        (Some(true), _) | (None, None) => count_request(&page.request.url).into_iter().collect(),
        (_, Some(token)) => {
            let url = with_query_param(&page.request.url, "nextPageToken", token)
                .map_err(|e| page_error(Source::Jira, page, &e.to_string()))?;
            vec![next_page(page, url)]
        }
        (Some(false), None) => {
            return Err(page_error(
                Source::Jira,
                page,
                "`isLast` is false but there is no `nextPageToken`: the rest of the search is unreachable",
            ));
        }
    };
    follow_ups.extend(changelogs_of(Flavour::Cloud, &issues.valid, watch));
    Ok(CrawlStep {
        records: issues.quality.records,
        follow_ups,
        newest_seen: newest(&issues.valid),
        quality: issues.quality,
        // Seen by the count after the last page (see the module docs).
        pagination_gap: None,
        expected_total: None,
        gone: false,
    })
}

/// The paging of a Data Center search page, next to its `issues`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OffsetCursor {
    #[serde(default)]
    start_at: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
}

/// A Data Center search page: the next page starts after the issues this
/// one held, whatever page size the server chose, while `total` says more
/// follow. After the last page, `total` is what the extract stage compares
/// with the issues all pages held; an empty page before it is reached is a
/// gap, not a loop.
fn datacenter_search_steps(page: &FetchedPage, watch: &Watch) -> Result<CrawlStep, TaskError> {
    let body = parse_body(Source::Jira, page)?;
    let issues = checked::<Issue>(Source::Jira, page, &body)?;
    let cursor = OffsetCursor::deserialize(&body).map_err(|e| {
        page_error(
            Source::Jira,
            page,
            &format!("body does not match the expected schema: {e}"),
        )
    })?;
    let Some(total) = cursor.total else {
        return Err(page_error(
            Source::Jira,
            page,
            "a Data Center search page without `total`: how many issues the search holds is unknown",
        ));
    };
    let held = issues.quality.records;
    let start_at = cursor
        .start_at
        .or_else(|| {
            crate::urls::query_param(&page.request.url, "startAt").and_then(|s| s.parse().ok())
        })
        .unwrap_or(0);
    let mut step = CrawlStep {
        records: held,
        newest_seen: newest(&issues.valid),
        follow_ups: Vec::new(),
        ..CrawlStep::default()
    };
    let next = start_at + held;
    if next < total && held == 0 {
        step.pagination_gap = Some(format!(
            "the search page at startAt {start_at} is empty but `total` says {total}: the rest of the search is unreachable"
        ));
    } else if next < total {
        let url = with_query_param(&page.request.url, "startAt", &next.to_string())
            .map_err(|e| page_error(Source::Jira, page, &e.to_string()))?;
        step.follow_ups.push(next_page(page, url));
    } else {
        step.expected_total = Some(total);
    }
    step.follow_ups
        .extend(changelogs_of(Flavour::DataCenter, &issues.valid, watch));
    step.quality = issues.quality;
    Ok(step)
}

fn newest(issues: &[Issue]) -> Option<DateTime<Utc>> {
    issues.iter().map(|i| i.fields.updated).max()
}

#[cfg(test)]
mod tests;
