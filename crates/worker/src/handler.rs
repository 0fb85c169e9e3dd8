//! The stage-handler trait and the registry the worker dispatches on.

use async_trait::async_trait;
use dorafleet_core::{Stage, TaskEnvelope, TaskError, TaskStats};
use std::collections::HashMap;
use std::sync::Arc;

/// What one attempt of a task did: its counters, and whether it succeeded.
/// Counters are kept on failure too (a failed page still cost an API call).
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerOutcome {
    pub stats: TaskStats,
    pub result: Result<(), TaskError>,
}

impl HandlerOutcome {
    pub fn ok(stats: TaskStats) -> Self {
        HandlerOutcome {
            stats,
            result: Ok(()),
        }
    }

    pub fn failed(stats: TaskStats, error: TaskError) -> Self {
        HandlerOutcome {
            stats,
            result: Err(error),
        }
    }
}

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
    pub fn with(mut self, stage: Stage, handler: Arc<dyn StageHandler>) -> Self {
        self.by_stage.insert(stage, handler);
        self
    }

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
