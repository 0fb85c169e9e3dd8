//! The workers' events, taken off the events stream and applied to the runs
//! in memory. Nothing here waits on the warehouse or the broker: applying a
//! batch only says what changed ([`Changes`]), and the coordinator records
//! and publishes that afterwards (see the ledger and publish modules), so the
//! rules of what an event may change are all here, testable on their own.
//!
//! Those rules make applying an event again harmless — a batch that could
//! not be recorded comes back whole: an event of a task already final is
//! ignored, and so is an event from before the task was replayed from the
//! dead-letter archive (an older replay generation, delivered late).

use crate::dag::RunDag;
use crate::progress::RunProgress;
use chrono::Utc;
use dorafleet_broker::{Delivery, DeliveryStream};
use dorafleet_core::{TaskEnvelope, TaskEvent, TaskEventKind};
use dorafleet_warehouse::{RunRecord, RunStatus, TaskRecord, TaskState};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use tracing::{info, warn};
use uuid::Uuid;

/// Most events applied together. The events stream's prefetch caps it too:
/// no more than that many are ever delivered unacked.
pub(super) const EVENT_BATCH: usize = 64;

#[derive(Debug)]
pub(super) struct ActiveRun {
    pub(super) record: RunRecord,
    pub(super) dag: RunDag,
    pub(super) tasks: HashMap<Uuid, TaskRecord>,
    pub(super) retries: u64,
    pub(super) pages: u64,
    pub(super) records: u64,
    /// A batch changed it in memory and could not be recorded: reload it
    /// from the warehouse before using it again.
    pub(super) stale: bool,
}

impl ActiveRun {
    pub(super) fn insert_tasks(&mut self, records: impl IntoIterator<Item = TaskRecord>) {
        for r in records {
            self.tasks.insert(r.envelope.task_id, r);
        }
    }

    pub(super) fn progress(&self) -> RunProgress {
        let count = |state| self.tasks.values().filter(|t| t.state == state).count();
        RunProgress {
            total: self.tasks.len(),
            done: count(TaskState::Done),
            dead: count(TaskState::Dead),
            retries: self.retries,
            pages: self.pages,
            records: self.records,
        }
    }
}

/// What applying a batch's events changed in memory, to be recorded.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Tasks with a new state, as (run, task).
    pub(super) updated: BTreeSet<(Uuid, Uuid)>,
    /// Tasks the DAG released, pending and not yet published, as (run, task).
    pub(super) released: Vec<(Uuid, Uuid)>,
    /// Runs a replayed task reopened.
    pub(super) reopened: BTreeSet<Uuid>,
}

impl Changes {
    pub(super) fn changed(&self, run_id: Uuid) -> bool {
        self.updated.iter().any(|(run, _)| *run == run_id)
    }
}

/// Apply one event to its run in memory: the task's new state, and the
/// tasks the DAG releases because of it (pending, unpublished).
pub(super) fn apply_to(event: &TaskEvent, run: &mut ActiveRun, changes: &mut Changes) {
    let run_id = run.record.run_id;
    // Final tasks and events from before a replay (an older generation,
    // delivered late) change nothing.
    if run
        .tasks
        .get(&event.task_id)
        .is_none_or(|t| t.state.is_final() || event.replay < t.envelope.replay)
    {
        return;
    }
    if run.record.status != RunStatus::Running {
        info!(%run_id, "a replayed task reopened the run");
        run.record.status = RunStatus::Running;
        run.record.updated_at = Utc::now();
        changes.reopened.insert(run_id);
    }
    let state = match event.kind {
        TaskEventKind::Done => TaskState::Done,
        TaskEventKind::Dead { .. } => TaskState::Dead,
        TaskEventKind::Retrying { .. } => {
            run.retries += 1;
            TaskState::Retrying
        }
    };
    if event.stage == dorafleet_core::Stage::Extract {
        run.pages += event.stats.pages;
        run.records += event.stats.records;
    }
    if let Some(record) = run.tasks.get_mut(&event.task_id) {
        record.state = state;
        record.worker = Some(event.worker.clone());
        record.attempts = event.attempt;
        record.updated_at = Utc::now();
    }
    changes.updated.insert((run_id, event.task_id));
    for task in run.dag.on_event(event) {
        changes.released.push((run_id, task.task_id));
        run.insert_tasks([pending(task)]);
    }
}

/// `first` and the deliveries already waiting behind it, up to
/// [`EVENT_BATCH`] in all, without waiting for more.
pub(super) async fn take_delivered(
    first: Delivery,
    events: &mut Box<dyn DeliveryStream>,
) -> Vec<Delivery> {
    let mut batch = vec![first];
    while batch.len() < EVENT_BATCH {
        match tokio::time::timeout(Duration::ZERO, events.next()).await {
            Ok(Some(delivery)) => batch.push(delivery),
            Ok(None) | Err(_) => break,
        }
    }
    batch
}

/// The events of the readable deliveries, with those deliveries; an
/// unreadable one is acked and dropped.
pub(super) async fn decode_events(deliveries: Vec<Delivery>) -> (Vec<TaskEvent>, Vec<Delivery>) {
    let mut events = Vec::with_capacity(deliveries.len());
    let mut readable = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        match serde_json::from_slice::<TaskEvent>(&delivery.body) {
            Ok(event) => {
                events.push(event);
                readable.push(delivery);
            }
            Err(e) => {
                warn!(error = %e, "dropping an unreadable task event");
                let _ = delivery.ack().await;
            }
        }
    }
    (events, readable)
}

/// The record of a task just planned or released: pending, not yet published.
pub(super) fn pending(envelope: TaskEnvelope) -> TaskRecord {
    TaskRecord {
        envelope,
        state: TaskState::Pending,
        published: false,
        worker: None,
        attempts: 0,
        updated_at: Utc::now(),
    }
}
