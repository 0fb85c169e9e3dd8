//! Replaying dead letters: each letter is claimed (atomically, so two
//! concurrent replays never both republish it), its task republished to its
//! stage with a fresh attempt budget and publisher confirms, and only then
//! marked replayed — with the task's record and run reopened, so the run's
//! gates wait for it again. A replay killed half-way leaves claims that a
//! later replay takes over once they are `stale_after` old; every republish
//! is preceded by an audited claim, so none happens without a record.
//!
//! Letters go in batches of [`REPLAY_BATCH`]: the batch is claimed, its
//! tasks are published at once (their confirms awaited together, not one
//! after another), then each letter is marked replayed or, if its publish
//! failed, given back. Waiting for one confirm per letter was most of what a
//! replay cost; the per-letter rules above are unchanged.

use dorafleet_broker::Broker;
use dorafleet_core::TaskEnvelope;
use dorafleet_warehouse::{ArchivedLetter, LetterArchive, WarehouseError};
use std::time::Duration;
use uuid::Uuid;

/// Letters claimed, republished and marked together.
pub const REPLAY_BATCH: usize = 256;

/// Who replays, and when another replay's claim may be taken over.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Recorded in the audit trail (`user@host`).
    pub actor: String,
    /// Claims older than this, left by a replay that died, are taken over.
    pub stale_after: Duration,
}

/// What a replay did with each letter.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    /// Letters republished and marked replayed, in order.
    pub replayed: Vec<Uuid>,
    /// Letters left alone, and why.
    pub skipped: Vec<(Uuid, String)>,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Claiming or recording a letter failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(
        "could not republish dead letter {id} ({reason}); it is back to `dead`, nothing else changed. {done} letters were replayed"
    )]
    /// Republishing a letter failed; its claim (and that of every letter of
    /// its batch whose publish failed too) was given back and the replay
    /// stopped after its batch.
    Publish {
        /// The letter that could not be republished.
        id: Uuid,
        /// The broker's error.
        reason: String,
        /// Letters replayed, its batch included.
        done: usize,
    },
}

/// The task a letter replays as: same identity, attempt 1 of a fresh
/// budget, one replay generation later.
pub fn replay_envelope(letter: &ArchivedLetter) -> Option<TaskEnvelope> {
    let mut task = letter.letter.envelope.clone()?;
    task.attempt = 1;
    task.history.clear();
    task.replay += 1;
    Some(task)
}

/// Why a letter cannot be replayed, if it cannot.
pub fn not_replayable(letter: &ArchivedLetter) -> Option<String> {
    if letter.letter.envelope.is_none() {
        return Some("not a task (an undecodable message): nothing to replay; discard it".into());
    }
    match letter.status {
        dorafleet_warehouse::LetterStatus::Dead | dorafleet_warehouse::LetterStatus::Replaying => {
            None
        }
        other => Some(format!("already {other}")),
    }
}

/// Replay `letters` in order; `on_progress(done, total)` after each one.
/// Stops after the first batch with a failed publish (the broker is down:
/// the rest would fail too), once every letter of that batch is marked
/// replayed or given back.
pub async fn replay(
    warehouse: &dyn LetterArchive,
    broker: &dyn Broker,
    letters: &[ArchivedLetter],
    options: &ReplayOptions,
    mut on_progress: impl FnMut(usize, usize),
) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    let mut done = 0;
    for batch in letters.chunks(REPLAY_BATCH) {
        let claimed = claim_batch(warehouse, batch, options, &mut report).await?;
        // Every claimed task in flight at once: one confirm wait per batch.
        let tasks: Vec<TaskEnvelope> = claimed.iter().map(|(_, task)| task.clone()).collect();
        let published = broker.publish_all(&tasks).await;
        let mut failed = None;
        for ((id, task), outcome) in claimed.iter().zip(published) {
            match outcome {
                Ok(()) => {
                    warehouse.finish_replay(*id, &options.actor, task).await?;
                    report.replayed.push(*id);
                }
                Err(e) => {
                    warehouse
                        .abandon_replay(*id, &options.actor, &format!("republish failed: {e}"))
                        .await?;
                    failed.get_or_insert((*id, e.to_string()));
                }
            }
        }
        if let Some((id, reason)) = failed {
            return Err(ReplayError::Publish {
                id,
                reason,
                done: report.replayed.len(),
            });
        }
        for _ in batch {
            done += 1;
            on_progress(done, letters.len());
        }
    }
    Ok(report)
}

/// Claim the replayable letters of `batch`, in order, with their tasks;
/// the others are recorded as skipped.
async fn claim_batch(
    warehouse: &dyn LetterArchive,
    batch: &[ArchivedLetter],
    options: &ReplayOptions,
    report: &mut ReplayReport,
) -> Result<Vec<(Uuid, TaskEnvelope)>, ReplayError> {
    let mut claimed = Vec::with_capacity(batch.len());
    for letter in batch {
        let id = letter.letter.id;
        if let Some(why) = not_replayable(letter) {
            report.skipped.push((id, why));
            continue;
        }
        let Some(letter) = warehouse
            .claim_letter(id, &options.actor, options.stale_after)
            .await?
        else {
            report
                .skipped
                .push((id, "claimed by another replay, or no longer dead".into()));
            continue;
        };
        match replay_envelope(&letter) {
            Some(task) => claimed.push((id, task)),
            None => {
                warehouse
                    .abandon_replay(id, &options.actor, "not a task")
                    .await?;
                report.skipped.push((id, "not a task".into()));
            }
        }
    }
    Ok(claimed)
}
