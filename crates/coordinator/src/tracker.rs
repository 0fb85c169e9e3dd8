//! Following a run's tasks to their end through the workers' events.

use dorafleet_core::{Source, Stage, TaskEnvelope, TaskEvent, TaskEventKind, TaskStats};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Pending,
    Retrying,
    Done,
    Dead,
}

/// A snapshot for progress displays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunProgress {
    pub total: usize,
    pub done: usize,
    pub dead: usize,
    pub retries: u64,
    pub pages: u64,
    pub records: u64,
}

impl RunProgress {
    pub fn finished(&self) -> usize {
        self.done + self.dead
    }
}

/// Per-source tallies of events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceTally {
    pub tasks: usize,
    pub done: usize,
    pub dead: usize,
    pub retries: u64,
    pub stats: TaskStats,
}

#[derive(Debug, Default)]
pub struct TaskTracker {
    states: HashMap<Uuid, (Option<Source>, TaskState)>,
    progress: RunProgress,
    by_source: BTreeMap<Source, SourceTally>,
}

impl TaskTracker {
    pub fn new(tasks: &[TaskEnvelope]) -> Self {
        let mut tracker = TaskTracker::default();
        for task in tasks {
            tracker.add(task);
        }
        tracker
    }

    /// Follow one more task (a later stage published during the run).
    pub fn add(&mut self, task: &TaskEnvelope) {
        if self
            .states
            .insert(task.task_id, (task.source, TaskState::Pending))
            .is_none()
        {
            self.progress.total += 1;
            // Per-source tallies count extract tasks: those are the API work.
            if let (Some(source), Stage::Extract) = (task.source, task.stage) {
                self.by_source.entry(source).or_default().tasks += 1;
            }
        }
    }

    /// Apply an event. Events of unknown tasks and events arriving after a
    /// task's end (duplicates after a redelivery) change nothing.
    pub fn apply(&mut self, event: &TaskEvent) -> bool {
        let Some((source, state)) = self.states.get_mut(&event.task_id) else {
            return false;
        };
        if matches!(state, TaskState::Done | TaskState::Dead) {
            return false;
        }
        let counted = event.stage == Stage::Extract;
        let tally = source
            .filter(|_| counted)
            .map(|s| self.by_source.entry(s).or_default());
        if counted {
            self.progress.pages += event.stats.pages;
            self.progress.records += event.stats.records;
        }
        let mut tally_default = SourceTally::default();
        let tally = tally.unwrap_or(&mut tally_default);
        tally.stats.add(&event.stats);
        match event.kind {
            TaskEventKind::Done => {
                *state = TaskState::Done;
                self.progress.done += 1;
                tally.done += 1;
            }
            TaskEventKind::Retrying { .. } => {
                *state = TaskState::Retrying;
                self.progress.retries += 1;
                tally.retries += 1;
            }
            TaskEventKind::Dead { .. } => {
                *state = TaskState::Dead;
                self.progress.dead += 1;
                tally.dead += 1;
            }
        }
        true
    }

    pub fn progress(&self) -> &RunProgress {
        &self.progress
    }

    pub fn all_finished(&self) -> bool {
        self.progress.finished() == self.progress.total
    }

    pub fn by_source(&self) -> &BTreeMap<Source, SourceTally> {
        &self.by_source
    }
}
