//! How a GitHub extract walks its lists.
//!
//! Pull requests are listed closed, most recently updated first, so the walk
//! stops at the first page reaching before the window; each PR merged inside
//! the window adds its commits. A PR merged after an earlier run listed it
//! open shows up again through its `updated_at`, so pull requests need no
//! watch. Deployments are listed newest first; each one created inside the
//! window adds its statuses, and so does each watched one (created earlier,
//! without a final status then), whose statuses are asked for at the start
//! and whose list position is reached by walking back to the oldest of them.
//! The default branch's commits committed inside the window are listed
//! whole (`since`/`until`): with their parents they tell which deployment
//! contains which merge. The bounds are widened to whole UTC days, so every
//! hourly run of a day asks the same request, which an unchanged repository
//! answers with a `304` (a few commits outside the window are read too; more
//! of the history only makes the linkage surer). `Link: rel="next"` is
//! followed as given.

use super::models::{Deployment, DeploymentStatus, PullCommit, PullRequest};
use crate::crawl::{CrawlStep, Watch, decode_checked, next_page, page_error, page_jump};
use crate::page::{FetchedPage, PageRequest, endpoint};
use crate::urls::{child_of_list, relative};
use crate::validate::PageQuality;
use dorafleet_core::{Source, TaskError, Window};

/// Child lists are fetched with GitHub's largest page.
const CHILD_PAGE_SIZE: &str = "100";

pub(crate) fn start_requests(
    repo: &str,
    window: &Window,
    page_size: u32,
    watch: &Watch,
) -> Vec<PageRequest> {
    let Some((owner, name)) = repo
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
    else {
        tracing::warn!(repo, "GitHub target is not owner/repo; nothing to extract");
        return Vec::new();
    };
    let per_page = page_size.to_string();
    [
        PageRequest::new(
            endpoint::PULLS,
            relative(
                &["repos", owner, name, "pulls"],
                &[
                    ("state", "closed"),
                    ("sort", "updated"),
                    ("direction", "desc"),
                    ("per_page", &per_page),
                ],
            ),
            1,
        ),
        PageRequest::new(
            endpoint::DEPLOYMENTS,
            relative(
                &["repos", owner, name, "deployments"],
                &[("per_page", &per_page)],
            ),
            1,
        ),
        PageRequest::new(
            endpoint::REPO_COMMITS,
            relative(
                &["repos", owner, name, "commits"],
                &[
                    ("since", &rfc3339(day_start(window.from))),
                    ("until", &rfc3339(day_end(window.to))),
                    ("per_page", CHILD_PAGE_SIZE),
                ],
            ),
            1,
        ),
    ]
    .into_iter()
    .chain(watch.ids.iter().map(|id| {
        PageRequest::new(
            endpoint::DEPLOYMENT_STATUSES,
            relative(
                &[
                    "repos",
                    owner,
                    name,
                    "deployments",
                    &id.to_string(),
                    "statuses",
                ],
                &[("per_page", CHILD_PAGE_SIZE)],
            ),
            1,
        )
    }))
    .collect()
}

pub(crate) fn next_steps(
    page: &FetchedPage,
    window: &Window,
    watch: &Watch,
) -> Result<CrawlStep, TaskError> {
    match page.request.endpoint.as_str() {
        endpoint::PULLS => pulls(page, window),
        endpoint::DEPLOYMENTS => deployments(page, window, watch),
        endpoint::PULL_COMMITS => {
            let commits = decode_checked::<PullCommit>(Source::Github, page)?;
            Ok(child_list(page, commits.quality))
        }
        endpoint::DEPLOYMENT_STATUSES => {
            let statuses = decode_checked::<DeploymentStatus>(Source::Github, page)?;
            Ok(child_list(page, statuses.quality))
        }
        endpoint::REPO_COMMITS => {
            let commits = decode_checked::<PullCommit>(Source::Github, page)?;
            Ok(child_list(page, commits.quality))
        }
        other => Err(page_error(
            Source::Github,
            page,
            &format!("`{other}` is not a GitHub endpoint"),
        )),
    }
}

fn pulls(page: &FetchedPage, window: &Window) -> Result<CrawlStep, TaskError> {
    list_with_children::<PullRequest>(
        page,
        window.from,
        ListShape {
            list: "pulls",
            children: "commits",
            child_endpoint: endpoint::PULL_COMMITS,
        },
        |pr| pr.updated_at,
        |pr| pr.merged_at.is_some_and(|t| window.contains(t)),
        |pr| pr.number.to_string(),
    )
}

fn deployments(page: &FetchedPage, window: &Window, watch: &Watch) -> Result<CrawlStep, TaskError> {
    list_with_children::<Deployment>(
        page,
        watch.reach(window),
        ListShape {
            list: "deployments",
            children: "statuses",
            child_endpoint: endpoint::DEPLOYMENT_STATUSES,
        },
        |d| d.created_at,
        |d| window.contains(d.created_at) && !watch.ids.contains(&d.id),
        |d| d.id.to_string(),
    )
}

/// A list whose items each own a child list: `{list}/{id}/{children}`.
struct ListShape {
    list: &'static str,
    children: &'static str,
    child_endpoint: &'static str,
}

/// One page of a newest-first list: the items that `wants_children` get
/// their child list requested, and the next page follows while the list may
/// still hold items at or after `reach` (judged by each item's `position`).
fn list_with_children<T: serde::de::DeserializeOwned>(
    page: &FetchedPage,
    reach: chrono::DateTime<chrono::Utc>,
    shape: ListShape,
    position: impl Fn(&T) -> chrono::DateTime<chrono::Utc>,
    wants_children: impl Fn(&T) -> bool,
    id: impl Fn(&T) -> String,
) -> Result<CrawlStep, TaskError> {
    let checked = decode_checked::<T>(Source::Github, page)?;
    let items = checked.valid;
    let mut follow_ups = Vec::new();
    for item in items.iter().filter(|item| wants_children(item)) {
        let id = id(item);
        let url = child_of_list(
            &page.request.url,
            shape.list,
            &[&id, shape.children],
            &[("per_page", CHILD_PAGE_SIZE)],
        )
        .map_err(|e| page_error(Source::Github, page, &e.to_string()))?;
        follow_ups.push(PageRequest::new(shape.child_endpoint, url, 1));
    }
    let oldest = items.iter().map(&position).min();
    let mut pagination_gap = None;
    if let Some(next) = &page.link_next
        && reaches_back_to(oldest, &checked.quality, reach)
    {
        pagination_gap = page_jump(&page.request.url, next);
        follow_ups.insert(0, next_page(page, next.clone()));
    }
    Ok(CrawlStep {
        records: checked.quality.records,
        follow_ups,
        newest_seen: items.iter().map(&position).max(),
        quality: checked.quality,
        pagination_gap,
        expected_total: None,
        gone: false,
    })
}

/// Whether the list, newest first, may still hold items at or after `reach`
/// after this page: its oldest valid item is not older. A page whose records
/// were all rejected tells nothing about where the list stands, so the walk
/// goes on rather than lose the rest of the window; an empty page ends it.
fn reaches_back_to(
    oldest_valid: Option<chrono::DateTime<chrono::Utc>>,
    quality: &PageQuality,
    reach: chrono::DateTime<chrono::Utc>,
) -> bool {
    match oldest_valid {
        Some(oldest) => oldest >= reach,
        None => quality.records > 0,
    }
}

/// The start of `t`'s UTC day.
fn day_start(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    t.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The first midnight (UTC) at or after `t`.
fn day_end(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let start = day_start(t);
    if start == t {
        t
    } else {
        start + chrono::Duration::days(1)
    }
}

/// An instant as GitHub's `since`/`until` take it.
fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Commits and statuses: every page counts, the whole list is walked.
fn child_list(page: &FetchedPage, quality: PageQuality) -> CrawlStep {
    CrawlStep {
        records: quality.records,
        follow_ups: page
            .link_next
            .iter()
            .map(|next| next_page(page, next.clone()))
            .collect(),
        newest_seen: None,
        quality,
        pagination_gap: page
            .link_next
            .as_deref()
            .and_then(|next| page_jump(&page.request.url, next)),
        expected_total: None,
        gone: false,
    }
}
