//! Queue names: one queue per stage, and per source for extract, so that a
//! throttled source never blocks another.

use dorafleet_core::{Source, Stage, TaskEnvelope};
use std::fmt;

/// The logical name of the queue dead letters wait in for the archiver.
pub const DEAD_LETTER_QUEUE: &str = "dead_letters";
/// The logical name of the queue task events wait in for the coordinator.
pub const EVENTS_QUEUE: &str = "task_events";

/// Which tasks a consumer takes: a stage, and for extract optionally one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// The stage of the tasks taken.
    pub stage: Stage,
    /// For extract, the one source whose tasks are taken; ignored for the
    /// other stages, whose tasks share one queue per stage.
    pub source: Option<Source>,
}

impl Route {
    /// Every route for the given stages and sources.
    pub fn all(stages: &[Stage], sources: &[Source]) -> Vec<Route> {
        let mut routes = Vec::new();
        for &stage in stages {
            if stage == Stage::Extract {
                routes.extend(sources.iter().map(|&s| Route {
                    stage,
                    source: Some(s),
                }));
            } else {
                routes.push(Route {
                    stage,
                    source: None,
                });
            }
        }
        routes
    }

    /// The logical queue name of the route: `tasks.extract.{source}` or `tasks.{stage}`.
    pub fn queue(&self) -> String {
        match (self.stage, self.source) {
            (Stage::Extract, Some(source)) => format!("tasks.extract.{source}"),
            (stage, _) => format!("tasks.{stage}"),
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.queue())
    }
}

/// The queue a task belongs on.
pub fn task_queue(task: &TaskEnvelope) -> String {
    Route {
        stage: task.stage,
        source: if task.stage == Stage::Extract {
            task.source
        } else {
            None
        },
    }
    .queue()
}
