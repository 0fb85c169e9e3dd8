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
            dag: RunDag::restore(&tasks),
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
