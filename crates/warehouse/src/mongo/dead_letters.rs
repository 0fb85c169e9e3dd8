//! The dead-letter archive. Each letter is one document holding the letter
//! (as JSON, exactly as archived), the fields operators filter on, its status
//! and its audit trail as an array. Because the status and the audit live in
//! one document, every status change with its audit entry is a single atomic
//! update: a claim is an update conditional on `status`, so of two
//! concurrent replays exactly one wins, and a batch of them is one bulk
//! write. Only a finished replay, which also resets the task and its run,
//! needs a transaction (one per batch). Nothing deletes a letter.

use super::codec::{corrupt, parse_ts, ts};
use super::indexes::DEAD_LETTERS;
use super::{MongoWarehouse, classify, is_duplicate_key};
use crate::{ArchivedLetter, AuditEntry, ClaimOutcome, LetterFilter, LetterStatus, Result};
use async_trait::async_trait;
use chrono::Utc;
use dorafleet_core::{DeadLetter, TaskEnvelope};
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

mod replays;

#[derive(Debug, Serialize, Deserialize)]
struct AuditDoc {
    at: String,
    actor: String,
    action: String,
    detail: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct LetterDoc {
    #[serde(rename = "_id")]
    id: String,
    task_id: Option<String>,
    run_id: Option<String>,
    stage: Option<String>,
    source: Option<String>,
    team: Option<String>,
    target: Option<String>,
    error_class: String,
    reason: String,
    first_failed_at: String,
    last_failed_at: String,
    status: String,
    /// The whole letter as JSON.
    letter: String,
    archived_at: String,
    replay_count: i64,
    claimed_by: Option<String>,
    claimed_at: Option<String>,
    audit: Vec<AuditDoc>,
}

impl LetterDoc {
    fn into_archived(self) -> Result<ArchivedLetter> {
        let bad = corrupt("stored dead letter");
        Ok(ArchivedLetter {
            letter: serde_json::from_str(&self.letter).map_err(|e| bad(e.to_string()))?,
            status: self.status.parse().map_err(&bad)?,
            replay_count: u32::try_from(self.replay_count).map_err(|e| bad(e.to_string()))?,
            archived_at: parse_ts(&self.archived_at)?,
            audit: self
                .audit
                .into_iter()
                .map(|a| {
                    Ok(AuditEntry {
                        at: parse_ts(&a.at)?,
                        actor: a.actor,
                        action: a.action,
                        detail: a.detail,
                    })
                })
                .collect::<Result<_>>()?,
        })
    }
}

fn letters(db: &Database) -> Collection<LetterDoc> {
    db.collection(DEAD_LETTERS)
}

/// An audit entry to `$push`.
fn entry(actor: &str, action: &str, detail: &str) -> Document {
    doc! { "at": ts(Utc::now()), "actor": actor, "action": action, "detail": detail }
}

pub(super) async fn store(db: &Database, letter: &DeadLetter) -> Result<()> {
    let task = letter.envelope.as_ref();
    let now = ts(Utc::now());
    let stored = LetterDoc {
        id: letter.id.to_string(),
        task_id: task.map(|t| t.task_id.to_string()),
        run_id: task.map(|t| t.run_id.to_string()),
        stage: letter.stage.map(|s| s.as_str().to_owned()),
        source: letter.source.map(|s| s.as_str().to_owned()),
        team: letter.scope.as_ref().map(|s| s.team.clone()),
        target: letter.scope.as_ref().and_then(|s| s.target.clone()),
        error_class: letter.error_class.as_str().to_owned(),
        reason: letter.reason.clone(),
        first_failed_at: ts(letter.first_failed_at),
        last_failed_at: ts(letter.last_failed_at),
        status: LetterStatus::Dead.as_str().to_owned(),
        letter: serde_json::to_string(letter).map_err(|e| corrupt("dead letter")(e.to_string()))?,
        archived_at: now.clone(),
        replay_count: 0,
        claimed_by: None,
        claimed_at: None,
        audit: vec![AuditDoc {
            at: now,
            actor: "archiver".into(),
            action: "archived".into(),
            detail: letter.reason.clone(),
        }],
    };
    // The letter's id is the `_id`: archiving it again is refused by the
    // server and changes nothing, which is the idempotence asked for.
    match letters(db).insert_one(&stored).await {
        Ok(_) => Ok(()),
        Err(e) if is_duplicate_key(&e) => Ok(()),
        Err(e) => Err(classify(e)),
    }
}

pub(super) async fn list(db: &Database, limit: usize) -> Result<Vec<DeadLetter>> {
    let filter = LetterFilter {
        limit: Some(limit),
        ..LetterFilter::default()
    };
    Ok(archived(db, &filter)
        .await?
        .into_iter()
        .map(|a| a.letter)
        .collect())
}

pub(super) async fn archived(db: &Database, filter: &LetterFilter) -> Result<Vec<ArchivedLetter>> {
    let mut out = Vec::new();
    if !filter.ids.is_empty() {
        let ids: Vec<String> = filter.ids.iter().map(Uuid::to_string).collect();
        let found: Vec<LetterDoc> = letters(db)
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(classify)?
            .try_collect()
            .await
            .map_err(classify)?;
        for d in found {
            let a = d.into_archived()?;
            if filter.matches(&a.letter, a.status) {
                out.push(a);
            }
        }
        // Newest failure first; ties in the order the ids were given.
        let position = |a: &ArchivedLetter| filter.ids.iter().position(|id| *id == a.letter.id);
        out.sort_by(|a, b| {
            b.letter
                .last_failed_at
                .cmp(&a.letter.last_failed_at)
                .then_with(|| position(a).cmp(&position(b)))
        });
        if let Some(limit) = filter.limit {
            out.truncate(limit);
        }
        return Ok(out);
    }
    let mut query = Document::new();
    if let Some(status) = filter.status {
        query.insert("status", status.as_str());
    }
    if let Some(source) = filter.source {
        query.insert("source", source.as_str());
    }
    if let Some(team) = &filter.team {
        query.insert("team", team);
    }
    if let Some(stage) = filter.stage {
        query.insert("stage", stage.as_str());
    }
    let mut cursor = letters(db)
        .find(query)
        .sort(doc! { "last_failed_at": -1, "_id": -1 })
        .await
        .map_err(classify)?;
    // The rest of the filter is applied here, on the whole letter; the
    // cursor is dropped (and killed) once the limit is reached.
    while let Some(d) = cursor.try_next().await.map_err(classify)? {
        let a = d.into_archived()?;
        if !filter.matches(&a.letter, a.status) {
            continue;
        }
        if filter.limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        out.push(a);
    }
    Ok(out)
}

pub(super) async fn discard(
    db: &Database,
    ids: &[Uuid],
    actor: &str,
    reason: &str,
) -> Result<usize> {
    // One update of every named letter still `dead`: each document changes
    // atomically, so a letter claimed meanwhile is left to its replay.
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let changed = letters(db)
        .update_many(
            doc! { "_id": { "$in": ids }, "status": LetterStatus::Dead.as_str() },
            doc! {
                "$set": { "status": LetterStatus::Discarded.as_str() },
                "$push": { "audit": entry(actor, "discarded", reason) },
            },
        )
        .await
        .map_err(classify)?;
    Ok(usize::try_from(changed.modified_count).unwrap_or(usize::MAX))
}

#[async_trait]
impl crate::LetterArchive for MongoWarehouse {
    async fn store_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        store(&self.db, letter).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        list(&self.db, limit).await
    }

    async fn archived_letters(&self, filter: &LetterFilter) -> Result<Vec<ArchivedLetter>> {
        archived(&self.db, filter).await
    }

    async fn claim_letters(
        &self,
        ids: &[Uuid],
        actor: &str,
        stale_after: Duration,
    ) -> Result<Vec<ClaimOutcome>> {
        replays::claim(&self.db, ids, actor, stale_after).await
    }

    async fn finish_replays(&self, replayed: &[(Uuid, TaskEnvelope)], actor: &str) -> Result<()> {
        replays::finish(self, replayed, actor).await
    }

    async fn abandon_replays(&self, abandoned: &[(Uuid, String)], actor: &str) -> Result<()> {
        replays::abandon(&self.db, abandoned, actor).await
    }

    async fn discard_letters(&self, ids: &[Uuid], actor: &str, reason: &str) -> Result<usize> {
        discard(&self.db, ids, actor, reason).await
    }
}
