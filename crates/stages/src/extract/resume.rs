//! A resumed crawl's queue, rebuilt from the pages its task stored.
//!
//! The queue of pending requests is what the crawl derived from its pages:
//! the source's first requests, and each page's follow-ups appended in the
//! order the pages were stored. Writing it into the checkpoint with every
//! page cost a write that grew with the queue (a repository's pull request
//! list queues a hundred child lists at once), page after page. So a
//! checkpoint no longer carries it, and an attempt that resumes walks the
//! stored pages once, in storage order, the way the crawl walked them: each
//! page's request taken out of the queue, its follow-ups appended. Every
//! page is in bronze (a page and its checkpoint are one write), so the queue
//! comes out as the last attempt left it.
//!
//! A page stored out of the queue's order (what arrived beside a failed
//! request, see `answer`) is taken out where it stands, as it was then. A
//! check the source refused was taken out without a page: the checkpoint
//! names those. Checkpoints written before this carry their queue and are
//! resumed from it.

use super::{CrawlState, ExtractHandler};
use dorafleet_core::{Source, TaskEnvelope, TaskError};
use dorafleet_sources::{FetchedPage, PageRequest, next_steps_watching, start_requests_watching};
use dorafleet_warehouse::{BronzeFilter, BronzePage};
use std::collections::VecDeque;
use std::time::Duration;

impl ExtractHandler {
    /// The queue `state` (resumed after `pages_done` pages) had when its
    /// last page was stored.
    pub(super) async fn rebuild_queue(
        &self,
        task: &TaskEnvelope,
        source: Source,
        page_size: u32,
        state: &CrawlState,
        pages_done: u32,
    ) -> Result<VecDeque<PageRequest>, TaskError> {
        let filter = BronzeFilter {
            task_id: Some(task.task_id),
            ..BronzeFilter::default()
        };
        let mut pages = self.warehouse.bronze_pages(&filter).await?;
        // In storage order: by seq, the order the crawl took them.
        pages.retain(|p| p.seq < pages_done);
        if pages.len() != pages_done as usize {
            return Err(TaskError::permanent(format!(
                "{source} crawl of {} cannot resume: its checkpoint counts {pages_done} stored pages but bronze holds {} (purged by retention?); re-plan the run to crawl the scope again",
                task.scope,
                pages.len()
            )));
        }
        let (window, watch) = (&task.window, &state.watch);
        let mut queue: VecDeque<PageRequest> =
            start_requests_watching(source, &task.scope, window, page_size, watch).into();
        for page in pages {
            let request = take_request(&mut queue, &page).ok_or_else(|| {
                TaskError::permanent(format!(
                    "{source} crawl of {} cannot resume: stored page {} ({} page {}, {}) answers no request its crawl had queued; re-plan the run to crawl the scope again",
                    task.scope, page.seq, page.endpoint, page.cursor, page.request
                ))
            })?;
            let step =
                next_steps_watching(source, &as_fetched(request, page), window, page_size, watch)?;
            queue.extend(step.follow_ups);
        }
        for refused in &state.refused_checks {
            if let Some(at) = queue.iter().position(|r| r == refused) {
                queue.remove(at);
            }
        }
        Ok(queue)
    }
}

/// Takes the queued request `page` answers out of `queue`: the first one
/// with its endpoint, URL and page number (identical requests are
/// interchangeable).
fn take_request(queue: &mut VecDeque<PageRequest>, page: &BronzePage) -> Option<PageRequest> {
    let page_no: u32 = page.cursor.parse().ok()?;
    let at = queue.iter().position(|r| {
        r.endpoint == page.endpoint && r.url == page.request && r.page_no == page_no
    })?;
    queue.remove(at)
}

/// The stored page as the crawl read it (a reused page with the payload
/// it reuses, which `bronze_pages` resolves).
fn as_fetched(request: PageRequest, page: BronzePage) -> FetchedPage {
    FetchedPage {
        request,
        status: page.status,
        body: page.body,
        fetched_at: page.fetched_at,
        link_next: page.link_next,
        etag: page.etag,
        last_modified: page.last_modified,
        rate_limit_wait: Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode_state;
    use super::*;

    #[test]
    fn a_checkpoint_is_written_without_its_queue() {
        let state = CrawlState {
            pending: [PageRequest::new("pulls", "/repos/a/b/pulls?page=2", 2)].into(),
            queue_from_pages: true,
            ..CrawlState::default()
        };
        let json = serde_json::to_string(&state).unwrap();
        assert!(!json.contains("pulls"), "{json}");
        let read = decode_state(&json).unwrap();
        assert!(read.queue_from_pages && read.pending.is_empty());
    }

    #[test]
    fn a_checkpoint_written_with_its_queue_resumes_from_that_queue() {
        let state = decode_state(
            r#"{"pending":[{"endpoint":"pulls","url":"/repos/a/b/pulls?page=2","page_no":2}],"newest_seen":null}"#,
        )
        .unwrap();
        assert!(!state.queue_from_pages);
        assert_eq!(state.pending.len(), 1);
    }
}
