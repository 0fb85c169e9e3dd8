//! Bronze pages: the API responses exactly as fetched.
//!
//! A page is inserted with `$setOnInsert` under the unique (task, seq) index,
//! so the first copy wins and is never rewritten; the page and its task's
//! checkpoint are written in one transaction. MongoDB has no triggers to
//! forbid rewriting a page by hand: give the warehouse's own role only
//! `insert`, `find` and `remove` on `bronze_pages` if that must be enforced.
//!
//! A record reusing a page on a `304` is stored without payload and given
//! the payload of the page it reuses when read (one extra `find` per read,
//! for all of them). The TTL monitor deletes a page on its own fetch time
//! even when a younger record reuses it; such a record then reads back as
//! stored (status 304, no body), which normalize ignores like a purged page.
//! Extract only reuses pages younger than half the retention, so that takes
//! a backfill from bronze late in a record's life.

use super::codec::{
    bson_date, corrupt, int, number, parse_source, parse_ts, parse_uuid, to_doc, ts, uint,
};
use super::extract::CheckpointDoc;
use super::indexes::{BRONZE_PAGES, EXTRACT_CHECKPOINTS};
use super::{MongoWarehouse, by_id, classify};
use crate::Coverage;
use crate::{BronzeFilter, BronzePage, BronzeTotals, ExtractCheckpoint, PageRef, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::Scope;
use dorafleet_core::{Source, Window};
use futures::{FutureExt, TryStreamExt};
use mongodb::bson::{self, Document, doc};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
struct PageDoc {
    task_id: String,
    seq: i64,
    execution_id: String,
    source_system: String,
    team: String,
    target: Option<String>,
    endpoint: String,
    request: String,
    cursor: String,
    status: i32,
    /// For the TTL index (milliseconds).
    fetched_at: bson::DateTime,
    /// The exact instant.
    fetched_at_exact: String,
    record_count: i64,
    body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reuses_task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reuses_seq: Option<i64>,
}

impl PageDoc {
    fn new(p: &BronzePage) -> Self {
        let p = &p.as_stored();
        PageDoc {
            task_id: p.task_id.to_string(),
            seq: i64::from(p.seq),
            execution_id: p.execution_id.to_string(),
            source_system: p.source_system.as_str().to_owned(),
            team: p.scope.team.clone(),
            target: p.scope.target.clone(),
            endpoint: p.endpoint.clone(),
            request: p.request.clone(),
            cursor: p.cursor.clone(),
            status: i32::from(p.status),
            fetched_at: bson_date(p.fetched_at),
            fetched_at_exact: ts(p.fetched_at),
            record_count: int(p.record_count),
            body: p.body.clone(),
            etag: p.etag.clone(),
            last_modified: p.last_modified.clone(),
            link_next: p.link_next.clone(),
            reuses_task_id: p.reuses.map(|r| r.task_id.to_string()),
            reuses_seq: p.reuses.map(|r| i64::from(r.seq)),
        }
    }

    fn into_page(self) -> Result<BronzePage> {
        Ok(BronzePage {
            task_id: parse_uuid(&self.task_id)?,
            seq: u32::try_from(self.seq).map_err(|e| corrupt("page seq")(e.to_string()))?,
            execution_id: parse_uuid(&self.execution_id)?,
            source_system: parse_source(&self.source_system)?,
            scope: Scope {
                team: self.team,
                target: self.target,
            },
            endpoint: self.endpoint,
            request: self.request,
            cursor: self.cursor,
            status: u16::try_from(self.status)
                .map_err(|e| corrupt("page status")(e.to_string()))?,
            fetched_at: parse_ts(&self.fetched_at_exact)?,
            record_count: uint(self.record_count),
            body: self.body,
            etag: self.etag,
            last_modified: self.last_modified,
            link_next: self.link_next,
            reuses: match (self.reuses_task_id, self.reuses_seq) {
                (Some(task_id), Some(seq)) => Some(PageRef {
                    task_id: parse_uuid(&task_id)?,
                    seq: u32::try_from(seq).map_err(|e| corrupt("reused seq")(e.to_string()))?,
                }),
                _ => None,
            },
        })
    }
}

/// Stores a task's consecutive `pages` and the `checkpoint` after them in
/// one transaction; for each page, `true` when it was new.
pub(super) async fn append_pages(
    w: &MongoWarehouse,
    pages: &[BronzePage],
    checkpoint: &ExtractCheckpoint,
) -> Result<Vec<bool>> {
    let mut page_docs = Vec::with_capacity(pages.len());
    for page in pages {
        let mut page_doc = to_doc(&PageDoc::new(page))?;
        let key = doc! { "task_id": page.task_id.to_string(), "seq": i64::from(page.seq) };
        page_doc.remove("task_id");
        page_doc.remove("seq");
        page_docs.push((key, page_doc));
    }
    let cp = CheckpointDoc::new(checkpoint);
    let cp_id = by_id(cp.task_id.clone());
    let cp_fields = cp.fields()?;
    let bronze = w.db.collection::<Document>(BRONZE_PAGES);
    let checkpoints = w.db.collection::<Document>(EXTRACT_CHECKPOINTS);
    w.transaction(
        (bronze, checkpoints, page_docs, cp_id, cp_fields),
        |s, (bronze, checkpoints, page_docs, cp_id, cp_fields)| {
            async move {
                // Checkpoints only move forward and a completed one is
                // final: a late append (an attempt whose task another
                // worker has since taken further) writes nothing.
                let current = checkpoints.find_one(cp_id.clone()).session(&mut *s).await?;
                if let Some(current) = current {
                    let completed = current.get_bool("completed").unwrap_or(false);
                    let done = number(current.get("pages_done"));
                    if completed || done >= number(cp_fields.get("pages_done")) {
                        return Ok(vec![false; page_docs.len()]);
                    }
                }
                let mut stored = Vec::with_capacity(page_docs.len());
                for (key, page_doc) in page_docs.iter() {
                    // An existing page matches and `$setOnInsert` leaves it alone.
                    let upserted = bronze
                        .update_one(key.clone(), doc! { "$setOnInsert": page_doc.clone() })
                        .upsert(true)
                        .session(&mut *s)
                        .await?;
                    stored.push(upserted.upserted_id.is_some());
                }
                checkpoints
                    .update_one(cp_id.clone(), doc! { "$set": cp_fields.clone() })
                    .upsert(true)
                    .session(&mut *s)
                    .await?;
                Ok(stored)
            }
            .boxed()
        },
    )
    .await
}

pub(super) async fn pages(db: &Database, f: &BronzeFilter) -> Result<Vec<BronzePage>> {
    let mut filter = Document::new();
    if let Some(run) = f.run_id {
        filter.insert("execution_id", run.to_string());
    }
    if let Some(task) = f.task_id {
        filter.insert("task_id", task.to_string());
    }
    if let Some(source) = f.source {
        filter.insert("source_system", source.as_str());
    }
    if let Some(team) = &f.team {
        filter.insert("team", team);
    }
    if let Some(target) = &f.target {
        filter.insert("target", target);
    }
    if let Some(after) = f.after {
        let task = after.task_id.to_string();
        filter.insert(
            "$or",
            vec![
                doc! { "task_id": { "$gt": &task } },
                doc! { "task_id": &task, "seq": { "$gt": i64::from(after.seq) } },
            ],
        );
    }
    let pages = collection(db);
    let mut find = pages.find(filter).sort(doc! { "task_id": 1, "seq": 1 });
    if let Some(limit) = f.limit {
        find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let docs: Vec<PageDoc> = find
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    let pages = docs
        .into_iter()
        .map(PageDoc::into_page)
        .collect::<Result<Vec<_>>>()?;
    resolve_reuses(db, pages).await
}

/// Gives each record that reuses a page the payload of that page.
async fn resolve_reuses(db: &Database, pages: Vec<BronzePage>) -> Result<Vec<BronzePage>> {
    let mut tasks: Vec<String> = pages
        .iter()
        .filter_map(|p| p.reuses.map(|r| r.task_id.to_string()))
        .collect();
    if tasks.is_empty() {
        return Ok(pages);
    }
    tasks.sort_unstable();
    tasks.dedup();
    let origins: Vec<PageDoc> = collection(db)
        .find(doc! { "task_id": { "$in": tasks } })
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    let origins: std::collections::HashMap<PageRef, BronzePage> = origins
        .into_iter()
        .map(|d| d.into_page().map(|p| (p.at(), p)))
        .collect::<Result<_>>()?;
    Ok(pages
        .into_iter()
        .map(|page| match page.reuses.and_then(|r| origins.get(&r)) {
            Some(origin) => page.resolved_with(origin),
            None => page,
        })
        .collect())
}

pub(super) async fn revalidatable(
    db: &Database,
    source: Source,
    request: &str,
    fetched_after: DateTime<Utc>,
) -> Result<Option<BronzePage>> {
    let found = collection(db)
        .find_one(doc! {
            "source_system": source.as_str(),
            "request": request,
            "fetched_at": { "$gte": bson_date(fetched_after) },
            "fetched_at_exact": { "$gte": ts(fetched_after) },
            "reuses_task_id": null,
            "status": { "$gte": 200, "$lt": 300 },
            "$or": [ { "etag": { "$ne": null } }, { "last_modified": { "$ne": null } } ],
        })
        .sort(doc! { "fetched_at_exact": -1 })
        .await
        .map_err(classify)?;
    found.map(PageDoc::into_page).transpose()
}

fn collection(db: &Database) -> Collection<PageDoc> {
    db.collection(BRONZE_PAGES)
}

pub(super) async fn totals(db: &Database, run_id: Option<Uuid>) -> Result<Vec<BronzeTotals>> {
    let mut pipeline = Vec::new();
    if let Some(run) = run_id {
        pipeline.push(doc! { "$match": { "execution_id": run.to_string() } });
    }
    pipeline.push(doc! { "$group": {
        "_id": "$source_system",
        "pages": { "$sum": 1 },
        "records": { "$sum": "$record_count" },
    } });
    pipeline.push(doc! { "$sort": { "_id": 1 } });
    let groups: Vec<Document> = collection(db)
        .aggregate(pipeline)
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    groups
        .iter()
        .map(|g| {
            Ok(BronzeTotals {
                source: parse_source(
                    g.get_str("_id")
                        .map_err(|e| corrupt("totals")(e.to_string()))?,
                )?,
                pages: number(g.get("pages")),
                records: number(g.get("records")),
            })
        })
        .collect()
}

pub(super) async fn purge_before(db: &Database, cutoff: DateTime<Utc>) -> Result<u64> {
    // The BSON date narrows the range on the TTL index; the exact text
    // decides below the millisecond.
    let deleted = collection(db)
        .delete_many(doc! {
            "fetched_at": { "$lte": bson_date(cutoff) },
            "fetched_at_exact": { "$lt": ts(cutoff) },
        })
        .await
        .map_err(classify)?;
    Ok(deleted.deleted_count)
}

#[async_trait]
impl crate::BronzeStore for MongoWarehouse {
    async fn append_bronze_pages(
        &self,
        pages: Vec<BronzePage>,
        checkpoint: ExtractCheckpoint,
    ) -> Result<Vec<bool>> {
        append_pages(self, &pages, &checkpoint).await
    }

    async fn extract_checkpoint(&self, task_id: Uuid) -> Result<Option<ExtractCheckpoint>> {
        super::extract::checkpoint(&self.db, task_id).await
    }

    async fn complete_extract(
        &self,
        checkpoint: &ExtractCheckpoint,
        source: Source,
        scope: &Scope,
        window: Window,
    ) -> Result<()> {
        super::extract::complete(self, checkpoint, source, scope, window).await
    }

    async fn coverage(&self, source: Source, scope: &Scope) -> Result<Option<Coverage>> {
        super::extract::coverage(&self.db, source, scope).await
    }

    async fn revalidatable_page(
        &self,
        source: Source,
        request: &str,
        fetched_after: DateTime<Utc>,
    ) -> Result<Option<BronzePage>> {
        revalidatable(&self.db, source, request, fetched_after).await
    }

    async fn bronze_pages(&self, filter: &BronzeFilter) -> Result<Vec<BronzePage>> {
        pages(&self.db, filter).await
    }

    async fn bronze_totals(&self, run_id: Option<Uuid>) -> Result<Vec<BronzeTotals>> {
        totals(&self.db, run_id).await
    }

    async fn purge_bronze_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        purge_before(&self.db, cutoff).await
    }
}
