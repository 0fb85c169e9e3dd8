//! Rebuilding runs from the run ledger. The coordinator's state lives in the
//! warehouse, not in memory, so a coordinator killed mid-run and started
//! again rebuilds each unfinished run from its records (its DAG restored from
//! its tasks), publishes what was recorded but never published, and never
//! republishes finished work. A run is also reloaded when a batch that
//! touched it could not be recorded, or when a dead-letter replay may have
//! reopened it behind this coordinator's back.

use super::events::ActiveRun;
use super::{Coordinator, CoordinatorError, RunOutcome};
use crate::dag::RunDag;
use dorafleet_core::TaskEvent;
use dorafleet_warehouse::{RunRecord, RunStatus, TaskRecord};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use tracing::info;
use uuid::Uuid;

impl Coordinator {
    /// Rebuild every unfinished run from its records and publish what was
    /// recorded but never published.
    pub(super) async fn resume(
        &self,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) -> Result<HashMap<Uuid, ActiveRun>, CoordinatorError> {
        let mut active = HashMap::new();
        for record in self.warehouse.runs(1000).await? {
            if record.status != RunStatus::Running {
                continue;
            }
            let mut run = self.restore_run(record).await?;
            info!(run_id = %run.record.run_id, tasks = run.tasks.len(), "resumed run");
            if !self.finish_if_done(&mut run, on_run_end).await? {
                active.insert(run.record.run_id, run);
            }
        }
        Ok(active)
    }

    /// Load a run from its records and publish its tasks that were recorded
    /// but never published (a coordinator stopped, or a batch failed, between
    /// recording and publishing them).
    async fn restore_run(&self, record: RunRecord) -> Result<ActiveRun, CoordinatorError> {
        let mut run = self.load_run(record).await?;
        let mut unpublished: Vec<TaskRecord> = run
            .tasks
            .values()
            .filter(|t| !t.published)
            .cloned()
            .collect();
        if !unpublished.is_empty() {
            // Only while this coordinator still holds the lease (an empty,
            // fenced write): a coordinator that lost it publishes nothing.
            self.save_tasks(&[]).await?;
            info!(run_id = %run.record.run_id, unpublished = unpublished.len(), "publishing recorded tasks");
            let trace = run.record.traceparent.clone();
            self.publish_recorded(&mut unpublished, &|_| trace.clone())
                .await?;
            run.insert_tasks(unpublished);
        }
        Ok(run)
    }

    pub(super) async fn load_run(&self, record: RunRecord) -> Result<ActiveRun, CoordinatorError> {
        let tasks = self.warehouse.run_tasks(record.run_id).await?;
        Ok(ActiveRun {
            dag: RunDag::restore(&tasks, self.config.sync.earliest_instant()),
            retries: tasks
                .iter()
                .map(|t| u64::from(t.attempts.saturating_sub(1)))
                .sum(),
            tasks: tasks.into_iter().map(|t| (t.envelope.task_id, t)).collect(),
            record,
            pages: 0,
            records: 0,
            stale: false,
        })
    }

    /// Have in memory, as recorded, every run the events belong to that is
    /// not finished, and return their ids. Before anything of the batch is
    /// applied, a run is reloaded if it is stale or an event's task is final
    /// in memory: a dead-letter replay may have reopened it since.
    pub(super) async fn prepare_runs(
        &self,
        events: &[TaskEvent],
        active: &mut HashMap<Uuid, ActiveRun>,
    ) -> Result<Vec<Uuid>, CoordinatorError> {
        let mut runs = Vec::new();
        let mut loaded = HashSet::new();
        let mut ignored = HashSet::new();
        for event in events {
            let run_id = event.run_id;
            if ignored.contains(&run_id) {
                continue;
            }
            if let Entry::Vacant(slot) = active.entry(run_id) {
                let Some(run) = self.unfinished_run(run_id).await? else {
                    ignored.insert(run_id);
                    continue;
                };
                slot.insert(run);
                loaded.insert(run_id);
            }
            let Some(run) = active.get_mut(&run_id) else {
                continue;
            };
            let final_in_memory = run
                .tasks
                .get(&event.task_id)
                .is_some_and(|t| t.state.is_final());
            if (run.stale || final_in_memory) && loaded.insert(run_id) {
                let reloaded = self.restore_run(run.record.clone()).await?;
                *run = ActiveRun {
                    pages: run.pages,
                    records: run.records,
                    ..reloaded
                };
            }
            if !runs.contains(&run_id) {
                runs.push(run_id);
            }
        }
        Ok(runs)
    }

    /// A run this coordinator does not follow, if it is unfinished: the
    /// event of a replayed dead letter reopens a finished (blocked) run. An
    /// unknown or completed run has nothing left to do.
    async fn unfinished_run(&self, run_id: Uuid) -> Result<Option<ActiveRun>, CoordinatorError> {
        match self.warehouse.run(run_id).await? {
            Some(record) if record.status != RunStatus::Completed => {
                Ok(Some(self.restore_run(record).await?))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::events::pending;
    use crate::fleet::fixtures::{Fleet, ended, event, extract, run_of};
    use dorafleet_broker::task_queue;
    use dorafleet_core::{Config, Stage, TaskEventKind};
    use dorafleet_warehouse::RunLedger;
    use dorafleet_warehouse::TaskState;

    #[tokio::test]
    async fn resuming_publishes_recorded_tasks_never_published_and_closes_ended_runs() {
        let fleet = Fleet::new(Config::default());
        let open_id = Uuid::now_v7();
        let (a, b) = (extract(open_id, "t", "a"), extract(open_id, "t", "b"));
        let mut open = run_of(&[a.clone(), b.clone()]);
        open.tasks.get_mut(&b.task_id).unwrap().published = false;
        fleet.store(&open).await;
        let ended_id = Uuid::now_v7();
        fleet
            .store(&ended(
                run_of(&[extract(ended_id, "u", "c")]),
                TaskState::Done,
            ))
            .await;

        let mut outcomes = Vec::new();
        let active = fleet
            .coordinator
            .resume(&mut |o: &RunOutcome| outcomes.push(o.run.run_id))
            .await
            .unwrap();

        assert_eq!(active.keys().copied().collect::<Vec<_>>(), vec![open_id]);
        assert!(active[&open_id].tasks[&b.task_id].published);
        let stored = fleet.warehouse.run_tasks(open_id).await.unwrap();
        assert!(stored.iter().all(|t| t.published));
        assert_eq!(
            fleet.broker.depth(&task_queue(&b)),
            1,
            "only the unpublished task is published"
        );
        assert_eq!(outcomes, vec![ended_id]);
        assert_eq!(fleet.stored_status(ended_id).await, RunStatus::Completed);
    }

    #[tokio::test]
    async fn only_unfinished_runs_are_loaded_for_their_events() {
        let fleet = Fleet::new(Config::default());
        let (blocked_id, completed_id) = (Uuid::now_v7(), Uuid::now_v7());
        let blocked_task = extract(blocked_id, "t", "a");
        let mut blocked = run_of(std::slice::from_ref(&blocked_task));
        blocked.record.status = RunStatus::Blocked;
        fleet.store(&blocked).await;
        let completed_task = extract(completed_id, "t", "a");
        let mut completed = run_of(std::slice::from_ref(&completed_task));
        completed.record.status = RunStatus::Completed;
        fleet.store(&completed).await;
        let unknown_task = extract(Uuid::now_v7(), "t", "a");
        let events = [
            event(&unknown_task, TaskEventKind::Done),
            event(&completed_task, TaskEventKind::Done),
            event(&blocked_task, TaskEventKind::Done),
            event(&blocked_task, TaskEventKind::Done),
        ];

        let mut active = HashMap::new();
        let runs = fleet
            .coordinator
            .prepare_runs(&events, &mut active)
            .await
            .unwrap();

        assert_eq!(runs, vec![blocked_id]);
        assert_eq!(active.keys().copied().collect::<Vec<_>>(), vec![blocked_id]);
        assert_eq!(active[&blocked_id].record.status, RunStatus::Blocked);
    }

    #[tokio::test]
    async fn a_run_final_in_memory_is_reloaded_so_a_replayed_task_reopens_it() {
        let fleet = Fleet::new(Config::default());
        let run_id = Uuid::now_v7();
        let a = extract(run_id, "t", "a");
        let mut run = ended(run_of(std::slice::from_ref(&a)), TaskState::Dead);
        run.record.status = RunStatus::Blocked;
        run.pages = 9;
        fleet.store(&run).await;
        // The dead letter is replayed: a new generation of the task, recorded
        // and published while this coordinator still holds the dead one.
        let mut replayed = a.clone();
        replayed.replay = 1;
        let record = TaskRecord {
            published: true,
            ..pending(replayed.clone())
        };
        fleet.warehouse.save_tasks(&[record]).await.unwrap();
        let mut active = HashMap::from([(run_id, run)]);
        let events = [event(&replayed, TaskEventKind::Done)];

        let runs = fleet
            .coordinator
            .prepare_runs(&events, &mut active)
            .await
            .unwrap();

        assert_eq!(runs, vec![run_id]);
        let reloaded = &active[&run_id];
        assert_eq!(reloaded.tasks[&a.task_id].envelope.replay, 1);
        assert_eq!(reloaded.tasks[&a.task_id].state, TaskState::Pending);
        assert_eq!(reloaded.pages, 9, "its counters survive the reload");

        let mut outcomes = Vec::new();
        fleet
            .coordinator
            .apply(&events, &mut active, &mut |o: &RunOutcome| {
                outcomes.push(o.run.status)
            })
            .await
            .unwrap();

        assert_eq!(fleet.stored_status(run_id).await, RunStatus::Running);
        let run = &active[&run_id];
        assert_eq!(run.record.status, RunStatus::Running);
        assert_eq!(run.tasks[&a.task_id].state, TaskState::Done);
        let normalize: Vec<&TaskRecord> = run
            .tasks
            .values()
            .filter(|t| t.envelope.stage == Stage::Normalize)
            .collect();
        assert_eq!(normalize.len(), 1, "its normalize is released");
        assert!(normalize[0].published);
        assert!(outcomes.is_empty(), "and the run goes on until it is done");
    }
}
