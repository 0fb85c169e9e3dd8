//! The bronze layer: every API page exactly as received, the crawl
//! checkpoints that let a retried extract resume at its next page, and each
//! scope's coverage (the span extracted without a gap), which makes syncs
//! incremental and tells aggregation which days are complete.
//!
//! A page also keeps its validators (`ETag`, `Last-Modified`) and its
//! `Link: rel="next"` target, so the next crawl of the same request can ask
//! "has it changed?" instead of fetching it again. When the source answers
//! `304 Not Modified`, extract stores a *reuse* record: a row of its own
//! (task, seq, run, fetch time) that points at the stored page instead of
//! carrying a copy of its payload. [`BronzeStore::bronze_pages`] returns such
//! a record with the payload it reuses, so normalize reads a run's pages the
//! same way whether each was fetched or revalidated.

use crate::{Result, WarehouseError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::Window;
use dorafleet_core::{Scope, Source};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One API response page exactly as the source sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BronzePage {
    /// The extract task that fetched it.
    pub task_id: Uuid,
    /// Position of the page within the task's crawl (0-based).
    pub seq: u32,
    /// The run (execution) the task belonged to.
    pub execution_id: Uuid,
    /// The source system that answered (GitHub, Jira or Jenkins).
    pub source_system: Source,
    /// The team and target the task extracted for.
    pub scope: Scope,
    /// Which list the page belongs to, e.g. `pulls`, `jira_search`.
    pub endpoint: String,
    /// The request URL (path and query; never credentials).
    pub request: String,
    /// The page cursor within its list (page number or token).
    pub cursor: String,
    /// The HTTP status code of the response.
    pub status: u16,
    /// When the page was fetched (UTC); retention purges by this time.
    pub fetched_at: DateTime<Utc>,
    /// Items in the page's list.
    pub record_count: u64,
    /// The response body, verbatim.
    pub body: String,
    /// The `ETag` the source sent with the page, verbatim.
    #[serde(default)]
    pub etag: Option<String>,
    /// The `Last-Modified` the source sent with the page, verbatim.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// The `Link: rel="next"` target sent with the page: what a crawl that
    /// reuses the page follows.
    #[serde(default)]
    pub link_next: Option<String>,
    /// Set when the source answered `304 Not Modified`: the stored page
    /// whose payload this record reuses. Stored as a record without payload
    /// (status 304, no body, no records); read back through
    /// [`BronzeStore::bronze_pages`] with the reused page's status, body,
    /// record count, validators and next link.
    #[serde(default)]
    pub reuses: Option<PageRef>,
}

/// Where a bronze page is stored: its extract task and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PageRef {
    /// The extract task that fetched the page.
    pub task_id: Uuid,
    /// Its position within that task's crawl.
    pub seq: u32,
}

impl BronzePage {
    /// Where this page is stored.
    pub fn at(&self) -> PageRef {
        PageRef {
            task_id: self.task_id,
            seq: self.seq,
        }
    }

    /// This record as stored when it reuses a page: status 304 and no payload.
    pub fn as_stored(&self) -> BronzePage {
        if self.reuses.is_none() {
            return self.clone();
        }
        BronzePage {
            status: 304,
            record_count: 0,
            body: String::new(),
            etag: None,
            last_modified: None,
            link_next: None,
            ..self.clone()
        }
    }

    /// This reuse record read back with the payload of `origin`, the page it
    /// reuses.
    pub fn resolved_with(self, origin: &BronzePage) -> BronzePage {
        BronzePage {
            status: origin.status,
            record_count: origin.record_count,
            body: origin.body.clone(),
            etag: origin.etag.clone(),
            last_modified: origin.last_modified.clone(),
            link_next: origin.link_next.clone(),
            ..self
        }
    }
}

/// Progress of one extract task: the crawl state it resumes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractCheckpoint {
    /// The extract task this is the progress of (one checkpoint per task).
    pub task_id: Uuid,
    /// The run the task belongs to.
    pub run_id: Uuid,
    /// Pages stored so far (the next page's `seq`).
    pub pages_done: u32,
    /// Opaque crawl state (the pending requests), JSON.
    pub state: String,
    /// Newest source timestamp seen so far, for the high-watermark.
    pub newest_seen: Option<DateTime<Utc>>,
    /// The task finished its crawl ([`BronzeStore::complete_extract`] sets it).
    pub completed: bool,
}

/// Which bronze pages [`BronzeStore::bronze_pages`] returns: each field that
/// is set must match; the default selects every page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BronzeFilter {
    /// Only pages of this run (the page's `execution_id`).
    pub run_id: Option<Uuid>,
    /// Only pages of this extract task.
    pub task_id: Option<Uuid>,
    /// Only pages from this source system.
    pub source: Option<Source>,
    /// Only pages of this team's scopes.
    pub team: Option<String>,
    /// Only pages of this target (`owner/repo`, project key, job name).
    pub target: Option<String>,
    /// Only pages stored after this one, in storage order: where the next
    /// read of a scope's pages in chunks starts.
    pub after: Option<PageRef>,
    /// At most this many pages (the first ones in storage order).
    pub limit: Option<usize>,
}

/// How many pages [`each_bronze_page`] reads at a time: a few megabytes of
/// bodies at most.
pub const BRONZE_PAGES_PER_READ: usize = 32;

/// Hands the pages `filter` selects to `each` in storage order, reading
/// [`BRONZE_PAGES_PER_READ`] of them at a time (from `filter.after` on), so
/// a reader holds a chunk of a scope's bronze and never all of it. Returns
/// how many pages it handed over. A page stored while the reading goes on
/// is handed over if it comes after the pages already read.
pub async fn each_bronze_page<S, E>(
    store: &S,
    filter: &BronzeFilter,
    mut each: impl FnMut(BronzePage) -> std::result::Result<(), E>,
) -> std::result::Result<u64, E>
where
    S: BronzeStore + ?Sized,
    E: From<WarehouseError>,
{
    let mut chunk_filter = BronzeFilter {
        limit: Some(BRONZE_PAGES_PER_READ),
        ..filter.clone()
    };
    let mut handed = 0;
    loop {
        let chunk = store.bronze_pages(&chunk_filter).await?;
        let full = chunk.len() >= BRONZE_PAGES_PER_READ;
        chunk_filter.after = chunk.last().map(BronzePage::at).or(chunk_filter.after);
        for page in chunk {
            each(page)?;
            handed += 1;
        }
        if !full {
            return Ok(handed);
        }
    }
}

/// How much bronze one source holds, from [`BronzeStore::bronze_totals`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BronzeTotals {
    /// The source system counted.
    pub source: Source,
    /// Number of stored pages.
    pub pages: u64,
    /// Sum of the pages' `record_count`.
    pub records: u64,
}

/// The time a scope's extraction covers without a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Start of the covered span (UTC).
    pub from: DateTime<Utc>,
    /// End of the covered span (UTC): the high-watermark, where the next
    /// incremental sync starts.
    pub to: DateTime<Utc>,
}

/// Raw pages, crawl checkpoints and coverage: what extract writes and normalize reads.
#[async_trait]
pub trait BronzeStore: Send + Sync + std::fmt::Debug {
    /// Store one fetched page and the task's new checkpoint in one transaction,
    /// so a crash can never leave a page without its checkpoint or the reverse.
    /// Returns `false` when the page (task, seq) was already stored: bronze is
    /// immutable and the first copy wins.
    async fn append_bronze_page(
        &self,
        page: &BronzePage,
        checkpoint: &ExtractCheckpoint,
    ) -> Result<bool> {
        let stored = self
            .append_bronze_pages(vec![page.clone()], checkpoint.clone())
            .await?;
        Ok(stored.first().copied().unwrap_or(false))
    }

    /// Store consecutive fetched pages of one task, in order, and the
    /// checkpoint that follows the last of them, in one transaction: all of
    /// them with the checkpoint, or none. A crawl whose answers arrive
    /// together stores them in one write instead of one write each. For
    /// each page, `false` when it was already stored (the first copy wins);
    /// every page is `false` when the checkpoint does not move forward (a
    /// late append writes nothing).
    async fn append_bronze_pages(
        &self,
        pages: Vec<BronzePage>,
        checkpoint: ExtractCheckpoint,
    ) -> Result<Vec<bool>>;

    /// The last checkpoint of an extract task, if it ever stored a page.
    async fn extract_checkpoint(&self, task_id: Uuid) -> Result<Option<ExtractCheckpoint>>;

    /// Mark an extract task finished and extend its scope's coverage by the
    /// window it extracted, in one transaction: the high-watermark moves to
    /// `window.to` (never backwards), the start of coverage to `window.from`
    /// (never forwards). Everything in between is in bronze.
    async fn complete_extract(
        &self,
        checkpoint: &ExtractCheckpoint,
        source: Source,
        scope: &Scope,
        window: Window,
    ) -> Result<()>;

    /// Where the next incremental sync of this scope starts.
    async fn high_watermark(&self, source: Source, scope: &Scope) -> Result<Option<DateTime<Utc>>> {
        Ok(self.coverage(source, scope).await?.map(|c| c.to))
    }

    /// The time span this scope has been extracted over, if ever.
    async fn coverage(&self, source: Source, scope: &Scope) -> Result<Option<Coverage>>;

    /// The newest page fetched (not reused) for `request` of `source` at or
    /// after `fetched_after`, with a 2xx status and a validator (`ETag` or
    /// `Last-Modified`): what the next crawl of that request revalidates,
    /// and reuses on a `304`. `None` when there is none; a store that keeps
    /// no validators always answers `None`, and requests go unconditionally.
    async fn revalidatable_page(
        &self,
        source: Source,
        request: &str,
        fetched_after: DateTime<Utc>,
    ) -> Result<Option<BronzePage>> {
        let _ = (source, request, fetched_after);
        Ok(None)
    }

    /// Bronze pages in storage order (by task, then page sequence); a record
    /// that reuses a page (see [`BronzePage::reuses`]) comes with the reused
    /// payload, or as stored (status 304, no body) if that page was purged.
    async fn bronze_pages(&self, filter: &BronzeFilter) -> Result<Vec<BronzePage>>;

    /// Pages and records per source, optionally for one run: records as
    /// received, so a page reused on a `304` counts as a page with none.
    async fn bronze_totals(&self, run_id: Option<Uuid>) -> Result<Vec<BronzeTotals>>;

    /// Delete bronze pages fetched before `cutoff` (retention); returns how
    /// many. Where the store can (SQLite), a page that a record fetched at
    /// or after `cutoff` reuses is kept with it.
    async fn purge_bronze_before(&self, cutoff: DateTime<Utc>) -> Result<u64>;
}
