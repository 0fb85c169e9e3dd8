//! How a Jenkins extract walks a job's builds: newest first, `{0,N}`, then
//! `{N,2N}`…, until a short page or a page reaching before the window; a
//! short page inside the window is confirmed by one probe (see `next_steps`).

use super::models::{BranchJob, Build};
use crate::crawl::{CrawlStep, Watch, checked, decode_checked, next_page, page_error, parse_body};
use crate::page::{FetchedPage, PageRequest, endpoint};
use crate::urls::{query_param, relative, with_query_param};
use dorafleet_core::{Source, TaskError, Window};

const BUILD_FIELDS: &str = "number,result,timestamp,duration,building,\
     actions[causes[userId,userName],lastBuiltRevision[SHA1]]";

/// The `tree` parameter for builds `[start, end)`, newest first.
pub fn builds_tree(start: u64, end: u64) -> String {
    format!("allBuilds[{BUILD_FIELDS}]{{{start},{end}}}")
}

/// The `_class` of a multibranch pipeline: a folder of branch jobs, with no
/// builds of its own.
pub const MULTIBRANCH_CLASS: &str =
    "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject";

/// The `tree` of a multibranch project's branch listing.
pub const BRANCHES_TREE: &str = "jobs[name,url,_class]";

/// Whether a job's JSON is a multibranch project (whose builds are its
/// branch jobs' builds). Other multibranch kinds (`…MultiBranchProject`)
/// count too.
pub fn is_multibranch(body: &serde_json::Value) -> bool {
    body.get("_class")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|class| class == MULTIBRANCH_CLASS || class.ends_with("MultiBranchProject"))
}

/// The URL path of a job addressed by its path in the configuration:
/// `team/app/main` → `/job/team/job/app/job/main`, each segment
/// percent-encoded on its own (a branch job named `feature%2Fx`, which is
/// how Jenkins names branch `feature/x`, becomes `feature%252Fx`).
pub fn job_url_path(job: &str) -> String {
    relative(&job_segments(job), &[])
}

/// `job`, `a`, `job`, `b`… for `a/b`, raw (encoded when the URL is built).
fn job_segments(job: &str) -> Vec<&str> {
    let mut segments: Vec<&str> = Vec::new();
    for part in job.split('/').filter(|p| !p.is_empty()) {
        segments.extend(["job", part]);
    }
    segments
}

/// `{job path}/api/json?tree=…`.
fn api_json(job: &str, tree: &str) -> String {
    let mut segments = job_segments(job);
    segments.extend(["api", "json"]);
    relative(&segments, &[("tree", tree)])
}

/// The job path a request URL addresses: `/job/a/job/b/api/json?…` →
/// `a/b` (segments percent-decoded once, so back to Jenkins' job names).
/// Whatever comes before the first `job` segment (a base path) is skipped.
pub fn job_of_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let path = path.split_once("://").map_or(path, |(_, rest)| {
        rest.find('/').map_or("", |at| &rest[at..])
    });
    let mut parts = path.split('/').skip_while(|p| *p != "job");
    let mut names = Vec::new();
    while parts.next() == Some("job") {
        names.push(percent_decode(parts.next()?));
    }
    (!names.is_empty()).then(|| names.join("/"))
}

/// `%XX` escapes decoded; anything malformed is kept as it is.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `folder/job` names address nested jobs: `/job/folder/job/job`.
pub(crate) fn start_request(job: &str, page_size: u32) -> PageRequest {
    builds_request(endpoint::JENKINS_BUILDS, job, page_size)
}

/// The first page of `job`'s builds, as an `endpoint` list.
fn builds_request(endpoint: &str, job: &str, page_size: u32) -> PageRequest {
    PageRequest::new(
        endpoint,
        api_json(job, &builds_tree(0, u64::from(page_size))),
        1,
    )
}

/// The branch listing of the multibranch project `job`.
fn branches_request(job: &str) -> PageRequest {
    PageRequest::new(endpoint::JENKINS_BRANCHES, api_json(job, BRANCHES_TREE), 1)
}

/// The builds list of one page. `watch` holds builds an earlier run saw
/// running: the walk goes back to the oldest of them, so their page is
/// fetched again and shows them finished.
///
/// A job that turns out to be a multibranch project (its JSON has a
/// multibranch `_class` and no builds) is followed by its branch listing,
/// and the listing by the first page of every branch job's builds
/// (`page_size` builds): all branches are read, and normalization decides
/// which count as deployments (`sources.jenkins.deploy_branches`).
pub(crate) fn next_steps(
    page: &FetchedPage,
    window: &Window,
    watch: &Watch,
    page_size: u32,
) -> Result<CrawlStep, TaskError> {
    match page.request.endpoint.as_str() {
        endpoint::JENKINS_BUILDS | endpoint::JENKINS_BRANCH_BUILDS => {}
        endpoint::JENKINS_BRANCHES => return branch_steps(page, page_size),
        other => {
            return Err(page_error(
                Source::Jenkins,
                page,
                &format!("`{other}` is not a Jenkins endpoint"),
            ));
        }
    }
    let body = parse_body(Source::Jenkins, page)?;
    if body.get("allBuilds").is_none() && is_multibranch(&body) {
        let job = job_of_url(&page.request.url)
            .ok_or_else(|| page_error(Source::Jenkins, page, "request names no `/job/…` path"))?;
        return Ok(CrawlStep {
            follow_ups: vec![branches_request(&job)],
            ..CrawlStep::default()
        });
    }
    let checked = checked::<Build>(Source::Jenkins, page, &body)?;
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

/// A multibranch project's branch listing: the first builds page of each
/// branch job.
fn branch_steps(page: &FetchedPage, page_size: u32) -> Result<CrawlStep, TaskError> {
    let checked = decode_checked::<BranchJob>(Source::Jenkins, page)?;
    let parent = job_of_url(&page.request.url)
        .ok_or_else(|| page_error(Source::Jenkins, page, "request names no `/job/…` path"))?;
    let page_size = page_size.clamp(1, 100);
    let follow_ups = checked
        .valid
        .iter()
        .map(|branch| {
            builds_request(
                endpoint::JENKINS_BRANCH_BUILDS,
                &format!("{parent}/{}", branch.name),
                page_size,
            )
        })
        .collect();
    Ok(CrawlStep {
        records: checked.quality.records,
        follow_ups,
        quality: checked.quality,
        ..CrawlStep::default()
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
