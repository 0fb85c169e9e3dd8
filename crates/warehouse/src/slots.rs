//! Request slots: the fleet-wide schedule that keeps every worker of every
//! machine, together, under a source's request budget. Each request reserves
//! the next slot of its source's schedule; a server's `Retry-After` pushes the
//! whole schedule back.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The fleet-wide request schedules of the sources' budgets.
#[async_trait]
pub trait RequestSlots: Send + Sync + std::fmt::Debug {
    /// Reserve the next slot of schedule `key`: the later of now and the
    /// schedule's next free instant; the one after it is `interval` later.
    /// Across processes sharing the warehouse, slots are never closer than
    /// `interval` (given synchronised clocks).
    async fn reserve_slot(&self, key: &str, interval: std::time::Duration)
    -> Result<DateTime<Utc>>;

    /// No slot of schedule `key` before `not_before`.
    async fn hold_slots_until(&self, key: &str, not_before: DateTime<Utc>) -> Result<()>;
}
