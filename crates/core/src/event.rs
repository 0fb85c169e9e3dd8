//! Task events: how workers tell the coordinator what became of a task.

use crate::error::ErrorClass;
use crate::model::{Scope, Source, Stage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// Work a task attempt did, successful or not, for summaries and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStats {
    pub api_calls: u64,
    /// Time spent waiting on rate limits (our budget or the server's), in ms.
    pub rate_limit_wait_ms: u64,
    pub pages: u64,
    pub records: u64,
}

impl TaskStats {
    pub fn add(&mut self, other: &TaskStats) {
        self.api_calls += other.api_calls;
        self.rate_limit_wait_ms += other.rate_limit_wait_ms;
        self.pages += other.pages;
        self.records += other.records;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskEventKind {
    Done,
    Retrying {
        next_attempt: u32,
        #[serde(with = "millis")]
        delay: Duration,
        class: ErrorClass,
        message: String,
    },
    Dead {
        class: ErrorClass,
        reason: String,
        dead_letter_id: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub task_id: Uuid,
    pub run_id: Uuid,
    pub stage: Stage,
    pub source: Option<Source>,
    pub scope: Scope,
    pub attempt: u32,
    /// The task's replay generation (see `TaskEnvelope::replay`).
    #[serde(default)]
    pub replay: u32,
    pub worker: String,
    pub at: DateTime<Utc>,
    pub stats: TaskStats,
    #[serde(flatten)]
    pub kind: TaskEventKind,
}

impl TaskEvent {
    /// What `worker` reports now about this attempt of `task`.
    pub fn of(
        task: &crate::TaskEnvelope,
        worker: impl Into<String>,
        stats: TaskStats,
        kind: TaskEventKind,
    ) -> TaskEvent {
        TaskEvent {
            task_id: task.task_id,
            run_id: task.run_id,
            stage: task.stage,
            source: task.source,
            scope: task.scope.clone(),
            attempt: task.attempt,
            replay: task.replay,
            worker: worker.into(),
            at: Utc::now(),
            stats,
            kind,
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
