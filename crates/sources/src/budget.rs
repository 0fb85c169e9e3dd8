//! The fleet-wide request budget: a hook through which every client of a
//! source, in every worker process, takes its turn from one shared schedule.
//!
//! A per-process limiter cannot keep a fleet under a source's budget: three
//! workers at the full rate send three times too much. Implementations
//! (backed by the warehouse, which every worker already shares) hand out
//! request slots spaced `interval` apart across the fleet, and a server's
//! `Retry-After` pushes the next slot back for everyone.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::{Source, TaskError};
use std::time::Duration;

/// A request schedule shared by the whole fleet, per source: each client
/// awaits its slot here on top of its own rate gate (see the module docs).
#[async_trait]
pub trait FleetBudget: Send + Sync + std::fmt::Debug {
    /// Reserve the next request slot of `source` for the whole fleet, slots
    /// being at least `interval` apart; returns the instant the request may be sent.
    async fn reserve(&self, source: Source, interval: Duration)
    -> Result<DateTime<Utc>, TaskError>;

    /// No request of the fleet to `source` before `until`.
    async fn pause_until(&self, source: Source, until: DateTime<Utc>) -> Result<(), TaskError>;
}
