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
use serde_json::Value;

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
        Source::Github => github::start_requests(target, page_size),
        Source::Jira => vec![jira::start_request(target, window, page_size)],
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
    if page.status == 304 {
        // Not modified: nothing new on this page, and no link to follow.
        return Ok(CrawlStep::default());
    }
    let _ = page_size; // page sizes travel inside the request URLs
    match source {
        Source::Github => github::next_steps(page, window),
        Source::Jira => jira::next_steps(page),
        Source::Jenkins => jenkins::next_steps(page, window),
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

/// [`parse_body`] then [`checked`].
pub(crate) fn decode_checked<T: DeserializeOwned>(
    source: Source,
    page: &FetchedPage,
) -> Result<Checked<T>, TaskError> {
    checked(source, page, &parse_body(source, page)?)
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
