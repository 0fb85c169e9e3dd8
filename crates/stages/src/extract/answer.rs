//! Taking an answer into the crawl: its follow-ups queued, its records
//! validated and tallied, and its bronze page stored together with the
//! checkpoint that now names it, in one warehouse write.
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
    /// crawl and stores its page with the checkpoint; `true` when the page
    /// was stored (not already there from an earlier attempt).
    pub(super) async fn take_answer(
        &self,
        crawl: &mut Crawl<'_>,
        request: &PageRequest,
        page: FetchedPage,
        stored: Option<BronzePage>,
    ) -> Result<bool, TaskError> {
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
        let checkpoint = self.checkpoint(crawl.task, *crawl.seq, state)?;
        dorafleet_worker::still_held()?;
        let appended = self
            .warehouse
            .append_bronze_page(&bronze, &checkpoint)
            .await?;
        if appended {
            crawl.stats.pages += 1;
            crawl.stats.records += step.records;
            metrics::records_written("bronze", step.records);
        }
        Ok(appended)
    }

    /// The front request failed and the attempt ends: waits for the
    /// requests in flight behind it and stores what they brought back,
    /// each taken out of the queue where it stands. A request that failed
    /// too stays queued for the next attempt, behind the front one.
    pub(super) async fn keep_what_arrived(
        &self,
        crawl: &mut Crawl<'_>,
        ahead: &mut FetchAhead,
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
                    self.take_answer(crawl, &request, page, stored).await?;
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
