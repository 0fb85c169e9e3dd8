//! Replaying dead letters: each letter is claimed (atomically, so two
//! concurrent replays never both republish it), its task republished to its
//! stage with a fresh attempt budget and publisher confirms, and only then
//! marked replayed — with the task's record and run reopened, so the run's
//! gates wait for it again. A replay killed half-way leaves claims that a
//! later replay takes over once they are `stale_after` old; every republish
//! is preceded by an audited claim, so none happens without a record.
//!
//! Letters go in batches of [`REPLAY_BATCH`], and each step costs one
//! warehouse write or one confirm wait per batch, not per letter: the batch
//! is claimed at once, its tasks are published at once (their confirms
//! awaited together), then the letters whose publish was confirmed are
//! marked replayed at once and those whose publish failed are given back at
//! once. The task a letter replays as is built from the letter as selected:
//! an archived letter never changes (only its status and audit do), so a
//! claim reads nothing back. The per-letter rules above are unchanged.

use dorafleet_broker::Broker;
use dorafleet_core::TaskEnvelope;
use dorafleet_warehouse::{
    ArchivedLetter, ClaimOutcome, LetterArchive, LetterStatus, WarehouseError,
};
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
        LetterStatus::Dead | LetterStatus::Replaying => None,
        other => Some(format!("already {other}")),
    }
}

/// Why a letter the batch asked for was not claimed, from the status it had.
fn not_claimed(status: Option<LetterStatus>) -> String {
    match status {
        Some(LetterStatus::Replaying) => "claimed by another replay".into(),
        Some(status) => format!("already {status}"),
        None => "no such letter".into(),
    }
}

/// Replay `letters` in order; `on_progress(done, total)` after each batch.
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
        let (ids, tasks): (Vec<Uuid>, Vec<TaskEnvelope>) =
            claim_batch(warehouse, batch, options, &mut report)
                .await?
                .into_iter()
                .unzip();
        // Every claimed task in flight at once: one confirm wait per batch.
        let published = broker.publish_all(&tasks).await;
        let mut confirmed = Vec::with_capacity(ids.len());
        let mut failed = Vec::new();
        for ((id, task), outcome) in ids.into_iter().zip(tasks).zip(published) {
            match outcome {
                Ok(()) => confirmed.push((id, task)),
                Err(e) => failed.push((id, e.to_string())),
            }
        }
        if !confirmed.is_empty() {
            warehouse.finish_replays(&confirmed, &options.actor).await?;
            report
                .replayed
                .extend(confirmed.into_iter().map(|(id, _)| id));
        }
        if let Some((id, reason)) = failed.first().cloned() {
            let given_back: Vec<(Uuid, String)> = failed
                .into_iter()
                .map(|(id, e)| (id, format!("republish failed: {e}")))
                .collect();
            warehouse
                .abandon_replays(&given_back, &options.actor)
                .await?;
            return Err(ReplayError::Publish {
                id,
                reason,
                done: report.replayed.len(),
            });
        }
        done += batch.len();
        on_progress(done, letters.len());
    }
    Ok(report)
}

/// Claim the replayable letters of `batch` in one write, with the tasks
/// they replay as, in order; the others are recorded as skipped, unclaimed.
async fn claim_batch(
    warehouse: &dyn LetterArchive,
    batch: &[ArchivedLetter],
    options: &ReplayOptions,
    report: &mut ReplayReport,
) -> Result<Vec<(Uuid, TaskEnvelope)>, ReplayError> {
    let mut wanted = Vec::with_capacity(batch.len());
    for letter in batch {
        let id = letter.letter.id;
        match (not_replayable(letter), replay_envelope(letter)) {
            (None, Some(task)) => wanted.push((id, task)),
            (why, _) => report
                .skipped
                .push((id, why.unwrap_or_else(|| "not a task".into()))),
        }
    }
    if wanted.is_empty() {
        return Ok(wanted);
    }
    let ids: Vec<Uuid> = wanted.iter().map(|(id, _)| *id).collect();
    let outcomes = warehouse
        .claim_letters(&ids, &options.actor, options.stale_after)
        .await?;
    let mut claimed = Vec::with_capacity(wanted.len());
    for ((id, task), outcome) in wanted.into_iter().zip(outcomes) {
        match outcome {
            ClaimOutcome::Claimed => claimed.push((id, task)),
            ClaimOutcome::NotClaimed(status) => report.skipped.push((id, not_claimed(status))),
        }
    }
    Ok(claimed)
}
