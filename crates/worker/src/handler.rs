//! The stage-handler trait and the registry the worker dispatches on.

use async_trait::async_trait;
use dorafleet_core::{Stage, TaskEnvelope, TaskError, TaskStats};
use std::collections::HashMap;
use std::sync::Arc;

/// What one attempt of a task did: its counters, and whether it succeeded.
/// Counters are kept on failure too (a failed page still cost an API call).
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerOutcome {
    /// What the attempt cost and fetched (API calls, rate-limit wait, pages,
    /// records), success or not.
    pub stats: TaskStats,
    /// `Ok` if the attempt finished the task; otherwise the classified error
    /// the worker retries or dead-letters on.
    pub result: Result<(), TaskError>,
}

impl HandlerOutcome {
    /// A successful attempt with these counters.
    pub fn ok(stats: TaskStats) -> Self {
        HandlerOutcome {
            stats,
            result: Ok(()),
        }
    }

    /// A failed attempt with these counters and `error`.
    pub fn failed(stats: TaskStats, error: TaskError) -> Self {
        HandlerOutcome {
            stats,
            result: Err(error),
        }
    }
}

/// The work of one stage: turns a task into warehouse writes or a classified
/// error. The worker owns decoding, retries, dead letters, events and acks
/// around it.
#[async_trait]
pub trait StageHandler: Send + Sync + std::fmt::Debug {
    /// Run one attempt of `task`. Must be idempotent: the same task may be
    /// delivered again after a crash, a retry or a replay.
    async fn handle(&self, task: &TaskEnvelope) -> HandlerOutcome;
}

/// The handlers a worker can run, by stage.
#[derive(Debug, Clone, Default)]
pub struct Handlers {
    by_stage: HashMap<Stage, Arc<dyn StageHandler>>,
}

impl Handlers {
    /// Registers `handler` for `stage`, replacing any handler it had.
    pub fn with(mut self, stage: Stage, handler: Arc<dyn StageHandler>) -> Self {
        self.by_stage.insert(stage, handler);
        self
    }

    /// The handler registered for `stage`, if any.
    pub fn get(&self, stage: Stage) -> Option<&Arc<dyn StageHandler>> {
        self.by_stage.get(&stage)
    }
}

/// A handler that succeeds at once, touching no API and no warehouse. It
/// exists for broker benchmarks (`dorafleet worker --noop`, run by
/// `scripts/bench.sh fleet`): with it, a task costs only the fleet's own
/// machinery (delivery, completion event, ack, coordinator bookkeeping).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopHandler;

#[async_trait]
impl StageHandler for NoopHandler {
    async fn handle(&self, _task: &TaskEnvelope) -> HandlerOutcome {
        HandlerOutcome::ok(TaskStats::default())
    }
}
