//! Replaying dead letters: each letter is claimed (atomically, so two
//! concurrent replays never both republish it), its task republished to its
//! stage with a fresh attempt budget and publisher confirms, and only then
//! marked replayed — with the task's record and run reopened, so the run's
//! gates wait for it again. A replay killed half-way leaves claims that a
//! later replay takes over once they are `stale_after` old; every republish
//! is preceded by an audited claim, so none happens without a record.

use dorafleet_broker::Broker;
use dorafleet_core::TaskEnvelope;
use dorafleet_warehouse::{ArchivedLetter, LetterArchive, WarehouseError};
use std::time::Duration;
use uuid::Uuid;

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
        "could not republish dead letter {id} ({reason}); it is back to `dead`, nothing else changed. {done} letters were replayed before"
    )]
    /// Republishing a letter failed; its claim was given back and the
    /// replay stopped there.
    Publish {
        /// The letter that could not be republished.
        id: Uuid,
        /// The broker's error.
        reason: String,
        /// Letters replayed before it.
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
/// Stops at the first failed publish (the broker is down: the rest would
/// fail too), after giving that letter's claim back.
pub async fn replay(
    warehouse: &dyn LetterArchive,
    broker: &dyn Broker,
    letters: &[ArchivedLetter],
    options: &ReplayOptions,
    mut on_progress: impl FnMut(usize, usize),
) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    for (i, letter) in letters.iter().enumerate() {
        let id = letter.letter.id;
        if let Some(why) = not_replayable(letter) {
            report.skipped.push((id, why));
        } else if let Some(claimed) = warehouse
            .claim_letter(id, &options.actor, options.stale_after)
            .await?
        {
            let Some(task) = replay_envelope(&claimed) else {
                warehouse
                    .abandon_replay(id, &options.actor, "not a task")
                    .await?;
                report.skipped.push((id, "not a task".into()));
                continue;
            };
            if let Err(e) = broker.publish(&task).await {
                warehouse
                    .abandon_replay(id, &options.actor, &format!("republish failed: {e}"))
                    .await?;
                return Err(ReplayError::Publish {
                    id,
                    reason: e.to_string(),
                    done: report.replayed.len(),
                });
            }
            warehouse.finish_replay(id, &options.actor, &task).await?;
            report.replayed.push(id);
        } else {
            report
                .skipped
                .push((id, "claimed by another replay, or no longer dead".into()));
        }
        on_progress(i + 1, letters.len());
    }
    Ok(report)
}
