//! Replays on MongoDB, a batch at a time: claims as one bulk update of
//! atomic per-letter changes, finishes as one transaction of a few round
//! trips, claims given back as one bulk update. Each is as safe as the
//! single-letter write it replaces; only the number of round trips changes.

use super::super::codec::{corrupt, ts};
use super::super::indexes::{DEAD_LETTERS, RUNS, TASKS};
use super::super::{MongoWarehouse, abort_corrupt, by_id, classify};
use super::entry;
use crate::{ClaimOutcome, LetterStatus, Result};
use chrono::Utc;
use dorafleet_core::TaskEnvelope;
use futures::{FutureExt, TryStreamExt};
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::Error as DriverError;
use mongodb::{ClientSession, Database};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use uuid::Uuid;

/// Claims a batch in two round trips: one `update_many` moves every
/// claimable letter of the batch to `replaying` and stamps it with a token
/// of this claim (each document's update is atomic, so of two concurrent
/// replays exactly one claims a letter), then one `find` tells which letters
/// carry the token. A replay that dies in between leaves claims that turn
/// stale, as a single claim would.
pub(super) async fn claim(
    db: &Database,
    ids: &[Uuid],
    actor: &str,
    stale_after: Duration,
) -> Result<Vec<ClaimOutcome>> {
    let now = Utc::now();
    let stale_before = now - chrono::Duration::from_std(stale_after).unwrap_or_default();
    let token = Uuid::now_v7().to_string();
    let wanted: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    db.collection::<Document>(DEAD_LETTERS)
        .update_many(
            doc! {
                "_id": { "$in": &wanted },
                "$or": [
                    { "status": LetterStatus::Dead.as_str() },
                    { "status": LetterStatus::Replaying.as_str(), "claimed_at": { "$lt": ts(stale_before) } },
                ],
            },
            doc! {
                "$set": {
                    "status": LetterStatus::Replaying.as_str(),
                    "claimed_by": actor,
                    "claimed_at": ts(now),
                    "claim": &token,
                },
                "$push": { "audit": entry(actor, "replay_claimed", "claimed for replay") },
            },
        )
        .await
        .map_err(classify)?;
    let found: Vec<Document> = db
        .collection::<Document>(DEAD_LETTERS)
        .find(doc! { "_id": { "$in": &wanted } })
        .projection(doc! { "status": 1, "claim": 1 })
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    let mut standing = HashMap::with_capacity(found.len());
    for d in &found {
        let id = d
            .get_str("_id")
            .map_err(|e| corrupt("stored dead letter")(e.to_string()))?;
        let status: LetterStatus = d
            .get_str("status")
            .map_err(|e| e.to_string())
            .and_then(str::parse)
            .map_err(corrupt("stored dead letter"))?;
        let ours = d.get_str("claim").is_ok_and(|claim| claim == token);
        standing.insert(id, (status, ours));
    }
    let mut outcomes = Vec::with_capacity(ids.len());
    for id in &wanted {
        outcomes.push(match standing.get_mut(id.as_str()) {
            Some((_, ours)) if *ours => {
                // An id given twice is claimed once.
                *ours = false;
                ClaimOutcome::Claimed
            }
            Some((status, _)) => ClaimOutcome::NotClaimed(Some(*status)),
            None => ClaimOutcome::NotClaimed(None),
        });
    }
    Ok(outcomes)
}

/// Statements per `update` command: far below the server's limits on
/// statements and on command size, whatever a batch holds.
const STATEMENTS_PER_COMMAND: usize = 500;

/// Runs `update` commands of many statements (one round trip per
/// [`STATEMENTS_PER_COMMAND`] documents instead of one per document), in
/// the session's transaction if there is one; how many documents they
/// matched.
async fn update_each(
    db: &Database,
    mut session: Option<&mut ClientSession>,
    collection: &str,
    statements: Vec<Document>,
) -> mongodb::error::Result<i64> {
    let mut matched = 0;
    for chunk in statements.chunks(STATEMENTS_PER_COMMAND) {
        let command =
            db.run_command(doc! { "update": collection, "updates": chunk, "ordered": true });
        let reply = match session.as_deref_mut() {
            Some(s) => command.session(s).await?,
            None => command.await?,
        };
        // A refused statement is answered in the reply, not as a failed
        // command: the transaction must not commit the statements before it.
        if let Some(refused) = reply.get_array("writeErrors").ok().and_then(|e| e.first()) {
            return Err(DriverError::custom(format!(
                "MongoDB refused an update of {collection}: {refused}"
            )));
        }
        matched += match reply.get("n") {
            Some(Bson::Int32(n)) => i64::from(*n),
            Some(Bson::Int64(n)) => *n,
            _ => 0,
        };
    }
    Ok(matched)
}

/// Marks the letters replayed, resets their tasks and reopens their runs in
/// one transaction of a few round trips, whatever the batch holds: the
/// replay counts are read at once, each collection is written with one
/// command, and each run is reopened once.
pub(super) async fn finish(
    w: &MongoWarehouse,
    replayed: &[(Uuid, TaskEnvelope)],
    actor: &str,
) -> Result<()> {
    let context = (w.db.clone(), replayed.to_vec(), actor.to_owned());
    w.transaction(context, |s, (db, replayed, actor)| {
        async move {
            let ids: Vec<String> = replayed.iter().map(|(id, _)| id.to_string()).collect();
            let mut counts = HashMap::with_capacity(ids.len());
            let mut found = db
                .collection::<Document>(DEAD_LETTERS)
                .find(doc! { "_id": { "$in": &ids } })
                .projection(doc! { "replay_count": 1 })
                .session(&mut *s)
                .await?;
            while let Some(d) = found.next(&mut *s).await.transpose()? {
                let count = match d.get("replay_count") {
                    Some(Bson::Int64(n)) => *n,
                    Some(Bson::Int32(n)) => i64::from(*n),
                    _ => 0,
                };
                counts.insert(d.get_str("_id").unwrap_or_default().to_owned(), count);
            }
            let now = ts(Utc::now());
            let mut marks = Vec::with_capacity(replayed.len());
            let mut resets = Vec::with_capacity(replayed.len());
            for (id, (_, task)) in ids.iter().zip(replayed.iter()) {
                let Some(count) = counts.get_mut(id) else {
                    return Err(abort_corrupt(format!("no dead letter {id}")));
                };
                // Counted here, so a letter given twice is counted twice,
                // as two single finishes would.
                *count += 1;
                let detail = format!(
                    "republished to {} with a fresh budget of {} attempts (replay #{count})",
                    task.route(),
                    task.max_attempts,
                );
                marks.push(doc! {
                    "q": by_id(id.clone()),
                    "u": {
                        "$set": {
                            "status": LetterStatus::Replayed.as_str(),
                            "replay_count": *count,
                            "claimed_by": Bson::Null,
                            "claimed_at": Bson::Null,
                            "claim": Bson::Null,
                        },
                        "$push": { "audit": entry(actor, "replayed", &detail) },
                    },
                });
                // The run waits for the task again: its record goes back to pending ...
                resets.push(doc! {
                    "q": by_id(task.task_id.to_string()),
                    "u": { "$set": {
                        "state": "pending",
                        "published": true,
                        "attempts": 0_i64,
                        "envelope": String::from_utf8_lossy(&task.encode()).into_owned(),
                        "updated_at": &now,
                    } },
                });
            }
            update_each(db, Some(&mut *s), DEAD_LETTERS, marks).await?;
            update_each(db, Some(&mut *s), TASKS, resets).await?;
            // ... and its run is unfinished again until the task ends.
            let task_ids: Vec<String> = replayed
                .iter()
                .map(|(_, task)| task.task_id.to_string())
                .collect();
            let mut runs = BTreeSet::new();
            let mut tasks = db
                .collection::<Document>(TASKS)
                .find(doc! { "_id": { "$in": task_ids } })
                .projection(doc! { "run_id": 1 })
                .session(&mut *s)
                .await?;
            while let Some(task) = tasks.next(&mut *s).await.transpose()? {
                runs.extend(task.get_str("run_id").ok().map(str::to_owned));
            }
            if !runs.is_empty() {
                db.collection::<Document>(RUNS)
                    .update_many(
                        doc! { "_id": { "$in": Vec::from_iter(runs) }, "status": { "$ne": "running" } },
                        doc! { "$set": { "status": "running", "updated_at": &now } },
                    )
                    .session(&mut *s)
                    .await?;
            }
            Ok(())
        }
        .boxed()
    })
    .await
}

/// Gives claims back with one `update` command: each statement is atomic on
/// its letter and only moves a letter still `replaying`.
pub(super) async fn abandon(
    db: &Database,
    abandoned: &[(Uuid, String)],
    actor: &str,
) -> Result<()> {
    let statements: Vec<Document> = abandoned
        .iter()
        .map(|(id, reason)| {
            doc! {
                "q": { "_id": id.to_string(), "status": LetterStatus::Replaying.as_str() },
                "u": {
                    "$set": {
                        "status": LetterStatus::Dead.as_str(),
                        "claimed_by": Bson::Null,
                        "claimed_at": Bson::Null,
                        "claim": Bson::Null,
                    },
                    "$push": { "audit": entry(actor, "replay_abandoned", reason) },
                },
            }
        })
        .collect();
    update_each(db, None, DEAD_LETTERS, statements)
        .await
        .map_err(classify)?;
    Ok(())
}
