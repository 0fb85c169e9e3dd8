//! Walking a crawl's queue: each request at the front checked against the
//! crawl's bounds, fetched (ahead, see `ahead`), and its answer taken and
//! stored (see `answer`), until the queue is empty or the crawl must stop.

use super::answer::{Crawl, Unstored};
use super::{ExtractHandler, ahead::FetchAhead, list_fingerprint};
use dorafleet_core::{ErrorClass, TaskError};
use dorafleet_sources::PageRequest;

impl ExtractHandler {
    /// Walks `crawl`'s queue to its end. Pages taken but not stored yet are
    /// left in `unstored` when it returns, whether it ends or fails: the
    /// caller stores them.
    pub(super) async fn walk(
        &self,
        crawl: &mut Crawl<'_>,
        revalidate: bool,
        unstored: &mut Unstored,
    ) -> Result<(), TaskError> {
        let (task, source, client) = (crawl.task, crawl.source, crawl.client);
        let max_pages = client.max_pages_per_task();
        let mut ahead = FetchAhead::new(client.requests_in_flight_per_task() as usize);
        while let Some(request) = crawl.state.pending.front().cloned() {
            let seq = *crawl.seq;
            if seq >= max_pages {
                return Err(TaskError::permanent(format!(
                    "{source} crawl of {} stopped after {seq} pages, the limit sources.{source}.max_pages_per_task = {max_pages}, with {} request(s) still pending, next {} page {} ({}): a list that does not end is a broken or hostile source; nothing of this crawl is used. Raise the key if the scope really has more pages",
                    task.scope,
                    crawl.state.pending.len(),
                    request.endpoint,
                    request.page_no,
                    request.url,
                )));
            }
            let list_key = list_fingerprint(client, &request);
            if let Some(key) = list_key
                && let Some(first) = crawl.state.fetched_lists.get(&key)
            {
                return Err(TaskError::permanent(format!(
                    "{source} crawl of {} goes round in circles: {} page {} ({}) is the same request as page {first}, already fetched ({seq} pages fetched in this task); the source's next link or page token repeats. Stopped; nothing of this crawl is used",
                    task.scope, request.endpoint, request.page_no, request.url,
                )));
            }
            dorafleet_worker::still_held()?;
            crawl.stats.api_calls += 1;
            let room = (max_pages - seq) as usize;
            let fetched_lists = &crawl.state.fetched_lists;
            let not_fetched = |r: &PageRequest| {
                list_fingerprint(client, r).is_none_or(|k| !fetched_lists.contains_key(&k))
            };
            ahead.top_up(&crawl.state.pending, room, not_fetched, |request| {
                self.fetch(client, request, revalidate)
            });
            let (page, stored) = match ahead.next().await {
                Ok((stored, page)) => (page, stored),
                // A server without the check (an older Jira) does not stop the crawl.
                Err(e) if request.is_check() && e.class() == ErrorClass::Permanent => {
                    tracing::warn!(%source, scope = %task.scope, error = %e,
                        "the source refused a check of the crawl; going on without it");
                    crawl.state.pending.pop_front();
                    crawl.state.refused_checks.push(request);
                    continue;
                }
                Err(e) => {
                    self.keep_what_arrived(crawl, &mut ahead, unstored).await?;
                    return Err(e);
                }
            };
            crawl.state.pending.pop_front();
            let more = ahead.front_arrived();
            if self
                .take_and_store(crawl, (&request, page, stored), unstored, more)
                .await?
            {
                ahead.widen();
            }
        }
        Ok(())
    }
}
