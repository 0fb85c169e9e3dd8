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
/// no more than that many are ever delivered unacked. Each batch costs two
/// warehouse commits and one round of publish confirms whatever its size,
/// and the coordinator applies one batch at a time: with 64, a fleet of two
/// workers running short tasks left events piling up in the queue.
pub(super) const EVENT_BATCH: usize = 512;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fixtures::{dead, event, extract, retrying, run_of};
    use async_trait::async_trait;
    use dorafleet_broker::{Acker, Broker, EVENTS_QUEUE, InProcessBroker};
    use dorafleet_core::{Stage, TaskStats};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Applies `events` in order to `run`, in one batch.
    fn apply_all(run: &mut ActiveRun, events: &[TaskEvent]) -> Changes {
        let mut changes = Changes::default();
        for e in events {
            apply_to(e, run, &mut changes);
        }
        changes
    }

    #[test]
    fn a_done_extract_is_done_and_releases_its_normalize_task() {
        let run_id = Uuid::now_v7();
        let a = extract(run_id, "t", "a");
        let mut run = run_of(std::slice::from_ref(&a));
        let mut done = event(&a, TaskEventKind::Done);
        done.worker = "w1".into();
        done.stats.pages = 3;
        done.stats.records = 70;

        let changes = apply_all(&mut run, &[done]);

        let task = &run.tasks[&a.task_id];
        assert_eq!(task.state, TaskState::Done);
        assert_eq!(task.worker.as_deref(), Some("w1"));
        assert_eq!(task.attempts, 1);
        assert_eq!(changes.updated, BTreeSet::from([(run_id, a.task_id)]));
        assert!(changes.changed(run_id));
        assert!(!changes.changed(Uuid::now_v7()), "only its own run changed");
        let [(released_run, released)] = changes.released[..] else {
            panic!("one task released, got {:?}", changes.released);
        };
        assert_eq!(released_run, run_id);
        let normalize = &run.tasks[&released];
        assert_eq!(normalize.envelope.stage, Stage::Normalize);
        assert_eq!(normalize.envelope.scope, a.scope);
        assert_eq!(normalize.state, TaskState::Pending);
        assert!(!normalize.published, "released tasks are published later");
        assert_eq!((run.pages, run.records), (3, 70));
        assert!(changes.reopened.is_empty());
    }

    #[test]
    fn a_retrying_event_counts_a_retry_and_releases_nothing() {
        let a = extract(Uuid::now_v7(), "t", "a");
        let mut run = run_of(std::slice::from_ref(&a));

        let changes = apply_all(&mut run, &[event(&a, retrying())]);

        assert_eq!(run.tasks[&a.task_id].state, TaskState::Retrying);
        assert_eq!(run.retries, 1);
        assert_eq!(changes.updated.len(), 1);
        assert!(changes.released.is_empty());
        let progress = run.progress();
        assert_eq!((progress.done, progress.dead, progress.retries), (0, 0, 1));
    }

    #[test]
    fn a_retried_task_can_still_finish() {
        let a = extract(Uuid::now_v7(), "t", "a");
        let mut run = run_of(std::slice::from_ref(&a));
        let mut second = a.clone();
        second.attempt = 2;

        apply_all(
            &mut run,
            &[event(&a, retrying()), event(&second, TaskEventKind::Done)],
        );

        let task = &run.tasks[&a.task_id];
        assert_eq!(task.state, TaskState::Done);
        assert_eq!(task.attempts, 2);
        assert_eq!(run.retries, 1);
    }

    #[test]
    fn a_dead_event_makes_the_task_dead_and_blocks_its_team() {
        let run_id = Uuid::now_v7();
        let (a, other) = (extract(run_id, "t", "a"), extract(run_id, "u", "b"));
        let mut run = run_of(&[a.clone(), other]);

        let changes = apply_all(&mut run, &[event(&a, dead())]);

        assert_eq!(run.tasks[&a.task_id].state, TaskState::Dead);
        assert!(
            changes.released.is_empty(),
            "nothing follows a dead extract"
        );
        assert_eq!(run.dag.blocked_teams(), BTreeSet::from(["t".to_owned()]));
        let progress = run.progress();
        assert_eq!((progress.total, progress.done, progress.dead), (2, 0, 1));
    }

    #[test]
    fn an_event_for_a_finished_task_changes_nothing() {
        let a = extract(Uuid::now_v7(), "t", "a");
        let mut run = run_of(std::slice::from_ref(&a));
        let mut done = event(&a, TaskEventKind::Done);
        done.stats.pages = 2;
        apply_all(&mut run, std::slice::from_ref(&done));
        let tasks_after_first = run.tasks.len();

        let again = apply_all(&mut run, &[done, event(&a, dead()), event(&a, retrying())]);

        assert!(again.updated.is_empty());
        assert!(again.released.is_empty(), "the normalize is released once");
        assert_eq!(run.tasks[&a.task_id].state, TaskState::Done);
        assert_eq!(run.tasks.len(), tasks_after_first);
        assert_eq!((run.pages, run.retries), (2, 0), "nothing counted twice");
    }

    #[test]
    fn an_event_from_before_a_replay_does_not_undo_the_replayed_task() {
        let a = extract(Uuid::now_v7(), "t", "a");
        let mut run = run_of(std::slice::from_ref(&a));
        let mut replayed = a.clone();
        replayed.replay = 1;
        run.tasks.get_mut(&a.task_id).unwrap().envelope = replayed.clone();

        let late = apply_all(&mut run, &[event(&a, dead()), event(&a, retrying())]);

        assert!(late.updated.is_empty());
        assert_eq!(run.tasks[&a.task_id].state, TaskState::Pending);
        assert_eq!(run.retries, 0);
        assert!(run.dag.blocked_teams().is_empty());

        let current = apply_all(&mut run, &[event(&replayed, TaskEventKind::Done)]);

        assert_eq!(
            current.updated.len(),
            1,
            "the replayed generation's event counts"
        );
        assert_eq!(run.tasks[&a.task_id].state, TaskState::Done);
    }

    #[test]
    fn a_replayed_task_reopens_its_finished_run() {
        let run_id = Uuid::now_v7();
        let a = extract(run_id, "t", "a");
        let mut run = run_of(std::slice::from_ref(&a));
        run.record.status = RunStatus::Blocked;
        let before = run.record.updated_at;

        let changes = apply_all(&mut run, &[event(&a, TaskEventKind::Done)]);

        assert_eq!(run.record.status, RunStatus::Running);
        assert!(run.record.updated_at >= before);
        assert_eq!(changes.reopened, BTreeSet::from([run_id]));
    }

    #[test]
    fn an_event_ignored_by_a_finished_run_leaves_it_finished() {
        let a = extract(Uuid::now_v7(), "t", "a");
        let mut run = run_of(std::slice::from_ref(&a));
        run.tasks.get_mut(&a.task_id).unwrap().state = TaskState::Dead;
        run.record.status = RunStatus::Blocked;

        let changes = apply_all(&mut run, &[event(&a, TaskEventKind::Done)]);

        assert_eq!(run.record.status, RunStatus::Blocked);
        assert!(changes.reopened.is_empty());
    }

    #[test]
    fn an_event_of_a_task_the_run_does_not_have_changes_nothing() {
        let run_id = Uuid::now_v7();
        let a = extract(run_id, "t", "a");
        let stranger = extract(run_id, "t", "z");
        let mut run = run_of(std::slice::from_ref(&a));

        let changes = apply_all(&mut run, &[event(&stranger, TaskEventKind::Done)]);

        assert!(changes.updated.is_empty() && changes.released.is_empty());
        assert_eq!(run.tasks.len(), 1);
        assert_eq!(run.tasks[&a.task_id].state, TaskState::Pending);
    }

    #[test]
    fn the_last_normalize_of_a_team_releases_its_aggregate_once() {
        let run_id = Uuid::now_v7();
        let (a, b) = (extract(run_id, "t", "a"), extract(run_id, "t", "b"));
        let mut run = run_of(&[a.clone(), b.clone()]);
        let extracted = apply_all(
            &mut run,
            &[
                event(&a, TaskEventKind::Done),
                event(&b, TaskEventKind::Done),
            ],
        );
        let normalizes: Vec<TaskEnvelope> = extracted
            .released
            .iter()
            .map(|(_, id)| run.tasks[id].envelope.clone())
            .collect();
        assert_eq!(normalizes.len(), 2);

        let first = apply_all(&mut run, &[event(&normalizes[0], TaskEventKind::Done)]);
        assert!(
            first.released.is_empty(),
            "one scope is still not normalized"
        );

        let last = apply_all(
            &mut run,
            &[
                event(&normalizes[1], TaskEventKind::Done),
                event(&normalizes[1], TaskEventKind::Done),
            ],
        );
        let [(_, aggregate)] = last.released[..] else {
            panic!("one aggregate released, got {:?}", last.released);
        };
        let aggregate = &run.tasks[&aggregate].envelope;
        assert_eq!(aggregate.stage, Stage::Aggregate);
        assert_eq!(aggregate.scope.team, "t");
        assert_eq!(aggregate.scope.target, None);
        assert_eq!(run.progress().total, 5);
    }

    #[test]
    fn only_extract_events_count_pages_and_records() {
        let run_id = Uuid::now_v7();
        let a = extract(run_id, "t", "a");
        let mut run = run_of(std::slice::from_ref(&a));
        let stats = TaskStats {
            pages: 4,
            records: 40,
            ..TaskStats::default()
        };
        let mut done = event(&a, TaskEventKind::Done);
        done.stats = stats.clone();
        let extracted = apply_all(&mut run, &[done]);
        let normalize = run.tasks[&extracted.released[0].1].envelope.clone();
        let mut normalized = event(&normalize, TaskEventKind::Done);
        normalized.stats = stats;

        apply_all(&mut run, &[normalized]);

        assert_eq!(run.tasks[&normalize.task_id].state, TaskState::Done);
        assert_eq!((run.pages, run.records), (4, 40));
        assert_eq!((run.progress().pages, run.progress().records), (4, 40));
    }

    #[test]
    fn a_pending_record_is_unpublished_and_unattempted() {
        let a = extract(Uuid::now_v7(), "t", "a");
        let record = pending(a.clone());
        assert_eq!(record.envelope, a);
        assert_eq!(record.state, TaskState::Pending);
        assert!(!record.published);
        assert_eq!((record.worker, record.attempts), (None, 0));
    }

    /// Counts the acks of its deliveries.
    #[derive(Debug)]
    struct Counting(Arc<AtomicUsize>);

    #[async_trait]
    impl Acker for Counting {
        async fn ack(&self) -> dorafleet_broker::Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn requeue(&self) -> dorafleet_broker::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_unreadable_delivery_is_acked_and_dropped_and_readable_ones_kept_unacked() {
        let acks = Arc::new(AtomicUsize::new(0));
        let delivery = |body: Vec<u8>| Delivery::new(body, false, Box::new(Counting(acks.clone())));
        let a = extract(Uuid::now_v7(), "t", "a");
        let done = event(&a, TaskEventKind::Done);
        let body = serde_json::to_vec(&done).unwrap();

        let (events, readable) = decode_events(vec![
            delivery(body.clone()),
            delivery(b"not json".to_vec()),
            delivery(body),
        ])
        .await;

        assert_eq!(events, vec![done.clone(), done]);
        assert_eq!(readable.len(), 2);
        assert_eq!(acks.load(Ordering::SeqCst), 1, "only the unreadable one");
    }

    #[tokio::test]
    async fn a_batch_takes_the_waiting_deliveries_up_to_its_size_and_no_more() {
        let broker = InProcessBroker::new();
        let a = extract(Uuid::now_v7(), "t", "a");
        for _ in 0..EVENT_BATCH + 6 {
            broker
                .publish_event(&event(&a, TaskEventKind::Done))
                .await
                .unwrap();
        }
        let mut stream = broker.consume_events().await.unwrap();

        let first = stream.next().await.unwrap();
        let batch = take_delivered(first, &mut stream).await;
        assert_eq!(batch.len(), EVENT_BATCH);
        assert_eq!(broker.depth(EVENTS_QUEUE), 6);

        let first = stream.next().await.unwrap();
        let rest = take_delivered(first, &mut stream).await;
        assert_eq!(rest.len(), 6, "no waiting for more than is delivered");
        assert_eq!(broker.depth(EVENTS_QUEUE), 0);
    }
}
