//! Request slots: the fleet-wide schedule that keeps every worker of every
//! machine, together, under a source's request budget. Each request takes
//! the next slot of its source's schedule; a server's `Retry-After` pushes the
//! whole schedule back.
//!
//! Requests waiting at the same moment take their slots together: one
//! reservation of `count` consecutive slots is one write, however many
//! requests it serves. Only requests already waiting are counted, never
//! expected ones, so no slot is reserved that nobody is there to use.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::num::NonZeroU32;

/// The fleet-wide request schedules of the sources' budgets.
#[async_trait]
pub trait RequestSlots: Send + Sync + std::fmt::Debug {
    /// Reserve the next slot of schedule `key`: the later of now and the
    /// schedule's next free instant; the one after it is `interval` later.
    /// Across processes sharing the warehouse, slots are never closer than
    /// `interval` (given synchronised clocks).
    async fn reserve_slot(
        &self,
        key: &str,
        interval: std::time::Duration,
    ) -> Result<DateTime<Utc>> {
        self.reserve_slots(key, interval, NonZeroU32::MIN).await
    }

    /// Reserve the next `count` slots of schedule `key` at once, in one
    /// atomic step; returns the first. The others follow it `interval`
    /// apart, and the schedule's next free instant is `count` intervals
    /// after it.
    async fn reserve_slots(
        &self,
        key: &str,
        interval: std::time::Duration,
        count: NonZeroU32,
    ) -> Result<DateTime<Utc>>;

    /// No slot of schedule `key` before `not_before`.
    async fn hold_slots_until(&self, key: &str, not_before: DateTime<Utc>) -> Result<()>;
}
