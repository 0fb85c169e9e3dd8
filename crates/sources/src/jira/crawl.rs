//! How a Jira extract walks its search: one JQL query for the project and
//! window, ordered by `updated`, followed by `nextPageToken` until `isLast`.
//!
//! The token is opaque and the search has no total, so a page skipped by
//! the server cannot be seen in the pages themselves. After the last page
//! the crawl asks Jira's approximate count for the same JQL; the extract
//! stage compares it with the issues the pages held.
//!
//! An issue in a Done-category status without a `resolutiondate` is
//! resolved when it last entered that category (see [`super::resolution`]),
//! which only its changelog tells: each such issue of a search page adds
//! `GET /rest/api/3/issue/{key}/changelog`, paged by `startAt` until
//! `isLast`. No other issue's changelog is asked for.

use super::models::{History, Issue};
use super::resolution::needs_changelog;
use crate::crawl::{CrawlStep, Watch, checked, next_page, page_error, parse_body};
use crate::page::{FetchedPage, PageRequest, endpoint};
use crate::urls::{relative, with_query_param};
use chrono::{DateTime, Duration, DurationRound, Utc};
use dorafleet_core::config::Definitions;
use dorafleet_core::{Source, TaskError, Window};
use serde::Deserialize;

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

/// The JQL of one project and window. JQL dates have minute resolution, so
/// `from` is rounded down and `to` up: the window may grow by under a minute
/// at each end, but nothing inside it is lost.
///
/// Jira reads these dates in the time zone of the calling user; run the
/// integration user in UTC.
pub fn window_jql(project: &str, window: &Window) -> String {
    format!("{} ORDER BY updated ASC", window_filter(project, window))
}

/// The JQL restriction of one project and window, without an order.
fn window_filter(project: &str, window: &Window) -> String {
    let escaped = project.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "project = \"{escaped}\" AND updated >= \"{}\" AND updated < \"{}\"",
        jql_minute(floor_minute(window.from)),
        jql_minute(ceil_minute(window.to)),
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

pub(crate) fn start_request(project: &str, window: &Window, page_size: u32) -> PageRequest {
    let max_results = page_size.to_string();
    PageRequest::new(
        endpoint::JIRA_SEARCH,
        relative(
            &["rest", "api", "3", "search", "jql"],
            &[
                ("jql", &window_jql(project, window)),
                ("maxResults", &max_results),
                ("fields", SEARCH_FIELDS),
            ],
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

/// The issue key of a changelog request (`…/issue/{key}/changelog?…`).
pub(crate) fn changelog_key(request: &str) -> Option<&str> {
    let path = request.split('?').next().unwrap_or(request);
    let mut parts = path.rsplit('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("changelog"), Some(key), Some("issue")) if !key.is_empty() => Some(key),
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

pub(crate) fn next_steps(page: &FetchedPage, watch: &Watch) -> Result<CrawlStep, TaskError> {
    if page.request.endpoint == endpoint::JIRA_CHANGELOG {
        return changelog_steps(page);
    }
    if page.request.endpoint == endpoint::JIRA_COUNT {
        let body = parse_body(Source::Jira, page)?;
        let count = Count::deserialize(&body).map_err(|e| {
            page_error(
                Source::Jira,
                page,
                &format!("not an approximate count: {e}"),
            )
        })?;
        return Ok(CrawlStep {
            expected_total: Some(count.count),
            ..CrawlStep::default()
        });
    }
    if page.request.endpoint != endpoint::JIRA_SEARCH {
        return Err(page_error(
            Source::Jira,
            page,
            &format!("`{}` is not a Jira endpoint", page.request.endpoint),
        ));
    }
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
    let definitions = definitions(watch);
    follow_ups.extend(
        issues
            .valid
            .iter()
            .filter(|issue| needs_changelog(issue, &definitions))
            .map(|issue| changelog_request(&issue.key, 0, 1)),
    );
    Ok(CrawlStep {
        records: issues.quality.records,
        follow_ups,
        newest_seen: issues.valid.iter().map(|i| i.fields.updated).max(),
        quality: issues.quality,
        // Seen by the count after the last page (see the module docs).
        pagination_gap: None,
        expected_total: None,
        gone: false,
    })
}

/// A page of an issue's changelog: its change groups, and the next page
/// while `isLast` is false (or, without `isLast`, while `total` says more
/// follow). The next page starts after the entries this one held, whatever
/// page size the server chose; a page that holds none yet says more follow
/// is a gap, not a loop.
fn changelog_steps(page: &FetchedPage) -> Result<CrawlStep, TaskError> {
    let body = parse_body(Source::Jira, page)?;
    let histories = checked::<History>(Source::Jira, page, &body)?;
    let cursor = ChangelogCursor::deserialize(&body).map_err(|e| {
        page_error(
            Source::Jira,
            page,
            &format!("body does not match the expected schema: {e}"),
        )
    })?;
    let held = histories.quality.records;
    let start_at = cursor.start_at.unwrap_or(0);
    let more = match (cursor.is_last, cursor.total) {
        (Some(is_last), _) => !is_last,
        (None, Some(total)) => start_at + held < total,
        (None, None) => false,
    };
    let mut step = CrawlStep {
        records: held,
        quality: histories.quality,
        ..CrawlStep::default()
    };
    if more && held == 0 {
        step.pagination_gap = Some(format!(
            "the changelog page at startAt {start_at} is empty but not the last (total {}): the rest of the changelog is unreachable",
            cursor
                .total
                .map_or_else(|| "unknown".to_owned(), |t| t.to_string())
        ));
    } else if more {
        let url = with_query_param(&page.request.url, "startAt", &(start_at + held).to_string())
            .map_err(|e| page_error(Source::Jira, page, &e.to_string()))?;
        step.follow_ups.push(next_page(page, url));
    }
    Ok(step)
}

/// The paging of a changelog page, next to its `values` (a
/// [`ChangelogPage`](super::ChangelogPage) without them).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangelogCursor {
    #[serde(default)]
    start_at: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    is_last: Option<bool>,
}

fn jql_minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

fn ceil_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_minute(t);
    if floor == t {
        t
    } else {
        floor + Duration::minutes(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_window_end_is_rounded_up_to_the_next_minute() {
        let window = Window {
            from: utc("2024-03-01T10:15:42Z"),
            to: utc("2024-03-02T00:00:00.001Z"),
        };
        assert_eq!(
            window_jql("OPS", &window),
            "project = \"OPS\" AND updated >= \"2024-03-01 10:15\" AND updated < \"2024-03-02 00:01\" ORDER BY updated ASC"
        );
        let whole_minutes = Window {
            from: utc("2024-03-01T00:00:00Z"),
            to: utc("2024-03-02T00:00:00Z"),
        };
        assert!(window_jql("OPS", &whole_minutes).contains("updated < \"2024-03-02 00:00\""));
    }

    #[test]
    fn quotes_in_a_project_key_cannot_break_out_of_the_jql_string() {
        let window = Window {
            from: utc("2024-03-01T00:00:00Z"),
            to: utc("2024-03-02T00:00:00Z"),
        };
        assert!(
            window_jql("A\" OR project = \"B", &window)
                .starts_with("project = \"A\\\" OR project = \\\"B\"")
        );
    }
}
