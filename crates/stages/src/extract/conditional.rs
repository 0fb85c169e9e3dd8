//! Conditional requests: a page an earlier crawl stored is asked for again
//! with its validators, and when the source answers `304 Not Modified` the
//! stored page stands for the answer.
//!
//! Why: an hourly incremental run asks again for the first page of every
//! list (a repository's closed pull requests, its deployments, a Jenkins
//! job's builds) and the statuses of every watched deployment, and for most
//! scopes nothing changed since the last run. GitHub does not count a `304`
//! against its hourly quota, so revalidating costs the budget only for what
//! changed.
//!
//! What a `304` leaves behind is a bronze *reuse* record (see
//! `dorafleet_warehouse::BronzePage::reuses`): it belongs to this task and
//! run like a fetched page, so normalize reads the run's pages exactly as if
//! the page had been fetched, and the payload is not stored a second time.
//! The crawl walks on from the stored page's body and `Link: rel="next"`,
//! which are what the source would have sent.
//!
//! Only pages younger than half the bronze retention are revalidated: a
//! reuse record must not outlive the page whose payload it stands for by
//! long (SQLite keeps a reused page as long as its reuse records; MongoDB's
//! TTL monitor does not), and an older page is simply fetched again.

use chrono::Utc;
use dorafleet_core::{Scope, Source, TaskError};
use dorafleet_sources::{FetchedPage, PageRequest, SourceClient, Validators};
use dorafleet_warehouse::{BronzePage, Warehouse};

/// How long after its fetch a stored page may still be revalidated, for a
/// bronze retention of `retention_days` (0: kept forever).
pub(super) fn reuse_within(retention_days: u32) -> chrono::Duration {
    if retention_days == 0 {
        return chrono::Duration::days(3650);
    }
    chrono::Duration::hours(i64::from(retention_days) * 12)
}

/// Whether a crawl of `scope` looks for stored pages to revalidate: with
/// `conditional_requests` on, once an extract of the scope has completed.
/// Until then (a first sync, a backfill of a new team) bronze holds nothing
/// of the scope an incremental run would find, and looking anyway cost a
/// warehouse read per request (5–7 % of a worker's CPU in the workers
/// benchmark). Pages a crawl left without completing are fetched again
/// whole by the next task of the scope; the task that stored them resumes
/// past them without a request.
pub(super) async fn revalidates(
    warehouse: &dyn Warehouse,
    client: &SourceClient,
    scope: &Scope,
) -> Result<bool, TaskError> {
    if !client.conditional_requests() {
        return Ok(false);
    }
    Ok(warehouse.coverage(client.source(), scope).await?.is_some())
}

/// The stored page `request` is revalidated against, if any: only plain
/// GETs (a check, or a POST whose body is the query, is always sent).
pub(super) async fn stored_page(
    warehouse: &dyn Warehouse,
    client: &SourceClient,
    request: &PageRequest,
    reuse_within: chrono::Duration,
) -> Result<Option<BronzePage>, TaskError> {
    if request.json_body.is_some() || request.is_check() {
        return Ok(None);
    }
    let fetched_after = Utc::now() - reuse_within;
    Ok(warehouse
        .revalidatable_page(client.source(), &request.url, fetched_after)
        .await?)
}

/// The validators a request for `stored` carries.
pub(super) fn validators(stored: Option<&BronzePage>) -> Validators {
    stored.map_or_else(Validators::default, |page| Validators {
        etag: page.etag.clone(),
        last_modified: page.last_modified.clone(),
    })
}

/// What the crawl reads for a response: on a `304` for a stored page, that
/// page's status, body and next link as of this response; anything else as
/// received. The second value is the stored page a `304` reuses.
pub(super) fn as_received(
    page: FetchedPage,
    stored: Option<BronzePage>,
) -> (FetchedPage, Option<BronzePage>) {
    match stored {
        Some(stored) if page.not_modified() => {
            let reused = FetchedPage {
                status: stored.status,
                body: stored.body.clone(),
                link_next: page.link_next.or_else(|| stored.link_next.clone()),
                etag: stored.etag.clone(),
                last_modified: stored.last_modified.clone(),
                ..page
            };
            (reused, Some(stored))
        }
        _ => (page, None),
    }
}

/// The bronze record of `page` as fetched (or reused) by a task.
pub(super) struct PageRecord<'a> {
    /// The extract task and its run.
    pub(super) task: &'a dorafleet_core::TaskEnvelope,
    /// The source that answered.
    pub(super) source: Source,
    /// The page's position in the task's crawl.
    pub(super) seq: u32,
    /// Records the crawl counted on the page.
    pub(super) records: u64,
}

impl PageRecord<'_> {
    /// The bronze page for `page` (as the crawl read it, see
    /// [`as_received`]); a reuse record when `reused` is the stored page a
    /// `304` stands for.
    pub(super) fn bronze(
        &self,
        request: &PageRequest,
        page: FetchedPage,
        reused: Option<&BronzePage>,
    ) -> BronzePage {
        BronzePage {
            task_id: self.task.task_id,
            seq: self.seq,
            execution_id: self.task.run_id,
            source_system: self.source,
            scope: self.task.scope.clone(),
            endpoint: request.endpoint.clone(),
            request: request.url.clone(),
            cursor: request.page_no.to_string(),
            status: page.status,
            fetched_at: page.fetched_at,
            record_count: self.records,
            body: page.body,
            etag: page.etag,
            last_modified: page.last_modified,
            link_next: page.link_next,
            reuses: reused.map(BronzePage::at),
        }
    }
}
