//! Runs, task records and leases.
//!
//! A lease is one document changed by single atomic updates: it is taken by
//! an upsert whose filter only matches a free, expired or own lease
//! (otherwise the upsert collides with the existing `_id` and the lease is
//! someone else's).

use super::codec::{parse_ts, parse_uuid, ts};
use super::indexes::{LEASES, RUNS, TASKS};
use super::{MongoWarehouse, by_id, classify, codec::corrupt, is_duplicate_key};
use crate::{Result, RunRecord, TaskRecord};
use async_trait::async_trait;
use chrono::Utc;
use dorafleet_core::{TaskEnvelope, Window};
use futures::{FutureExt, TryStreamExt};
use mongodb::Database;
use mongodb::bson::{Document, doc};
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

/// A run is created once; saving it again only moves its status on.
pub(super) async fn save_run(db: &Database, run: &RunRecord) -> Result<()> {
    db.collection::<Document>(RUNS)
        .update_one(
            by_id(run.run_id.to_string()),
            doc! {
                "$set": { "status": run.status.as_str(), "updated_at": ts(run.updated_at) },
                "$setOnInsert": {
                    "kind": &run.kind,
                    "window_from": ts(run.window.from),
                    "window_to": ts(run.window.to),
                    "created_at": ts(run.created_at),
                    "traceparent": run.traceparent.clone(),
                },
            },
        )
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

pub(super) async fn acquire_lease(
    db: &Database,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool> {
    let now = Utc::now();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or_default();
    // Matches the lease only when it is ours or expired. When it exists and
    // is neither, the upsert tries to insert a second `_id: name` and the
    // server refuses with a duplicate key: the lease is held by another.
    // (The server retries duplicate-key upserts itself only for pure
    // equality filters, which this `$or` is not.)
    let taken = db
        .collection::<Document>(LEASES)
        .update_one(
            doc! {
                "_id": name,
                "$or": [ { "holder": holder }, { "expires_at": { "$lt": ts(now) } } ],
            },
            doc! { "$set": { "holder": holder, "expires_at": ts(expires) } },
        )
        .upsert(true)
        .await;
    match taken {
        Ok(_) => Ok(true),
        Err(e) if is_duplicate_key(&e) => Ok(false),
        Err(e) => Err(classify(e)),
    }
}

pub(super) async fn release_lease(db: &Database, name: &str, holder: &str) -> Result<()> {
    db.collection::<Document>(LEASES)
        .delete_one(doc! { "_id": name, "holder": holder })
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

    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        acquire_lease(&self.db, name, holder, ttl).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        release_lease(&self.db, name, holder).await
    }
}
