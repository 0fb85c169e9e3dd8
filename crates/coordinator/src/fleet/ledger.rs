//! The run ledger's writes: what a batch of events changed, recorded before
//! the batch is acked, and the close of a run once every one of its tasks
//! ended. Every task is recorded before it is published and every event is
//! applied to the records before it is acked, so what is recorded is always
//! enough to go on from (see the resume module).

use super::events::{ActiveRun, Changes};
use super::{Coordinator, CoordinatorError, RunOutcome};
use chrono::Utc;
use dorafleet_warehouse::{HoldFilter, HoldStatus, RunStatus, TaskRecord, TaskState};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tracing::info;
use uuid::Uuid;

impl Coordinator {
    /// Record what a batch changed: reopened runs, then every changed and
    /// released task in one transaction; then publish the released tasks.
    pub(super) async fn persist(
        &self,
        changes: &Changes,
        active: &mut HashMap<Uuid, ActiveRun>,
    ) -> Result<(), CoordinatorError> {
        for run_id in &changes.reopened {
            if let Some(run) = active.get(run_id) {
                self.warehouse.save_run(&run.record).await?;
            }
        }
        let changed = task_records(active, changes.updated.iter().chain(&changes.released));
        if changed.is_empty() {
            return Ok(());
        }
        self.warehouse.save_tasks(&changed).await?;
        let mut released = task_records(active, changes.released.iter());
        let trace = |run_id: Uuid| {
            active
                .get(&run_id)
                .and_then(|r| r.record.traceparent.clone())
        };
        self.publish_recorded(&mut released, &trace).await?;
        for r in released {
            if let Some(run) = active.get_mut(&r.envelope.run_id) {
                run.insert_tasks([r]);
            }
        }
        Ok(())
    }

    /// Close the run if every task ended; returns whether it did.
    pub(super) async fn finish_if_done(
        &self,
        run: &mut ActiveRun,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) -> Result<bool, CoordinatorError> {
        if !run.tasks.values().all(|t| t.state.is_final()) {
            return Ok(false);
        }
        let dead = run
            .tasks
            .values()
            .filter(|t| t.state == TaskState::Dead)
            .count();
        let holds = self
            .warehouse
            .holds(&HoldFilter {
                run_id: Some(run.record.run_id),
                status: Some(HoldStatus::Open),
                ..HoldFilter::default()
            })
            .await?;
        let held_teams: BTreeSet<String> = holds.iter().map(|h| h.team_id.clone()).collect();
        run.record.status = if dead > 0 {
            RunStatus::Blocked
        } else if !held_teams.is_empty() {
            RunStatus::Held
        } else {
            RunStatus::Completed
        };
        run.record.updated_at = Utc::now();
        self.warehouse.save_run(&run.record).await?;
        let mut by_worker = BTreeMap::new();
        for t in run.tasks.values() {
            if let Some(w) = &t.worker {
                *by_worker.entry(w.clone()).or_default() += 1;
            }
        }
        let outcome = RunOutcome {
            run: run.record.clone(),
            tasks: run.tasks.len(),
            done: run.tasks.len() - dead,
            dead,
            retries: run.retries,
            blocked_teams: run.dag.blocked_teams(),
            held_teams,
            by_worker,
        };
        let held_runs = self
            .warehouse
            .runs(1000)
            .await?
            .iter()
            .filter(|r| r.status == RunStatus::Held)
            .count();
        dorafleet_telemetry::metrics::held_runs(held_runs);
        info!(run_id = %outcome.run.run_id, status = %outcome.run.status, tasks = outcome.tasks, dead, "run finished");
        on_run_end(&outcome);
        Ok(true)
    }
}

/// Copies of the records of `tasks`, given as (run, task).
fn task_records<'a>(
    active: &HashMap<Uuid, ActiveRun>,
    tasks: impl Iterator<Item = &'a (Uuid, Uuid)>,
) -> Vec<TaskRecord> {
    tasks
        .filter_map(|(run, task)| active.get(run)?.tasks.get(task).cloned())
        .collect()
}
