//! How a Jira extract walks its search: one JQL query for the project and
//! window, ordered by `updated`, followed by `nextPageToken` until `isLast`.
//!
//! The token is opaque and the search has no total, so a page skipped by
//! the server cannot be seen in the pages themselves. After the last page
//! the crawl asks Jira's approximate count for the same JQL; the extract
//! stage compares it with the issues the pages held.

use super::models::Issue;
use crate::crawl::{CrawlStep, checked, next_page, page_error, parse_body};
use crate::page::{FetchedPage, PageRequest, endpoint};
use crate::urls::{relative, with_query_param};
use chrono::{DateTime, Duration, DurationRound, Utc};
use dorafleet_core::{Source, TaskError, Window};
use serde::Deserialize;

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

pub(crate) fn next_steps(page: &FetchedPage) -> Result<CrawlStep, TaskError> {
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
    let follow_ups = match (search.is_last, token) {
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
