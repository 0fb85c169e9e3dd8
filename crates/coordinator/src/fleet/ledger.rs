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
                self.save_run(&run.record).await?;
            }
        }
        let changed = task_records(active, changes.updated.iter().chain(&changes.released));
        if changed.is_empty() {
            return Ok(());
        }
        self.save_tasks(&changed).await?;
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
        self.save_run(&run.record).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::RunDag;
    use crate::fleet::events::apply_to;
    use crate::fleet::fixtures::{Fleet, dead, ended, event, extract, retrying, run_of};
    use dorafleet_broker::task_queue;
    use dorafleet_core::{Config, TaskEventKind};
    use dorafleet_warehouse::HoldStore;
    use dorafleet_warehouse::RunLedger;
    use dorafleet_warehouse::{Hold, HoldEvidence};

    type Recorded = BTreeMap<Uuid, (TaskState, bool, Option<String>, u32)>;

    /// Each task's state, whether it was published, its worker and attempts.
    fn recorded(tasks: &HashMap<Uuid, TaskRecord>) -> Recorded {
        tasks
            .iter()
            .map(|(id, t)| (*id, (t.state, t.published, t.worker.clone(), t.attempts)))
            .collect()
    }

    /// Close `run` if it is done, with the outcomes it reported.
    async fn finish(fleet: &Fleet, run: &mut ActiveRun) -> (bool, Vec<RunOutcome>) {
        let mut outcomes = Vec::new();
        let finished = fleet
            .coordinator
            .finish_if_done(run, &mut |o: &RunOutcome| outcomes.push(o.clone()))
            .await
            .unwrap();
        (finished, outcomes)
    }

    #[tokio::test]
    async fn a_persisted_batch_reloads_with_the_same_task_states() {
        let fleet = Fleet::new(Config::default());
        let run_id = Uuid::now_v7();
        let (a, b, c) = (
            extract(run_id, "t", "a"),
            extract(run_id, "t", "b"),
            extract(run_id, "u", "c"),
        );
        let run = run_of(&[a.clone(), b.clone(), c.clone()]);
        fleet.store(&run).await;
        let mut active = HashMap::from([(run_id, run)]);
        let mut changes = Changes::default();
        for e in [
            event(&a, TaskEventKind::Done),
            event(&b, retrying()),
            event(&c, dead()),
        ] {
            apply_to(&e, active.get_mut(&run_id).unwrap(), &mut changes);
        }

        fleet
            .coordinator
            .persist(&changes, &mut active)
            .await
            .unwrap();

        let in_memory = &active[&run_id];
        let record = fleet.warehouse.run(run_id).await.unwrap().unwrap();
        let reloaded = fleet.coordinator.load_run(record).await.unwrap();
        assert_eq!(recorded(&reloaded.tasks), recorded(&in_memory.tasks));
        let states: Vec<TaskState> = [&a, &b, &c]
            .iter()
            .map(|t| reloaded.tasks[&t.task_id].state)
            .collect();
        assert_eq!(
            states,
            [TaskState::Done, TaskState::Retrying, TaskState::Dead]
        );
        let (_, normalize) = changes.released[0];
        let normalize = &reloaded.tasks[&normalize];
        assert_eq!(normalize.state, TaskState::Pending);
        assert!(normalize.published, "recorded published once confirmed");
        assert_eq!(fleet.broker.depth(&task_queue(&normalize.envelope)), 1);
        assert_eq!(
            reloaded.dag.blocked_teams(),
            BTreeSet::from(["u".to_owned()])
        );
    }

    #[tokio::test]
    async fn a_run_whose_tasks_all_succeeded_is_completed() {
        let fleet = Fleet::new(Config::default());
        let run_id = Uuid::now_v7();
        let mut run = ended(
            run_of(&[extract(run_id, "t", "a"), extract(run_id, "t", "b")]),
            TaskState::Done,
        );
        fleet.store(&run).await;

        let (finished, outcomes) = finish(&fleet, &mut run).await;

        assert!(finished);
        let [outcome] = &outcomes[..] else {
            panic!("one outcome, got {outcomes:?}");
        };
        assert_eq!(outcome.run.status, RunStatus::Completed);
        assert_eq!((outcome.tasks, outcome.done, outcome.dead), (2, 2, 0));
        assert_eq!(outcome.by_worker, BTreeMap::from([("w".to_owned(), 2)]));
        assert!(outcome.blocked_teams.is_empty() && outcome.held_teams.is_empty());
        assert_eq!(fleet.stored_status(run_id).await, RunStatus::Completed);
    }

    #[tokio::test]
    async fn a_run_with_a_dead_task_is_blocked() {
        let fleet = Fleet::new(Config::default());
        let run_id = Uuid::now_v7();
        let (a, c) = (extract(run_id, "t", "a"), extract(run_id, "u", "c"));
        let mut run = ended(run_of(&[a, c.clone()]), TaskState::Done);
        run.tasks.get_mut(&c.task_id).unwrap().state = TaskState::Dead;
        run.dag = RunDag::restore(
            &run.tasks.values().cloned().collect::<Vec<_>>(),
            dorafleet_core::config::SyncConfig::default().earliest_instant(),
        );
        fleet.store(&run).await;

        let (finished, outcomes) = finish(&fleet, &mut run).await;

        assert!(finished);
        assert_eq!(outcomes[0].run.status, RunStatus::Blocked);
        assert_eq!((outcomes[0].done, outcomes[0].dead), (1, 1));
        assert_eq!(outcomes[0].blocked_teams, BTreeSet::from(["u".to_owned()]));
        assert_eq!(fleet.stored_status(run_id).await, RunStatus::Blocked);
    }

    #[tokio::test]
    async fn a_run_with_an_open_hold_and_no_dead_task_is_held() {
        let fleet = Fleet::new(Config::default());
        let run_id = Uuid::now_v7();
        let mut run = ended(run_of(&[extract(run_id, "t", "a")]), TaskState::Done);
        fleet.store(&run).await;
        let from = Utc::now().date_naive();
        let hold = Hold {
            hold_id: Hold::id_for(run_id, "t", "volume", None, from),
            run_id,
            team_id: "t".into(),
            sensor: "volume".into(),
            scope: None,
            from,
            to: from + chrono::Duration::days(1),
            evidence: HoldEvidence {
                measure: "github acme/a records".into(),
                observed: 0.0,
                expected: 40.0,
                threshold: "observed < 50% of expected".into(),
                detail: String::new(),
            },
            status: HoldStatus::Open,
            created_at: Utc::now(),
            resolution: None,
        };
        fleet.warehouse.save_hold(&hold).await.unwrap();

        let (finished, outcomes) = finish(&fleet, &mut run).await;

        assert!(finished);
        assert_eq!(outcomes[0].run.status, RunStatus::Held);
        assert_eq!(outcomes[0].held_teams, BTreeSet::from(["t".to_owned()]));
        assert_eq!(fleet.stored_status(run_id).await, RunStatus::Held);
    }

    #[tokio::test]
    async fn a_run_with_a_task_not_ended_is_not_finished() {
        let fleet = Fleet::new(Config::default());
        let run_id = Uuid::now_v7();
        let a = extract(run_id, "t", "a");
        let mut run = ended(
            run_of(&[a.clone(), extract(run_id, "t", "b")]),
            TaskState::Done,
        );
        run.tasks.get_mut(&a.task_id).unwrap().state = TaskState::Retrying;
        fleet.store(&run).await;

        let (finished, outcomes) = finish(&fleet, &mut run).await;

        assert!(!finished);
        assert!(outcomes.is_empty());
        assert_eq!(run.record.status, RunStatus::Running);
        assert_eq!(fleet.stored_status(run_id).await, RunStatus::Running);
    }
}
