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
    /// Requests sent to the source API, failed ones included.
    pub api_calls: u64,
    /// Time spent waiting on rate limits (our budget or the server's), in ms.
    pub rate_limit_wait_ms: u64,
    /// Bronze pages stored (extract) or read (normalize).
    pub pages: u64,
    /// Records in the stored pages (extract) or silver events built (normalize).
    pub records: u64,
}

impl TaskStats {
    /// Add `other`'s counts to these, field by field.
    pub fn add(&mut self, other: &TaskStats) {
        self.api_calls += other.api_calls;
        self.rate_limit_wait_ms += other.rate_limit_wait_ms;
        self.pages += other.pages;
        self.records += other.records;
    }
}

/// What became of a task attempt (serialized as the event's `kind` tag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskEventKind {
    /// The attempt succeeded; the task is finished.
    Done,
    /// The attempt failed and the task was republished to try again later.
    Retrying {
        /// The number of the attempt that will run next.
        next_attempt: u32,
        /// How long until the retry is delivered (serialized in ms).
        #[serde(with = "crate::serde_time::millis")]
        delay: Duration,
        /// How the failure was classified.
        class: ErrorClass,
        /// The failure, with its causes.
        message: String,
    },
    /// The task failed for good and was dead-lettered.
    Dead {
        /// How the last failure was classified.
        class: ErrorClass,
        /// Why the task will not be retried.
        reason: String,
        /// The [`DeadLetter`](crate::DeadLetter) that holds the task.
        dead_letter_id: Uuid,
    },
}

/// A worker's report on one attempt of one task, sent to the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// The task's id (stable across its attempts).
    pub task_id: Uuid,
    /// The pipeline run the task belongs to.
    pub run_id: Uuid,
    /// The task's stage.
    pub stage: Stage,
    /// The task's source; `None` for aggregate.
    pub source: Option<Source>,
    /// What the task works on.
    pub scope: Scope,
    /// The 1-based number of the attempt reported on.
    pub attempt: u32,
    /// The task's replay generation (see `TaskEnvelope::replay`).
    #[serde(default)]
    pub replay: u32,
    /// The name of the worker that made the attempt.
    pub worker: String,
    /// When the worker reported (UTC).
    pub at: DateTime<Utc>,
    /// The work the attempt did.
    pub stats: TaskStats,
    /// What became of the attempt (flattened into the event).
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
