//! The fleet-wide request budget: a hook through which every client of a
//! source, in every worker process, takes its turn from one shared schedule
//! per credential.
//!
//! A per-process limiter cannot keep a fleet under a source's budget: three
//! workers at the full rate send three times too much. Implementations
//! (backed by the warehouse, which every worker already shares) hand out
//! request slots spaced `interval` apart across the fleet, and a server's
//! `Retry-After` pushes the next slot back for everyone. Servers count
//! quotas per credential, so each credential of a source has a schedule of
//! its own, named by [`schedule_name`](crate::schedule_name): `github` for a
//! single token (the name it always had), `github/ci-bot-1` for a named one.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::TaskError;
use std::time::Duration;

/// Request schedules shared by the whole fleet, one per credential of a
/// source: each client awaits its slot here on top of its own rate gate (see
/// the module docs).
#[async_trait]
pub trait FleetBudget: Send + Sync + std::fmt::Debug {
    /// Reserve the next request slot of `schedule` for the whole fleet,
    /// slots being at least `interval` apart; returns the instant the
    /// request may be sent.
    async fn reserve(&self, schedule: &str, interval: Duration)
    -> Result<DateTime<Utc>, TaskError>;

    /// No request of the fleet on `schedule` before `until`.
    async fn pause_until(&self, schedule: &str, until: DateTime<Utc>) -> Result<(), TaskError>;
}
