//! How a Jenkins extract walks a job's builds: newest first, `{0,N}`, then
//! `{N,2N}`…, until a short page or a page reaching before the window; a
//! short page inside the window is confirmed by one probe (see `next_steps`).

use super::models::Build;
use crate::crawl::{CrawlStep, Watch, decode_checked, next_page, page_error};
use crate::page::{FetchedPage, PageRequest, endpoint};
use crate::urls::{query_param, relative, with_query_param};
use dorafleet_core::{Source, TaskError, Window};

const BUILD_FIELDS: &str = "number,result,timestamp,duration,building,\
     actions[causes[userId,userName],lastBuiltRevision[SHA1]]";

/// The `tree` parameter for builds `[start, end)`, newest first.
pub fn builds_tree(start: u64, end: u64) -> String {
    format!("allBuilds[{BUILD_FIELDS}]{{{start},{end}}}")
}

/// `folder/job` names address nested jobs: `/job/folder/job/job`.
pub(crate) fn start_request(job: &str, page_size: u32) -> PageRequest {
    let mut segments: Vec<&str> = Vec::new();
    for part in job.split('/').filter(|p| !p.is_empty()) {
        segments.extend(["job", part]);
    }
    segments.extend(["api", "json"]);
    PageRequest::new(
        endpoint::JENKINS_BUILDS,
        relative(
            &segments,
            &[("tree", &builds_tree(0, u64::from(page_size)))],
        ),
        1,
    )
}

/// The builds list of one page. `watch` holds builds an earlier run saw
/// running: the walk goes back to the oldest of them, so their page is
/// fetched again and shows them finished.
pub(crate) fn next_steps(
    page: &FetchedPage,
    window: &Window,
    watch: &Watch,
) -> Result<CrawlStep, TaskError> {
    if page.request.endpoint != endpoint::JENKINS_BUILDS {
        return Err(page_error(
            Source::Jenkins,
            page,
            &format!("`{}` is not a Jenkins endpoint", page.request.endpoint),
        ));
    }
    let checked = decode_checked::<Build>(Source::Jenkins, page)?;
    let builds = checked.valid;
    let (start, end) = query_param(&page.request.url, "tree")
        .as_deref()
        .and_then(range_of)
        .ok_or_else(|| {
            page_error(
                Source::Jenkins,
                page,
                "request has no `tree=allBuilds[…]{M,N}` range",
            )
        })?;
    let size = end.saturating_sub(start);
    // A page is full by its records, valid or not: a rejected build must not
    // make the page look like the list's last one. Where the list stands is
    // read from the valid builds; a full page of rejected ones goes on.
    let oldest = builds.iter().map(|b| b.timestamp).min();
    let full_page = checked.quality.records >= size && size > 0;
    let reach = watch.reach(window).timestamp_millis();
    let reaches_before_window = oldest.is_some_and(|t| t < reach);
    // Jenkins answers a range past the end of the list with fewer builds,
    // and a silently cut answer looks exactly the same. So a short page that
    // ends the list inside the window is checked once: the range right after
    // the builds it returned is asked for (a *probe*, at an offset that is
    // not a multiple of the page size). An empty probe confirms the end; a
    // probe that returns builds proves the short page hid them — the crawl
    // goes on from there, and the gap is reported.
    let is_probe = size > 0 && start % size != 0;
    let records = checked.quality.records;
    let pagination_gap = (is_probe && records > 0).then(|| {
        format!(
            "a short page ended the build list, yet builds {start}..{} exist after it: the list was cut without saying so",
            start + records
        )
    });
    let mut follow_ups = Vec::new();
    if full_page && !reaches_before_window {
        let url = with_query_param(&page.request.url, "tree", &builds_tree(end, end + size))
            .map_err(|e| page_error(Source::Jenkins, page, &e.to_string()))?;
        follow_ups.push(next_page(page, url));
    }
    let short_page_inside_window = !full_page && records > 0 && !reaches_before_window;
    if short_page_inside_window && !is_probe {
        let probe = start + records;
        let url = with_query_param(&page.request.url, "tree", &builds_tree(probe, probe + size))
            .map_err(|e| page_error(Source::Jenkins, page, &e.to_string()))?;
        follow_ups.push(next_page(page, url));
    }
    Ok(CrawlStep {
        records: checked.quality.records,
        follow_ups,
        newest_seen: builds.iter().filter_map(|b| b.started_at()).max(),
        quality: checked.quality,
        pagination_gap,
        expected_total: None,
        gone: false,
    })
}

/// `{M,N}` at the end of a tree expression.
fn range_of(tree: &str) -> Option<(u64, u64)> {
    let inner = tree.strip_suffix('}')?;
    let (_, range) = inner.rsplit_once('{')?;
    let (start, end) = range.split_once(',')?;
    Some((start.trim().parse().ok()?, end.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_range_is_read_from_the_tree_expression() {
        assert_eq!(range_of(&builds_tree(50, 100)), Some((50, 100)));
        assert_eq!(range_of("allBuilds[number]"), None);
    }

    #[test]
    fn nested_job_names_become_nested_job_paths() {
        let request = start_request("team a/deploy", 25);
        assert!(
            request
                .url
                .starts_with("/job/team%20a/job/deploy/api/json?tree="),
            "{}",
            request.url
        );
        assert_eq!(
            query_param(&request.url, "tree").unwrap(),
            builds_tree(0, 25)
        );
    }
}
