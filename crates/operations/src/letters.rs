//! Dead-letter triage: find letters, see what a replay or a discard would
//! do (a plan, shown before anything changes), then do it — claimed,
//! confirmed and audited by the coordinator's replay rules.
//!
//! The rules a front end must not bend: a bulk action selects by ids or a
//! filter, never everything; an unknown id stops the action before any
//! change; replayed and discarded letters are left alone; a letter that is
//! not a task is never replayed.

use crate::OperationError;
use crate::execution::{Dispatch, Execution};
use dorafleet_coordinator::replay::{
    ReplayOptions, ReplayReport, not_replayable, replay as replay_letters, replay_envelope,
};
use dorafleet_core::Config;
use dorafleet_standalone::RunSummary;
use dorafleet_warehouse::{
    ArchivedLetter, LetterFilter, LetterStatus, RunRecord, TaskRecord, Warehouse,
};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Letters `filter` selects, newest first.
pub async fn list(
    warehouse: &dyn Warehouse,
    filter: &LetterFilter,
) -> Result<Vec<ArchivedLetter>, OperationError> {
    Ok(warehouse.archived_letters(filter).await?)
}

/// One letter in full.
pub async fn find(warehouse: &dyn Warehouse, id: Uuid) -> Result<ArchivedLetter, OperationError> {
    let filter = LetterFilter {
        ids: vec![id],
        ..LetterFilter::default()
    };
    warehouse
        .archived_letters(&filter)
        .await?
        .into_iter()
        .next()
        .ok_or(OperationError::NoSuchLetter(id))
}

/// Every letter, and the most recent runs with their tasks (for rates).
#[derive(Debug, Clone)]
pub struct LetterStats {
    /// Every archived letter, whatever its status.
    pub letters: Vec<ArchivedLetter>,
    /// The most recent runs, newest first, each with all its tasks.
    pub recent_runs: Vec<(RunRecord, Vec<TaskRecord>)>,
}

/// Every letter, and the `runs` most recent runs with their tasks.
pub async fn stats(warehouse: &dyn Warehouse, runs: usize) -> Result<LetterStats, OperationError> {
    let letters = warehouse.archived_letters(&LetterFilter::default()).await?;
    let mut recent_runs = Vec::new();
    for run in warehouse.runs(runs).await? {
        let tasks = warehouse.run_tasks(run.run_id).await?;
        recent_runs.push((run, tasks));
    }
    Ok(LetterStats {
        letters,
        recent_runs,
    })
}

/// The letters a bulk action selects. Ids that name no letter are an error
/// before anything changes.
pub async fn select(
    warehouse: &dyn Warehouse,
    filter: &LetterFilter,
) -> Result<Vec<ArchivedLetter>, OperationError> {
    let letters = warehouse.archived_letters(filter).await?;
    let unknown: Vec<Uuid> = filter
        .ids
        .iter()
        .filter(|id| !letters.iter().any(|a| a.letter.id == **id))
        .copied()
        .collect();
    if !unknown.is_empty() {
        return Err(OperationError::UnknownLetters(unknown));
    }
    Ok(letters)
}

/// One letter a replay will republish, and where to.
#[derive(Debug, Clone)]
pub struct PlannedReplay {
    /// The letter to republish.
    pub letter: ArchivedLetter,
    /// `extract.github` and so on.
    pub route: String,
    /// The task's scope, `team` or `team/target`.
    pub scope: String,
    /// The stage queue the task goes back to.
    pub queue: String,
    /// The fresh attempt budget.
    pub max_attempts: u32,
}

/// What a replay of a selection will do, before it does it.
#[derive(Debug, Clone, Default)]
pub struct ReplayPlan {
    /// The letters that will be republished.
    pub replay: Vec<PlannedReplay>,
    /// Dead (or stale-claimed) letters that cannot be replayed, and why.
    pub skipped: Vec<(Uuid, String)>,
    /// Selected letters already replayed or discarded: left alone.
    pub already_done: usize,
}

/// Dead letters, and claims left by a replay that died, are replayable;
/// replayed and discarded ones are left alone.
pub fn plan_replay(selected: Vec<ArchivedLetter>) -> ReplayPlan {
    let mut plan = ReplayPlan::default();
    for a in selected {
        if !matches!(a.status, LetterStatus::Dead | LetterStatus::Replaying) {
            plan.already_done += 1;
            continue;
        }
        match (not_replayable(&a), replay_envelope(&a)) {
            (None, Some(task)) => plan.replay.push(PlannedReplay {
                route: task.route(),
                scope: task.scope.to_string(),
                queue: dorafleet_broker::task_queue(&task),
                max_attempts: task.max_attempts,
                letter: a,
            }),
            (why, _) => plan
                .skipped
                .push((a.letter.id, why.unwrap_or_else(|| "not a task".into()))),
        }
    }
    plan
}

/// What a replay did: per letter, and the in-process runs it finished.
#[derive(Debug, Clone, Default)]
pub struct ReplayOutcome {
    /// The letters replayed and those left alone, with why.
    pub report: ReplayReport,
    /// The runs finished in this process (empty on the fleet).
    pub runs: Vec<RunSummary>,
}

/// Replay the planned letters (claim, republish with confirms, mark
/// replayed, reopen their runs), a batch at a time;
/// `on_progress(done, total)` after each batch.
pub async fn replay(
    config: &Config,
    warehouse: Arc<dyn Warehouse>,
    plan: &ReplayPlan,
    execution: &Execution,
    actor: &str,
    stale_after: Duration,
    on_progress: impl FnMut(usize, usize),
) -> Result<ReplayOutcome, OperationError> {
    let letters: Vec<ArchivedLetter> = plan.replay.iter().map(|p| p.letter.clone()).collect();
    let options = ReplayOptions {
        actor: actor.to_owned(),
        stale_after,
    };
    let dispatch = Dispatch::open(config, execution).await?;
    let report = replay_letters(
        warehouse.as_ref(),
        dispatch.broker.as_ref(),
        &letters,
        &options,
        on_progress,
    )
    .await?;
    let runs = dispatch
        .finish(config, warehouse, !report.replayed.is_empty())
        .await?;
    Ok(ReplayOutcome { report, runs })
}

/// What a discard of a selection will do.
#[derive(Debug, Clone, Default)]
pub struct DiscardPlan {
    /// The dead letters that will be marked discarded.
    pub discard: Vec<ArchivedLetter>,
    /// Letters not `dead`, left alone with their status.
    pub skipped: Vec<(Uuid, LetterStatus)>,
}

/// Only dead letters are discarded.
pub fn plan_discard(selected: Vec<ArchivedLetter>) -> DiscardPlan {
    let mut plan = DiscardPlan::default();
    for a in selected {
        if a.status == LetterStatus::Dead {
            plan.discard.push(a);
        } else {
            plan.skipped.push((a.letter.id, a.status));
        }
    }
    plan
}

/// Letters discarded in one warehouse write.
const DISCARD_BATCH: usize = 500;

/// Mark the planned letters discarded (kept, audited), a batch per write;
/// returns how many were (a letter claimed meanwhile by a replay is not).
pub async fn discard(
    warehouse: &dyn Warehouse,
    plan: &DiscardPlan,
    actor: &str,
    reason: &str,
) -> Result<usize, OperationError> {
    if reason.trim().is_empty() {
        return Err(OperationError::NoReason("why are the letters discarded?"));
    }
    let mut discarded = 0;
    for letters in plan.discard.chunks(DISCARD_BATCH) {
        let ids: Vec<Uuid> = letters.iter().map(|a| a.letter.id).collect();
        discarded += warehouse.discard_letters(&ids, actor, reason).await?;
    }
    Ok(discarded)
}
