//! Exchange and queue names, all under one prefix.

use crate::topology::{DEAD_LETTER_QUEUE, EVENTS_QUEUE, Route};
use dorafleet_core::{Source, Stage};

#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub prefix: String,
    /// Wait tiers in milliseconds, ascending.
    pub tiers: Vec<u32>,
}

impl Names {
    pub(crate) fn new(prefix: &str, tiers: Vec<u32>) -> Self {
        Names {
            prefix: prefix.to_owned(),
            tiers,
        }
    }

    /// A logical queue name (`tasks.normalize`, `dead_letters`, …) with the prefix.
    pub(crate) fn queue(&self, logical: &str) -> String {
        format!("{}.{logical}", self.prefix)
    }

    /// The direct exchange every task is published to (and wait tiers expire into).
    pub(crate) fn tasks_exchange(&self) -> String {
        format!("{}.tasks", self.prefix)
    }

    /// The fanout exchange in front of the dead-letter queue.
    pub(crate) fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    pub(crate) fn dead_queue(&self) -> String {
        self.queue(DEAD_LETTER_QUEUE)
    }

    pub(crate) fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    pub(crate) fn events_queue(&self) -> String {
        self.queue(EVENTS_QUEUE)
    }

    /// Exchange and queue of one wait tier (they share the name).
    pub(crate) fn wait(&self, tier_ms: u32) -> String {
        format!("{}.wait.{tier_ms}", self.prefix)
    }

    /// Every task route: extract per source, then normalize and aggregate.
    pub(crate) fn routes() -> Vec<Route> {
        Route::all(&Stage::ALL, &Source::ALL)
    }

    /// The tier a delay waits in: the smallest one at least as long, else the largest.
    pub(crate) fn tier_for(&self, delay_ms: u64) -> u32 {
        self.tiers
            .iter()
            .copied()
            .find(|&t| u64::from(t) >= delay_ms)
            .or_else(|| self.tiers.last().copied())
            .unwrap_or(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_waits_in_the_smallest_tier_that_covers_it() {
        let names = Names::new("p", vec![1000, 5000, 30_000]);
        assert_eq!(names.tier_for(1), 1000);
        assert_eq!(names.tier_for(1000), 1000);
        assert_eq!(names.tier_for(1001), 5000);
        assert_eq!(names.tier_for(29_000), 30_000);
        assert_eq!(names.tier_for(3_600_000), 30_000);
        assert_eq!(names.wait(5000), "p.wait.5000");
        assert_eq!(names.queue("tasks.normalize"), "p.tasks.normalize");
    }
}
