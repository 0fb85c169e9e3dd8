//! Records that let a fleet coordinate through the warehouse: runs and the
//! state of every task (so a restarted coordinator resumes where it was),
//! leases (so only one coordinator acts), and request-slot schedules (so the
//! whole fleet stays under each source's request budget).

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::{TaskEnvelope, Window};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Tasks are still under way.
    Running,
    /// Every task succeeded.
    Completed,
    /// Every task ended, some were dead-lettered: their teams have no new gold.
    Blocked,
    /// Every task ended and a data-quality sensor held some team's days:
    /// no gold for them until `runs release` or `runs rerun`.
    Held,
}

impl RunStatus {
    /// The snake_case name, as serialized, stored and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Blocked => "blocked",
            RunStatus::Held => "held",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "running" => Ok(RunStatus::Running),
            "completed" => Ok(RunStatus::Completed),
            "blocked" => Ok(RunStatus::Blocked),
            "held" => Ok(RunStatus::Held),
            other => Err(format!("unknown run status `{other}`")),
        }
    }
}

/// One run: a planned set of tasks over a time window, as the coordinator
/// tracks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id, which each of its tasks carries as `run_id`.
    pub run_id: Uuid,
    /// How the run was planned: `incremental`, `range` or `rerun` (of a held
    /// run's teams).
    pub kind: String,
    /// The time the run's extracts cover (UTC, half-open).
    pub window: Window,
    /// Where the run stands.
    pub status: RunStatus,
    /// When the run was planned (UTC).
    pub created_at: DateTime<Utc>,
    /// When the run record last changed (UTC).
    pub updated_at: DateTime<Utc>,
    /// The W3C `traceparent` of the run's root span, when traces are
    /// exported: every task the run publishes, by whichever coordinator,
    /// continues this one trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// Where a task stands, from the last event its workers reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Planned (or replayed), and no outcome reported since.
    Pending,
    /// An attempt failed and the task was republished to try again.
    Retrying,
    /// An attempt succeeded; the task is finished.
    Done,
    /// The task failed for good and was dead-lettered.
    Dead,
}

impl TaskState {
    /// The snake_case name, as serialized, stored and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Retrying => "retrying",
            TaskState::Done => "done",
            TaskState::Dead => "dead",
        }
    }

    /// Whether the task has ended (done or dead); no further attempt follows.
    pub fn is_final(self) -> bool {
        matches!(self, TaskState::Done | TaskState::Dead)
    }
}

impl FromStr for TaskState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(TaskState::Pending),
            "retrying" => Ok(TaskState::Retrying),
            "done" => Ok(TaskState::Done),
            "dead" => Ok(TaskState::Dead),
            other => Err(format!("unknown task state `{other}`")),
        }
    }
}

/// A task as the coordinator tracks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task as published (its id, run, stage, scope and window).
    pub envelope: TaskEnvelope,
    /// Where the task stands.
    pub state: TaskState,
    /// Whether the broker confirmed the first publish. A task recorded but
    /// not yet published (the coordinator died in between) is published on
    /// restart; a published one is in the broker's durable queues.
    pub published: bool,
    /// The worker that reported the last event.
    pub worker: Option<String>,
    /// The number of the last attempt reported (1-based); 0 until the first
    /// report, and again after a replay.
    pub attempts: u32,
    /// When the record last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// The fencing token of a lease holder: the lease's name and the generation
/// [`RunLedger::acquire_lease`] returned. A write carrying it succeeds only
/// while the lease's current generation is still this one, so a holder that
/// lost the lease (paused past its TTL while another took over) cannot
/// write, whatever it believes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The lease's name.
    pub name: String,
    /// The generation the holder got when it took the lease.
    pub generation: u64,
}

impl Fence {
    /// The token of generation `generation` of lease `name`.
    pub fn new(name: impl Into<String>, generation: u64) -> Self {
        Fence {
            name: name.into(),
            generation,
        }
    }
}

impl fmt::Display for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lease `{}` generation {}", self.name, self.generation)
    }
}

/// The message of a write refused because `fence` is stale.
pub(crate) fn fenced_message(fence: &Fence, current: Option<u64>) -> String {
    let now = match current {
        Some(g) => format!("generation {g}"),
        None => "no holder".to_owned(),
    };
    format!(
        "this write carries {fence}, but the lease is now at {now}: another holder took it \
         (this process was paused or cut off past the lease's TTL); stop acting for the lease \
         (step down) and reload the state from the warehouse"
    )
}

/// Runs, the state of every task, and the leases that let one coordinator act.
#[async_trait]
pub trait RunLedger: Send + Sync + std::fmt::Debug {
    /// Create or update a run.
    async fn save_run(&self, run: &RunRecord) -> Result<()>;

    /// Runs, newest first.
    async fn runs(&self, limit: usize) -> Result<Vec<RunRecord>>;

    /// One run, if it exists.
    async fn run(&self, run_id: Uuid) -> Result<Option<RunRecord>>;

    /// Create or update task records (by task id), in one transaction.
    async fn save_tasks(&self, tasks: &[TaskRecord]) -> Result<()>;

    /// [`save_run`](Self::save_run) by the holder of a lease: in the same
    /// transaction, refused with [`WarehouseError::Fenced`](crate::WarehouseError::Fenced)
    /// (nothing written) unless `fence` is the lease's current generation.
    async fn save_run_fenced(&self, run: &RunRecord, fence: &Fence) -> Result<()>;

    /// [`save_tasks`](Self::save_tasks) by the holder of a lease, refused
    /// like [`save_run_fenced`](Self::save_run_fenced) when `fence` is stale.
    async fn save_tasks_fenced(&self, tasks: &[TaskRecord], fence: &Fence) -> Result<()>;

    /// Every task of a run, in creation order.
    async fn run_tasks(&self, run_id: Uuid) -> Result<Vec<TaskRecord>>;

    /// Take or renew the lease `name` for `holder` until `now + ttl`. Returns
    /// the lease's generation when `holder` holds it (it was free, expired,
    /// or already theirs), `None` when another does. Taking the lease over
    /// (it was free, released or another's and expired) moves the
    /// generation on by one; a renewal by the holder keeps it. Generations
    /// never go back, releases included: a [`Fence`] of an older one is
    /// refused by every fenced write.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<u64>>;

    /// Give the lease up (only if `holder` holds it). Its generation stays,
    /// so the next holder gets the one after it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
}
