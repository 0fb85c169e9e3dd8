//! What the fleet modules' unit tests share: a run of extract tasks held in
//! memory, the workers' events of its tasks, and a coordinator over an
//! in-process broker and an in-memory SQLite warehouse.

use super::events::{ActiveRun, pending};
use super::{Coordinator, CoordinatorOptions, Plan};
use crate::dag::RunDag;
use chrono::Utc;
use dorafleet_broker::InProcessBroker;
use dorafleet_core::{
    Config, ErrorClass, Scope, Source, Stage, TaskEnvelope, TaskEvent, TaskEventKind, TaskStats,
    Window,
};
use dorafleet_warehouse::RunLedger;
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use dorafleet_warehouse::{RunRecord, RunStatus, TaskRecord, TaskState, Warehouse};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The window every fixture task covers: the day up to now.
pub(super) fn day() -> Window {
    let now = Utc::now();
    Window {
        from: now - chrono::Duration::days(1),
        to: now,
    }
}

/// A first attempt of a GitHub extract of `team`'s `target`.
pub(super) fn extract(run_id: Uuid, team: &str, target: &str) -> TaskEnvelope {
    TaskEnvelope::new(
        run_id,
        Stage::Extract,
        Some(Source::Github),
        Scope {
            team: team.into(),
            target: Some(target.into()),
        },
        day(),
        3,
    )
}

/// A run, running, over `extracts` (all of one run), each pending and published.
pub(super) fn run_of(extracts: &[TaskEnvelope]) -> ActiveRun {
    let run_id = extracts[0].run_id;
    let now = Utc::now();
    let tasks: HashMap<Uuid, TaskRecord> = extracts
        .iter()
        .map(|e| {
            let record = TaskRecord {
                published: true,
                ..pending(e.clone())
            };
            (e.task_id, record)
        })
        .collect();
    ActiveRun {
        record: RunRecord {
            run_id,
            kind: "range".into(),
            window: day(),
            status: RunStatus::Running,
            created_at: now,
            updated_at: now,
            traceparent: None,
        },
        dag: RunDag::new(
            extracts,
            dorafleet_core::config::SyncConfig::default().earliest_instant(),
        ),
        tasks,
        retries: 0,
        pages: 0,
        records: 0,
        stale: false,
    }
}

/// `run` with every task ended as `state` by worker `w`.
pub(super) fn ended(mut run: ActiveRun, state: TaskState) -> ActiveRun {
    for t in run.tasks.values_mut() {
        t.state = state;
        t.worker = Some("w".into());
        t.attempts = 1;
    }
    run
}

/// What worker `w` reports about this attempt of `task`.
pub(super) fn event(task: &TaskEnvelope, kind: TaskEventKind) -> TaskEvent {
    TaskEvent::of(task, "w", TaskStats::default(), kind)
}

pub(super) fn dead() -> TaskEventKind {
    TaskEventKind::Dead {
        class: ErrorClass::Permanent,
        reason: "404".into(),
        dead_letter_id: Uuid::now_v7(),
    }
}

pub(super) fn retrying() -> TaskEventKind {
    TaskEventKind::Retrying {
        next_attempt: 2,
        delay: Duration::from_millis(10),
        class: ErrorClass::Transient,
        message: "503".into(),
    }
}

/// A coordinator with the broker and warehouse it uses, to look into both.
pub(super) struct Fleet {
    pub(super) coordinator: Coordinator,
    pub(super) broker: InProcessBroker,
    pub(super) warehouse: Arc<SqliteWarehouse>,
}

impl Fleet {
    pub(super) fn new(config: Config) -> Self {
        Self::with_plan(config, Plan::ResumeOnly)
    }

    /// A coordinator that plans as `plan` says.
    pub(super) fn with_plan(config: Config, plan: Plan) -> Self {
        let broker = InProcessBroker::new();
        let warehouse = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
        let coordinator = Coordinator::new(
            Arc::new(broker.clone()),
            Arc::clone(&warehouse) as Arc<dyn Warehouse>,
            Arc::new(config),
            CoordinatorOptions {
                name: "test".into(),
                lease_ttl: Duration::from_secs(30),
                plan,
                sources: Source::ALL.to_vec(),
                progress: None,
            },
        );
        Fleet {
            coordinator,
            broker,
            warehouse,
        }
    }

    /// Record `run` and its tasks as they are in memory.
    pub(super) async fn store(&self, run: &ActiveRun) {
        self.warehouse.save_run(&run.record).await.unwrap();
        let tasks: Vec<TaskRecord> = run.tasks.values().cloned().collect();
        self.warehouse.save_tasks(&tasks).await.unwrap();
    }

    /// The status of run `run_id` as recorded.
    pub(super) async fn stored_status(&self, run_id: Uuid) -> RunStatus {
        self.warehouse.run(run_id).await.unwrap().unwrap().status
    }
}
