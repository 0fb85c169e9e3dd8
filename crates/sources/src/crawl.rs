//! Crawl logic shared by the sources: which requests a task starts with, and
//! what follows from each fetched page (the next page, child lists, the
//! newest timestamp seen for the high-watermark).
//!
//! This is pure: no I/O, so the extract stage can checkpoint the pending
//! requests between pages and a retried task resumes where it stopped.

use crate::page::{FetchedPage, PageRequest};
use crate::validate::{self, Checked, PageQuality};
use crate::{github, jenkins, jira};
use chrono::{DateTime, Utc};
use dorafleet_core::{Scope, Source, TaskError, Window};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// The records of a scope that earlier runs saw unfinished (a deployment
/// without a final status, a build still running), which this crawl reads
/// again besides its window. Lists are walked back to the oldest of them, and
/// a GitHub deployment's statuses are asked for whether the list still shows
/// it or not (a 404 then says it was deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// The watched items' ids in their lists: GitHub deployment ids, Jenkins
    /// build numbers.
    pub ids: BTreeSet<u64>,
    /// When the oldest of them was created or started.
    pub since: Option<DateTime<Utc>>,
    /// Jira: the status names that count as Done besides Jira's Done
    /// category (`definitions.done_statuses`); an issue in one of them
    /// without a `resolutiondate` has its changelog read. Fixed when the
    /// task starts, like the ids; `None`: the default list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_statuses: Option<Vec<String>>,
    /// Jira: which API the crawl speaks and which project it searches,
    /// fixed when the task starts. With it, the crawl first learns what it
    /// needs from the server (the flavour when `auto`, the API user's time
    /// zone) and only then writes its search; without it, the search is
    /// Jira Cloud's with its bounds in UTC (see [`jira::JiraCrawl`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira: Option<jira::JiraCrawl>,
}

impl Watch {
    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// How far back a newest-first list must be walked: the window's start,
    /// or the oldest watched item if it is older.
    pub(crate) fn reach(&self, window: &Window) -> DateTime<Utc> {
        self.since
            .map_or(window.from, |since| since.min(window.from))
    }
}

/// What one page contributes to a crawl.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrawlStep {
    /// Items in this page's list, valid or not (bronze keeps them all).
    pub records: u64,
    /// The next page of this list and/or child requests (e.g. a PR's commits).
    pub follow_ups: Vec<PageRequest>,
    /// Newest relevant timestamp of the page's list items, for the
    /// high-watermark. `None` for child lists (commits, statuses) and empty
    /// pages.
    pub newest_seen: Option<DateTime<Utc>>,
    /// Which records validation rejected and which unknown fields they
    /// carried. Stop conditions, follow-ups and `newest_seen` come from the
    /// valid records only.
    pub quality: PageQuality,
    /// A sign that the list skipped records without saying so — a next link
    /// jumping over a page, a short page while older items exist — which the
    /// extract stage turns into a hold: the page chain cannot be trusted.
    pub pagination_gap: Option<String>,
    /// How many records the whole list should hold, when the source says so
    /// (Jira's approximate count); the extract stage compares it with what
    /// the crawl saw.
    pub expected_total: Option<u64>,
    /// The page is a 404 on a child list: its item was deleted after the
    /// list showed it. Counted, not fatal.
    pub gone: bool,
}

/// The first requests of an extract task for `scope.target` in `window`.
///
/// A scope without a target (or a GitHub target that is not `owner/repo`,
/// which configuration validation rejects) has nothing to extract and yields
/// no requests.
pub fn start_requests(
    source: Source,
    scope: &Scope,
    window: &Window,
    page_size: u32,
) -> Vec<PageRequest> {
    start_requests_watching(source, scope, window, page_size, &Watch::default())
}

/// [`start_requests`], plus what re-reads the `watch`ed items (GitHub: each
/// watched deployment's statuses).
pub fn start_requests_watching(
    source: Source,
    scope: &Scope,
    window: &Window,
    page_size: u32,
    watch: &Watch,
) -> Vec<PageRequest> {
    let Some(target) = scope
        .target
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        tracing::warn!(%source, %scope, "scope has no target; nothing to extract");
        return Vec::new();
    };
    let page_size = page_size.clamp(1, 100);
    match source {
        Source::Github => github::start_requests(target, window, page_size, watch),
        Source::Jira => jira::start_requests(target, window, page_size, watch),
        Source::Jenkins => vec![jenkins::start_request(target, page_size)],
    }
}

/// Reads a fetched page: how many records it holds, which of them are valid
/// (see [`validate`](crate::validate)) and which requests follow. A record
/// missing a required field is rejected, not fatal; a body that is not the
/// expected shape at all is a permanent failure: retrying would fetch the
/// same payload again.
pub fn next_steps(
    source: Source,
    page: &FetchedPage,
    window: &Window,
    page_size: u32,
) -> Result<CrawlStep, TaskError> {
    next_steps_watching(source, page, window, page_size, &Watch::default())
}

/// [`next_steps`] of a crawl that also re-reads `watch`ed items: lists go
/// back to the oldest of them, and no watched item's children are asked for
/// twice.
pub fn next_steps_watching(
    source: Source,
    page: &FetchedPage,
    window: &Window,
    page_size: u32,
    watch: &Watch,
) -> Result<CrawlStep, TaskError> {
    if page.says_gone() {
        return Ok(CrawlStep {
            gone: true,
            ..CrawlStep::default()
        });
    }
    if page.status == 304 {
        // Not modified: nothing new on this page, and no link to follow.
        return Ok(CrawlStep::default());
    }
    // Page sizes travel inside the request URLs; only a Jenkins branch
    // listing starts lists of its own.
    match source {
        Source::Github => github::next_steps(page, window, watch),
        Source::Jira => jira::next_steps(page, window, page_size, watch),
        Source::Jenkins => jenkins::next_steps(page, window, watch, page_size),
    }
}

/// Parses a page body as JSON, naming the page in the error.
pub(crate) fn parse_body(source: Source, page: &FetchedPage) -> Result<Value, TaskError> {
    validate::parse_body(&page.body).map_err(|e| page_error(source, page, &e.to_string()))
}

/// Validates a parsed page body record by record, naming the page in the error.
pub(crate) fn checked<T: DeserializeOwned>(
    source: Source,
    page: &FetchedPage,
    body: &Value,
) -> Result<Checked<T>, TaskError> {
    validate::check_value(&page.request.endpoint, body)
        .map_err(|e| page_error(source, page, &e.to_string()))
}

/// [`parse_body`] then [`checked`], for a page whose body is needed for
/// nothing else (so a clean page is decoded from its text).
pub(crate) fn decode_checked<T: DeserializeOwned>(
    source: Source,
    page: &FetchedPage,
) -> Result<Checked<T>, TaskError> {
    validate::check(&page.request.endpoint, &page.body)
        .map_err(|e| page_error(source, page, &e.to_string()))
}

/// A permanent error that names the source, endpoint, page and URL.
pub(crate) fn page_error(source: Source, page: &FetchedPage, problem: &str) -> TaskError {
    TaskError::permanent(format!(
        "{source} {} page {} ({}): {problem}",
        page.request.endpoint, page.request.page_no, page.request.url
    ))
}

/// A next link that does not point at the page after this one, when both
/// carry GitHub's `page=N`: a page was skipped. Opaque links (cursors) tell
/// nothing and pass.
pub(crate) fn page_jump(current_url: &str, next_url: &str) -> Option<String> {
    let number =
        |url: &str| crate::urls::query_param(url, "page").and_then(|p| p.parse::<u64>().ok());
    let next = number(next_url)?;
    let current = number(current_url).unwrap_or(1);
    (next != current + 1).then(|| {
        format!("the next link jumps from page {current} to page {next}: page(s) in between were never listed")
    })
}

/// The same list's next page.
pub(crate) fn next_page(page: &FetchedPage, url: String) -> PageRequest {
    PageRequest::new(&page.request.endpoint, url, page.request.page_no + 1)
}
