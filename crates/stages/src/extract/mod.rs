//! Extract: source API → bronze.
//!
//! A crawl is a queue of pending page requests: it starts from the source's
//! first requests and every fetched page adds its follow-ups (the next page,
//! child lists). Each page is stored together with the task's checkpoint in
//! one warehouse transaction (answers that arrived together share one, see
//! `answer`), so a task that fails on page 7 resumes at page 7 on its next
//! attempt instead of starting over, and no page is ever stored twice. The queue itself is rebuilt from the stored pages on resume (see
//! `resume`), so a checkpoint stays small however long the queue.
//!
//! Every page's records are validated (see `dorafleet_sources::validate`):
//! bronze keeps the page whole, rejected records included, and the task
//! tallies what was rejected and why, and which unknown fields showed up, in
//! the same checkpoint. When the crawl is done, a task whose rejected share
//! is above `quality.max_rejected_ratio` fails permanently — its dead letter
//! names the counts and a sample of the reasons — instead of feeding a metric
//! computed from a fraction of the data.
//!
//! Records that can still change are watched: a GitHub deployment without a
//! final status, or a Jenkins build still running, that silver holds from an
//! earlier run and that was created less than `sync.watch_hours` before the
//! window's end is read again by every crawl of its scope (see
//! `dorafleet_sources::Watch`) until it is final or too old. Pull requests
//! and Jira issues need no watch: their lists are walked by `updated`, so a
//! merge or a resolution brings them back by itself.
//!
//! A child list answering 404 means its item was deleted after the list
//! showed it: the page is kept (status 404) for normalize to mark the item
//! gone, and the crawl goes on. The scope's coverage never reaches past now.
//!
//! A page stored by an earlier crawl of the same request is revalidated
//! rather than fetched again, and a `304` reuses it (see `conditional`).
//! Requests already queued are fetched ahead while earlier pages are stored
//! (see `ahead`); pages are stored and checkpointed in the queue's order.
//!
//! A crawl is bounded, whatever the server answers:
//! - a list request (not a child list, not a check) that the crawl already
//!   fetched — a `next` link back to the same or an earlier page, a Jira
//!   `nextPageToken` that repeats — fails the task permanently, naming the
//!   request, its page number and the page it repeats (the fetched lists are
//!   remembered in the checkpoint, so a resumed attempt still sees a cycle);
//! - a task that has stored `sources.<source>.max_pages_per_task` pages and
//!   still has requests pending fails permanently, naming the limit and the
//!   next request;
//! - the worker stops an attempt past `worker.task_deadline_secs` (transient:
//!   the next attempt resumes from the checkpoint).
//!
//! A task failed that way is dead-lettered and its scope gets no gold for
//! the run, like any other extract that did not succeed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::{Clock, Scope, Source, TaskEnvelope, TaskError, TaskStats, Window};
use dorafleet_sources::{PageRequest, SourceClient, Watch, start_requests_watching};
use dorafleet_telemetry::metrics;
use dorafleet_warehouse::{ExtractCheckpoint, Warehouse};
use dorafleet_worker::{HandlerOutcome, StageHandler};

mod ahead;
mod answer;
mod conditional;
mod quality;
mod resume;
mod walk;
pub use quality::{REJECTION_SAMPLE, RecordQuality};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// The crawl state saved in each checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrawlState {
    /// The requests still to fetch, in order; the front one is next. Not
    /// written into checkpoints: a resumed attempt rebuilds it from the
    /// task's stored pages (see `resume`). Older checkpoints carry it.
    #[serde(default, skip_serializing)]
    pub pending: VecDeque<PageRequest>,
    /// `pending` is rebuilt from the stored pages, not read from here: set
    /// in every checkpoint written since the queue left them.
    #[serde(default)]
    pub queue_from_pages: bool,
    /// Checks the source refused (an older Jira without the approximate
    /// count): taken out of the queue without storing a page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_checks: Vec<PageRequest>,
    /// The newest item timestamp seen so far (UTC): the crawl's
    /// high-watermark, see `CrawlStep::newest_seen`.
    pub newest_seen: Option<DateTime<Utc>>,
    /// What validation found so far; checkpoints written before validation
    /// existed read as "nothing seen".
    #[serde(default)]
    pub quality: RecordQuality,
    /// Pagination gaps the crawl saw (see `CrawlStep::pagination_gap`).
    #[serde(default)]
    pub pagination_gaps: Vec<String>,
    /// The unfinished records of earlier runs this crawl reads again, fixed
    /// when the task starts so a resumed attempt walks the same lists.
    #[serde(default)]
    pub watch: Watch,
    /// Child lists that answered 404: items deleted after they were listed.
    #[serde(default)]
    pub gone: u64,
    /// Records of child lists (a Jira issue's changelog, a pull request's
    /// commits), counted in `quality` too: a source's count of its list is
    /// compared with the records seen less these.
    #[serde(default)]
    pub child_records: u64,
    /// The list requests fetched so far, each as a fingerprint of its
    /// identity (method, absolute URL, body; see
    /// `SourceClient::request_identity`) with its page number: a crawl
    /// asked to fetch one again is going round in circles. Fingerprints (not
    /// URLs) keep the checkpoint small however long the crawl.
    #[serde(default)]
    pub fetched_lists: BTreeMap<u64, u32>,
}

/// A stable 64-bit FNV-1a fingerprint: the same on every machine and Rust
/// version, as it is stored in checkpoints.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The fingerprint of a list request (see [`CrawlState::fetched_lists`]);
/// `None` for child lists (a list that shifts while it is walked can show an
/// item twice) and checks.
fn list_fingerprint(client: &SourceClient, request: &PageRequest) -> Option<u64> {
    if request.is_child() || request.is_check() {
        return None;
    }
    client.request_identity(request).map(|id| fingerprint(&id))
}

/// The extract stage's handler: crawls a task's scope and window through
/// the source's client into bronze, checkpointing after every page.
#[derive(Debug, Clone)]
pub struct ExtractHandler {
    warehouse: Arc<dyn Warehouse>,
    clients: HashMap<Source, (SourceClient, u32)>,
    max_rejected_ratio: f64,
    watch_for: chrono::Duration,
    clock: Clock,
    done_statuses: Option<Vec<String>>,
    jira_api: Option<dorafleet_core::config::JiraApi>,
    reuse_within: chrono::Duration,
}

impl ExtractHandler {
    /// Writes bronze and checkpoints to `warehouse`; has no source client
    /// yet (see [`with_client`](Self::with_client)) and the default
    /// `quality.max_rejected_ratio`.
    pub fn new(warehouse: Arc<dyn Warehouse>) -> Self {
        ExtractHandler {
            warehouse,
            clients: HashMap::new(),
            max_rejected_ratio: dorafleet_core::config::QualityConfig::default().max_rejected_ratio,
            watch_for: dorafleet_core::config::SyncConfig::default().watch(),
            clock: Clock::system(),
            done_statuses: None,
            jira_api: None,
            reuse_within: conditional::reuse_within(
                dorafleet_core::config::WarehouseConfig::default().bronze_retention_days,
            ),
        }
    }

    /// Revalidate stored pages only while they are younger than half of a
    /// bronze retention of `days` (`warehouse.bronze_retention_days`, 0:
    /// kept forever), so a page reused on a `304` is still in bronze when
    /// its reuse is read. Default: the default retention.
    pub fn with_bronze_retention_days(mut self, days: u32) -> Self {
        self.reuse_within = conditional::reuse_within(days);
        self
    }

    /// Read the changelog of Jira issues without a resolution date in one
    /// of these statuses (`definitions.done_statuses`) besides Jira's Done
    /// category; without it, the default list.
    pub fn with_done_statuses(mut self, done_statuses: Vec<String>) -> Self {
        self.done_statuses = Some(done_statuses);
        self
    }

    /// Speak `api` to Jira (`sources.jira.api`; `auto` asks the server
    /// once per task), after learning the API user's time zone, which the
    /// search's date bounds are written in. Without it, Jira is searched as
    /// Jira Cloud with its bounds in UTC.
    pub fn with_jira_api(mut self, api: dorafleet_core::config::JiraApi) -> Self {
        self.jira_api = Some(api);
        self
    }

    /// Watch unfinished records for `watch_for` after their creation
    /// (`sync.watch_hours`), and bound coverage by `clock`'s now.
    pub fn with_time(mut self, watch_for: chrono::Duration, clock: Clock) -> Self {
        self.watch_for = watch_for;
        self.clock = clock;
        self
    }

    /// Fail a task whose share of rejected records is above `ratio`
    /// (`quality.max_rejected_ratio`).
    pub fn with_max_rejected_ratio(mut self, ratio: f64) -> Self {
        self.max_rejected_ratio = ratio;
        self
    }

    /// Use `client` for its source, asking for `page_size` records per page.
    pub fn with_client(mut self, client: SourceClient, page_size: u32) -> Self {
        self.clients.insert(client.source(), (client, page_size));
        self
    }

    async fn crawl(&self, task: &TaskEnvelope, stats: &mut TaskStats) -> Result<(), TaskError> {
        let source = task
            .source
            .ok_or_else(|| TaskError::permanent("extract task without a source"))?;
        let (client, page_size) = self.clients.get(&source).ok_or_else(|| {
            TaskError::permanent(format!("this worker has no client for source {source}"))
        })?;
        let saved = self.warehouse.extract_checkpoint(task.task_id).await?;
        let (mut state, mut seq) = match saved {
            Some(cp) if cp.completed => return Ok(()),
            Some(cp) => {
                let mut state = decode_state(&cp.state)?;
                if state.queue_from_pages {
                    state.pending = self
                        .rebuild_queue(task, source, *page_size, &state, cp.pages_done)
                        .await?;
                }
                // An older checkpoint's queue came with it; from here on it
                // is rebuilt like any other.
                state.queue_from_pages = true;
                (state, cp.pages_done)
            }
            None => {
                let watch = self.watch(source, &task.scope, task.window).await?;
                let pending =
                    start_requests_watching(source, &task.scope, &task.window, *page_size, &watch);
                (
                    CrawlState {
                        pending: pending.into(),
                        queue_from_pages: true,
                        watch,
                        ..CrawlState::default()
                    },
                    0,
                )
            }
        };
        let revalidate =
            conditional::revalidates(self.warehouse.as_ref(), client, &task.scope).await?;
        let mut crawl = answer::Crawl {
            task,
            source,
            client,
            page_size: *page_size,
            state: &mut state,
            seq: &mut seq,
            stats: &mut *stats,
        };
        let mut unstored = answer::Unstored::default();
        let crawled = self.walk(&mut crawl, revalidate, &mut unstored).await;
        // However the walk ended, the pages it took are stored before the
        // task goes on or fails (unless its lease is gone).
        let kept = self.store_taken(&mut crawl, &mut unstored).await;
        crawled?;
        kept?;
        // Not completed: the task stays resumable, so a replay (with a raised
        // threshold, or after the source is fixed and the run re-planned)
        // decides again from the same tally.
        state.quality.verdict(self.max_rejected_ratio)?;
        if state.quality.records_rejected > 0 || !state.quality.unknown_fields.is_empty() {
            tracing::warn!(
                %source,
                scope = %task.scope,
                seen = state.quality.records_seen,
                rejected = state.quality.records_rejected,
                unknown_fields = ?state.quality.unknown_fields,
                sample = ?state.quality.sample,
                "records failed schema validation; going on without them"
            );
        }
        if !state.pagination_gaps.is_empty() {
            dorafleet_worker::still_held()?;
            crate::sensors::hold_for_pagination_gaps(
                self.warehouse.as_ref(),
                task,
                &state.pagination_gaps,
            )
            .await?;
        }
        if state.gone > 0 {
            tracing::info!(%source, scope = %task.scope, gone = state.gone,
                "items were deleted at the source after they were listed; normalize marks them gone");
        }
        let done = self.checkpoint(task, seq, &state)?;
        // Coverage never passes now: what has not happened yet is unknown.
        let covered = Window {
            from: task.window.from,
            to: task.window.to.min(self.clock.now()),
        };
        dorafleet_worker::still_held()?;
        self.warehouse
            .complete_extract(&done, source, &task.scope, covered)
            .await?;
        if let Some(newest) = state.newest_seen {
            metrics::extracted_up_to(source.as_str(), newest.timestamp() as f64);
        }
        Ok(())
    }

    /// Starts fetching `request` (with `revalidate`, revalidating the page
    /// an earlier crawl stored for it, if any) on its own tokio task, traced
    /// in this task's span.
    fn fetch(
        &self,
        client: &SourceClient,
        request: PageRequest,
        revalidate: bool,
    ) -> JoinHandle<ahead::Answer> {
        let (warehouse, client) = (Arc::clone(&self.warehouse), client.clone());
        let reuse_within = self.reuse_within;
        let fetch = async move {
            let stored = if revalidate {
                conditional::stored_page(warehouse.as_ref(), &client, &request, reuse_within)
                    .await?
            } else {
                None
            };
            let validators = conditional::validators(stored.as_ref());
            let page = client.get_conditional(&request, &validators).await?;
            Ok((stored, page))
        };
        tokio::spawn(fetch.instrument(tracing::Span::current()))
    }

    /// The scope's records silver holds unfinished, created within the
    /// watch period before the window's end and before the window (the
    /// window's own are listed anyway).
    async fn watch(
        &self,
        source: Source,
        scope: &Scope,
        window: Window,
    ) -> Result<Watch, TaskError> {
        let Some(target) = scope.target.as_deref() else {
            return Ok(Watch::default());
        };
        if source == Source::Jira {
            return Ok(Watch {
                done_statuses: self.done_statuses.clone(),
                jira: self.jira_api.map(|api| dorafleet_sources::jira::JiraCrawl {
                    api,
                    project: target.trim().to_owned(),
                }),
                ..Watch::default()
            });
        }
        let since = window.to - self.watch_for;
        let silver = self.warehouse.team_silver(&scope.team).await?;
        let mut watch = Watch::default();
        for d in silver.deployments.iter().filter(|d| {
            d.source == source
                && d.status.is_open()
                && d.started_at >= since
                && d.started_at < window.from
                && match source {
                    Source::Github => d.repo == target && d.job.is_none(),
                    _ => d.job.as_deref() == Some(target),
                }
        }) {
            let Some(id) = d.key.rsplit_once('#').and_then(|(_, n)| n.parse().ok()) else {
                continue;
            };
            watch.ids.insert(id);
            watch.since = Some(watch.since.map_or(d.started_at, |s| s.min(d.started_at)));
        }
        if !watch.is_empty() {
            tracing::debug!(%source, %scope, watched = watch.ids.len(), "reading unfinished records again");
        }
        Ok(watch)
    }

    fn checkpoint(
        &self,
        task: &TaskEnvelope,
        pages_done: u32,
        state: &CrawlState,
    ) -> Result<ExtractCheckpoint, TaskError> {
        Ok(ExtractCheckpoint {
            task_id: task.task_id,
            run_id: task.run_id,
            pages_done,
            state: serde_json::to_string(state)
                .map_err(|e| TaskError::permanent_from("crawl state does not encode", e))?,
            newest_seen: state.newest_seen,
            completed: false,
        })
    }
}

/// The pages held `seen` records where the source counts `total` for the
/// same query. The count is approximate (Jira's index may lag a little), so
/// a shortfall within 2 % (at least 2 records) passes; a skipped page is a
/// whole page short.
fn short_of_count(seen: u64, total: u64) -> Option<String> {
    let slack = (total / 50).max(2);
    (total > seen + slack).then(|| {
        format!(
            "the search returned {seen} records but the source counts {total} for the same query: {} were never listed",
            total - seen
        )
    })
}

/// The crawl state stored in an extract checkpoint.
pub fn decode_state(json: &str) -> Result<CrawlState, TaskError> {
    serde_json::from_str(json)
        .map_err(|e| TaskError::permanent_from("stored crawl checkpoint is unreadable", e))
}

#[async_trait]
impl StageHandler for ExtractHandler {
    async fn handle(&self, task: &TaskEnvelope) -> HandlerOutcome {
        let mut stats = TaskStats::default();
        match self.crawl(task, &mut stats).await {
            Ok(()) => HandlerOutcome::ok(stats),
            Err(e) => HandlerOutcome::failed(stats, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_written_before_validation_reads_as_nothing_seen() {
        let state = decode_state(r#"{"pending":[],"newest_seen":null}"#).unwrap();
        assert_eq!(state.quality, RecordQuality::default());
    }
}
