//! Runs, task records and leases.
//!
//! A lease is one document changed by single atomic updates: its holder
//! renews it by an update matching its own name, and a lease is taken over
//! by an upsert whose filter only matches a missing or expired one (otherwise
//! the upsert collides with the existing `_id` and the lease is someone
//! else's); a takeover increments its `generation`, the fencing token.
//!
//! A fenced write runs in a transaction that first increments the lease
//! document's `fence_checks` where `generation` is the writer's: no match
//! means the lease moved on and nothing is written, and because the
//! transaction wrote the lease document, a takeover committing meanwhile is
//! a write conflict (one of the two is retried and then sees the other),
//! never a write skew.

use super::codec::{parse_ts, parse_uuid, ts};
use super::indexes::{LEASES, RUNS, TASKS};
use super::{MongoWarehouse, by_id, classify, codec::corrupt, is_duplicate_key};
use crate::ledger::fenced_message;
use crate::{Fence, Result, RunRecord, TaskRecord, WarehouseError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::{TaskEnvelope, Window};
use futures::{FutureExt, TryStreamExt};
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{ClientSession, Collection, Database};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
struct RunDoc {
    #[serde(rename = "_id")]
    run_id: String,
    kind: String,
    window_from: String,
    window_to: String,
    status: String,
    created_at: String,
    updated_at: String,
    /// The run's root span (W3C), set when the run is created.
    #[serde(default)]
    traceparent: Option<String>,
}

impl RunDoc {
    fn into_run(self) -> Result<RunRecord> {
        Ok(RunRecord {
            run_id: parse_uuid(&self.run_id)?,
            kind: self.kind,
            window: Window {
                from: parse_ts(&self.window_from)?,
                to: parse_ts(&self.window_to)?,
            },
            status: self.status.parse().map_err(corrupt("run status"))?,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            traceparent: self.traceparent,
        })
    }
}

/// The upsert of a run: created once; saving it again only moves its status on.
fn run_upsert(run: &RunRecord) -> (Document, Document) {
    let update = doc! {
        "$set": { "status": run.status.as_str(), "updated_at": ts(run.updated_at) },
        "$setOnInsert": {
            "kind": &run.kind,
            "window_from": ts(run.window.from),
            "window_to": ts(run.window.to),
            "created_at": ts(run.created_at),
            "traceparent": run.traceparent.clone(),
        },
    };
    (by_id(run.run_id.to_string()), update)
}

/// A run is created once; saving it again only moves its status on.
pub(super) async fn save_run(db: &Database, run: &RunRecord) -> Result<()> {
    let (filter, update) = run_upsert(run);
    db.collection::<Document>(RUNS)
        .update_one(filter, update)
        .upsert(true)
        .await
        .map_err(classify)?;
    Ok(())
}

/// Runs newest first, or the one run `run_id`.
pub(super) async fn runs(
    db: &Database,
    run_id: Option<Uuid>,
    limit: usize,
) -> Result<Vec<RunRecord>> {
    let filter = run_id.map_or_else(Document::new, |r| by_id(r.to_string()));
    let docs: Vec<RunDoc> = db
        .collection::<RunDoc>(RUNS)
        .find(filter)
        .sort(doc! { "created_at": -1, "_id": -1 })
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    docs.into_iter().map(RunDoc::into_run).collect()
}

#[derive(Debug, Serialize, Deserialize)]
struct TaskDoc {
    #[serde(rename = "_id")]
    task_id: String,
    run_id: String,
    stage: String,
    source: Option<String>,
    team: String,
    target: Option<String>,
    state: String,
    published: bool,
    worker: Option<String>,
    attempts: i64,
    /// The envelope as JSON, exactly as published.
    envelope: String,
    updated_at: String,
}

impl TaskDoc {
    fn into_record(self) -> Result<TaskRecord> {
        Ok(TaskRecord {
            envelope: TaskEnvelope::decode(self.envelope.as_bytes())
                .map_err(|e| corrupt("stored task")(e.to_string()))?,
            state: self.state.parse().map_err(corrupt("task state"))?,
            published: self.published,
            worker: self.worker,
            attempts: u32::try_from(self.attempts)
                .map_err(|e| corrupt("task attempts")(e.to_string()))?,
            updated_at: parse_ts(&self.updated_at)?,
        })
    }
}

/// The upsert of one task record: what may change on `$set`, where it
/// belongs on `$setOnInsert`.
fn task_upsert(t: &TaskRecord) -> (Document, Document) {
    let e = &t.envelope;
    let update = doc! {
        "$set": {
            "state": t.state.as_str(),
            "published": t.published,
            "worker": t.worker.clone(),
            "attempts": i64::from(t.attempts),
            "envelope": String::from_utf8_lossy(&e.encode()).into_owned(),
            "updated_at": ts(t.updated_at),
        },
        "$setOnInsert": {
            "run_id": e.run_id.to_string(),
            "stage": e.stage.as_str(),
            "source": e.source.map(|s| s.as_str()),
            "team": &e.scope.team,
            "target": e.scope.target.clone(),
        },
    };
    (by_id(e.task_id.to_string()), update)
}

pub(super) async fn save_tasks(w: &MongoWarehouse, tasks: &[TaskRecord]) -> Result<()> {
    let upserts: Vec<(Document, Document)> = tasks.iter().map(task_upsert).collect();
    let coll = w.db.collection::<Document>(TASKS);
    if let [(filter, update)] = upserts.as_slice() {
        // One document is atomic on its own: no transaction needed.
        coll.update_one(filter.clone(), update.clone())
            .upsert(true)
            .await
            .map_err(classify)?;
        return Ok(());
    }
    if upserts.is_empty() {
        return Ok(());
    }
    w.transaction((coll, upserts), |s, (coll, upserts)| {
        async move {
            for (filter, update) in upserts.iter() {
                coll.update_one(filter.clone(), update.clone())
                    .upsert(true)
                    .session(&mut *s)
                    .await?;
            }
            Ok(())
        }
        .boxed()
    })
    .await
}

pub(super) async fn run_tasks(db: &Database, run_id: Uuid) -> Result<Vec<TaskRecord>> {
    let docs: Vec<TaskDoc> = db
        .collection::<TaskDoc>(TASKS)
        .find(doc! { "run_id": run_id.to_string() })
        .sort(doc! { "_id": 1 })
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    docs.into_iter().map(TaskDoc::into_record).collect()
}

/// Upserts of `collection` behind the check of `fence`, in one transaction.
async fn save_fenced(
    w: &MongoWarehouse,
    collection: &str,
    upserts: Vec<(Document, Document)>,
    fence: &Fence,
) -> Result<()> {
    let generation = i64::try_from(fence.generation)
        .map_err(|e| WarehouseError::corrupt_from("lease generation", e))?;
    let leases = w.db.collection::<Document>(LEASES);
    let coll = w.db.collection::<Document>(collection);
    let context = (leases.clone(), coll, upserts, fence.name.clone());
    let current = w
        .transaction(context, move |s, (leases, coll, upserts, name)| {
            async move {
                if !touch_fence(leases, name, generation, s).await? {
                    return Ok(false);
                }
                for (filter, update) in upserts.iter() {
                    coll.update_one(filter.clone(), update.clone())
                        .upsert(true)
                        .session(&mut *s)
                        .await?;
                }
                Ok(true)
            }
            .boxed()
        })
        .await?;
    if current {
        return Ok(());
    }
    let now = leases
        .find_one(by_id(fence.name.clone()))
        .await
        .map_err(classify)?
        .map(|d| generation_of(&d))
        .transpose()?;
    Err(WarehouseError::fenced(fenced_message(fence, now)))
}

/// Write the lease document if its generation is `generation` (so that a
/// concurrent takeover conflicts with this transaction); false if it is not.
async fn touch_fence(
    leases: &Collection<Document>,
    name: &str,
    generation: i64,
    s: &mut ClientSession,
) -> mongodb::error::Result<bool> {
    let touched = leases
        .update_one(
            doc! { "_id": name, "generation": generation },
            doc! { "$inc": { "fence_checks": 1_i64 } },
        )
        .session(s)
        .await?;
    Ok(touched.matched_count == 1)
}

/// A lease document's generation (0 for one written before generations).
fn generation_of(lease: &Document) -> Result<u64> {
    match lease.get("generation") {
        None => Ok(0),
        Some(g) => g
            .as_i64()
            .or_else(|| g.as_i32().map(i64::from))
            .and_then(|g| u64::try_from(g).ok())
            .ok_or_else(|| WarehouseError::corrupt(format!("lease generation {g}"))),
    }
}

pub(super) async fn acquire_lease(
    db: &Database,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<u64>> {
    let now = Utc::now();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or_default();
    let leases = db.collection::<Document>(LEASES);
    // A renewal: the holder's own lease keeps its generation. (A lease
    // document from before generations is only ever taken over, below.)
    let renewed = leases
        .find_one_and_update(
            doc! { "_id": name, "holder": holder, "generation": { "$exists": true } },
            doc! { "$set": { "expires_at": ts(expires) } },
        )
        .return_document(ReturnDocument::After)
        .await
        .map_err(classify)?;
    if let Some(lease) = renewed {
        return generation_of(&lease).map(Some);
    }
    // A takeover matches the lease only when it is missing, released or
    // expired. When it exists and is none of these, the upsert tries to
    // insert a second `_id: name` and the server refuses with a duplicate
    // key: the lease is held by another. (The server retries duplicate-key
    // upserts itself only for pure equality filters, which this is not.)
    let taken = leases
        .find_one_and_update(
            doc! { "_id": name, "expires_at": { "$lt": ts(now) } },
            doc! {
                "$set": { "holder": holder, "expires_at": ts(expires) },
                "$inc": { "generation": 1_i64 },
            },
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await;
    match taken {
        Ok(Some(lease)) => generation_of(&lease).map(Some),
        Ok(None) => Ok(None),
        Err(e) if is_duplicate_key(&e) => Ok(None),
        Err(e) => Err(classify(e)),
    }
}

pub(super) async fn release_lease(db: &Database, name: &str, holder: &str) -> Result<()> {
    // The document stays, expired and without a holder: its generation must
    // never go back.
    db.collection::<Document>(LEASES)
        .update_one(
            doc! { "_id": name, "holder": holder },
            doc! { "$set": { "holder": "", "expires_at": ts(DateTime::UNIX_EPOCH) } },
        )
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl crate::RunLedger for MongoWarehouse {
    async fn save_run(&self, run: &RunRecord) -> Result<()> {
        save_run(&self.db, run).await
    }

    async fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        runs(&self.db, None, limit).await
    }

    async fn run(&self, run_id: Uuid) -> Result<Option<RunRecord>> {
        Ok(runs(&self.db, Some(run_id), 1).await?.into_iter().next())
    }

    async fn save_tasks(&self, tasks: &[TaskRecord]) -> Result<()> {
        save_tasks(self, tasks).await
    }

    async fn run_tasks(&self, run_id: Uuid) -> Result<Vec<TaskRecord>> {
        run_tasks(&self.db, run_id).await
    }

    async fn save_run_fenced(&self, run: &RunRecord, fence: &Fence) -> Result<()> {
        save_fenced(self, RUNS, vec![run_upsert(run)], fence).await
    }

    async fn save_tasks_fenced(&self, tasks: &[TaskRecord], fence: &Fence) -> Result<()> {
        save_fenced(self, TASKS, tasks.iter().map(task_upsert).collect(), fence).await
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<u64>> {
        acquire_lease(&self.db, name, holder, ttl).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        release_lease(&self.db, name, holder).await
    }
}
