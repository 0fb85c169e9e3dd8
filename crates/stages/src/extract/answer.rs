//! Taking an answer into the crawl: its follow-ups queued, its records
//! validated and tallied, and its bronze page stored together with the
//! checkpoint that now names it, in one warehouse write.
//!
//! Answers that arrived together are stored together: while the answer to
//! the next request of the queue is already there, a taken page waits for
//! it (up to [`MOST_PAGES_PER_WRITE`]), and the pages go in one write with
//! the checkpoint after the last. A write per page was a third of what
//! SQLite cost a worker (each commit writes the b-tree leaves it touched
//! again); a crawl waits on nothing for it, since only answers already
//! there are held back. A checkpoint still names exactly the pages stored
//! before it, and every way out of a crawl stores what it took first.
//!
//! Answers are taken in the queue's order; the one exception is an attempt
//! whose front request failed (see [`ExtractHandler::keep_what_arrived`]):
//! what its requests in flight brought back is stored before the attempt
//! ends, so no answer the source sent is thrown away and asked for again.
//! The crawl's outcome does not depend on that order: follow-ups join the
//! back of the queue, and every tally is a sum.

use super::short_of_count;
use super::{CrawlState, ExtractHandler, ahead::FetchAhead, conditional, list_fingerprint};
use dorafleet_core::{Source, TaskEnvelope, TaskError, TaskStats};
use dorafleet_sources::{FetchedPage, PageRequest, SourceClient, next_steps_watching};
use dorafleet_telemetry::metrics;
use dorafleet_warehouse::BronzePage;

/// The most pages a crawl holds back to store in one write.
pub(super) const MOST_PAGES_PER_WRITE: usize = 8;

/// Pages a crawl took but has not stored yet, with their record counts
/// (one count per page).
#[derive(Default)]
pub(super) struct Unstored {
    pages: Vec<BronzePage>,
    records: Vec<u64>,
}

impl Unstored {
    /// Whether the next page should wait for more: the answer to the next
    /// request has already arrived, and there is room.
    pub(super) fn may_wait(&self, next_arrived: bool) -> bool {
        next_arrived && self.records.len() < MOST_PAGES_PER_WRITE
    }
}

/// One attempt's crawl as it goes: what it is, where it stands, and what it
/// counted.
pub(super) struct Crawl<'a> {
    pub(super) task: &'a TaskEnvelope,
    pub(super) source: Source,
    pub(super) client: &'a SourceClient,
    pub(super) page_size: u32,
    pub(super) state: &'a mut CrawlState,
    /// Pages stored so far, over all attempts: the next page's place.
    pub(super) seq: &'a mut u32,
    pub(super) stats: &'a mut TaskStats,
}

impl ExtractHandler {
    /// Takes the answer to `request` (already out of the queue) into the
    /// crawl; its page joins `unstored` (see [`store_taken`](Self::store_taken)).
    pub(super) fn take_answer(
        &self,
        crawl: &mut Crawl<'_>,
        request: &PageRequest,
        page: FetchedPage,
        stored: Option<BronzePage>,
        unstored: &mut Unstored,
    ) -> Result<(), TaskError> {
        let state = &mut *crawl.state;
        crawl.stats.rate_limit_wait_ms += page.rate_limit_wait.as_millis() as u64;
        let (page, reused) = conditional::as_received(page, stored);
        let step = next_steps_watching(
            crawl.source,
            &page,
            &crawl.task.window,
            crawl.page_size,
            &state.watch,
        )?;
        if let Some(key) = list_fingerprint(crawl.client, request) {
            state.fetched_lists.insert(key, request.page_no);
        }
        state.gone += u64::from(step.gone);
        state.pending.extend(step.follow_ups);
        state.newest_seen = state.newest_seen.max(step.newest_seen);
        state.quality.add(request, &step.quality);
        if request.is_child() {
            state.child_records += step.quality.records;
        }
        if let Some(gap) = step.pagination_gap {
            state.pagination_gaps.push(format!(
                "{} page {}: {gap}",
                request.endpoint, request.page_no
            ));
        }
        if let Some(total) = step.expected_total
            && let Some(gap) =
                short_of_count(state.quality.records_seen - state.child_records, total)
        {
            state
                .pagination_gaps
                .push(format!("{}: {gap}", request.endpoint));
        }
        let bronze = conditional::PageRecord {
            task: crawl.task,
            source: crawl.source,
            seq: *crawl.seq,
            records: step.records,
        }
        .bronze(request, page, reused.as_ref());
        *crawl.seq += 1;
        unstored.pages.push(bronze);
        unstored.records.push(step.records);
        Ok(())
    }

    /// Stores the pages taken so far with the checkpoint of the crawl as it
    /// stands, in one write; `true` when one of them was new (not already
    /// there from an earlier attempt). Nothing taken, nothing written.
    pub(super) async fn store_taken(
        &self,
        crawl: &mut Crawl<'_>,
        unstored: &mut Unstored,
    ) -> Result<bool, TaskError> {
        if unstored.pages.is_empty() {
            return Ok(false);
        }
        let Unstored { pages, records } = std::mem::take(unstored);
        let checkpoint = self.checkpoint(crawl.task, *crawl.seq, crawl.state)?;
        dorafleet_worker::still_held()?;
        let appended = self
            .warehouse
            .append_bronze_pages(pages, checkpoint)
            .await?;
        for (new, records) in appended.iter().zip(records) {
            if *new {
                crawl.stats.pages += 1;
                crawl.stats.records += records;
                metrics::records_written("bronze", records);
            }
        }
        Ok(appended.contains(&true))
    }

    /// Takes the answer to `request` as [`take_answer`](Self::take_answer)
    /// does, and stores what was taken unless `more` answers wait and there
    /// is room. `true` when a page was stored new. When it fails, what was
    /// taken before stays in `unstored` for the caller to store.
    pub(super) async fn take_and_store(
        &self,
        crawl: &mut Crawl<'_>,
        answer: (&PageRequest, FetchedPage, Option<BronzePage>),
        unstored: &mut Unstored,
        more: bool,
    ) -> Result<bool, TaskError> {
        let (request, page, stored) = answer;
        self.take_answer(crawl, request, page, stored, unstored)?;
        if unstored.may_wait(more) {
            return Ok(false);
        }
        self.store_taken(crawl, unstored).await
    }

    /// The front request failed and the attempt ends: waits for the
    /// requests in flight behind it and takes what they brought back, each
    /// out of the queue where it stands, into `unstored` (the caller stores
    /// it). A request that failed too stays queued for the next attempt,
    /// behind the front one.
    pub(super) async fn keep_what_arrived(
        &self,
        crawl: &mut Crawl<'_>,
        ahead: &mut FetchAhead,
        unstored: &mut Unstored,
    ) -> Result<(), TaskError> {
        // Queue positions: the failed front request is at 0.
        let mut position = 1;
        for answer in ahead.drain().await {
            crawl.stats.api_calls += 1;
            match answer {
                Ok((stored, page)) => {
                    let Some(request) = crawl.state.pending.remove(position) else {
                        break;
                    };
                    self.take_answer(crawl, &request, page, stored, unstored)?;
                }
                Err(e) => {
                    tracing::debug!(source = %crawl.source, scope = %crawl.task.scope, error = %e,
                        "a request in flight failed too; the next attempt asks again");
                    position += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_waits_for_the_next_only_when_that_answer_is_there_and_there_is_room() {
        let mut unstored = Unstored::default();
        assert!(unstored.may_wait(true));
        assert!(
            !unstored.may_wait(false),
            "a crawl never waits on the network to store"
        );
        unstored.records = vec![1; MOST_PAGES_PER_WRITE];
        assert!(!unstored.may_wait(true), "a full batch is stored");
    }
}
