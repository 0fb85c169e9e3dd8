//! The fleet-wide request budget, kept in the warehouse every worker shares:
//! each request of a source takes the next slot of that source's schedule,
//! so however many workers run, requests reach the source at most once per
//! interval; a server's `Retry-After` holds the schedule for everyone.
//!
//! Slots are instants on the workers' clocks, so workers on several machines
//! need synchronised clocks (NTP); on one machine they share one clock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::TaskError;
use dorafleet_sources::FleetBudget;
use dorafleet_warehouse::RequestSlots;
use std::sync::Arc;
use std::time::Duration;

/// A [`FleetBudget`] whose request schedules are slots in the shared
/// warehouse, one schedule per source credential (key
/// `requests.<schedule>`: `requests.github` for a single token,
/// `requests.github/<credential>` for a named one).
#[derive(Debug, Clone)]
pub struct WarehouseBudget {
    warehouse: Arc<dyn RequestSlots>,
}

impl WarehouseBudget {
    /// A budget kept in `warehouse`.
    pub fn new(warehouse: Arc<dyn RequestSlots>) -> Self {
        WarehouseBudget { warehouse }
    }

    fn key(schedule: &str) -> String {
        format!("requests.{schedule}")
    }
}

#[async_trait]
impl FleetBudget for WarehouseBudget {
    async fn reserve(
        &self,
        schedule: &str,
        interval: Duration,
    ) -> Result<DateTime<Utc>, TaskError> {
        Ok(self
            .warehouse
            .reserve_slot(&Self::key(schedule), interval)
            .await?)
    }

    async fn pause_until(&self, schedule: &str, until: DateTime<Utc>) -> Result<(), TaskError> {
        Ok(self
            .warehouse
            .hold_slots_until(&Self::key(schedule), until)
            .await?)
    }
}
