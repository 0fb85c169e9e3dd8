//! The fleet budget kept in the warehouse: requests waiting together take
//! their slots in one write, spaced exactly as single slots would be.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_sources::FleetBudget;
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use dorafleet_warehouse::{RequestSlots, Result};
use dorafleet_worker::WarehouseBudget;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The real SQLite warehouse, counting the writes that reserve slots.
#[derive(Debug)]
struct CountingWrites {
    warehouse: SqliteWarehouse,
    writes: AtomicUsize,
}

#[async_trait]
impl RequestSlots for CountingWrites {
    async fn reserve_slots(
        &self,
        key: &str,
        interval: Duration,
        count: NonZeroU32,
    ) -> Result<DateTime<Utc>> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.warehouse.reserve_slots(key, interval, count).await
    }

    async fn hold_slots_until(&self, key: &str, not_before: DateTime<Utc>) -> Result<()> {
        self.warehouse.hold_slots_until(key, not_before).await
    }
}

fn counting() -> (Arc<CountingWrites>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = SqliteWarehouse::open(dir.path().join("w.db")).unwrap();
    let counting = Arc::new(CountingWrites {
        warehouse,
        writes: AtomicUsize::new(0),
    });
    (counting, dir)
}

async fn reserve_all_at_once(
    budget: &WarehouseBudget,
    schedule: &'static str,
    requests: usize,
    interval: Duration,
) -> Vec<DateTime<Utc>> {
    let mut jobs = tokio::task::JoinSet::new();
    for _ in 0..requests {
        let budget = budget.clone();
        jobs.spawn(async move { budget.reserve(schedule, interval).await.unwrap() });
    }
    let mut slots = Vec::new();
    while let Some(slot) = jobs.join_next().await {
        slots.push(slot.unwrap());
    }
    slots.sort();
    slots
}

#[tokio::test]
async fn requests_waiting_together_take_their_slots_in_fewer_writes_than_requests() {
    let (warehouse, _dir) = counting();
    let budget = WarehouseBudget::new(warehouse.clone());
    let slots = reserve_all_at_once(&budget, "github", 50, Duration::from_millis(2)).await;
    assert_eq!(slots.len(), 50);
    for pair in slots.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::milliseconds(2),
            "{pair:?}"
        );
    }
    let writes = warehouse.writes.load(Ordering::SeqCst);
    assert!(writes <= 25, "50 waiting requests took {writes} writes");
    // Operators see the same counts (no other test here takes `github` slots).
    let metrics = dorafleet_telemetry::metrics::render();
    assert!(
        metrics.contains(r#"dorafleet_request_slots_total{schedule="github"} 50"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            r#"dorafleet_request_slot_writes_total{{schedule="github"}} {writes}"#
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_batching_slots_of_one_file_never_come_closer_than_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = WarehouseBudget::new(Arc::new(SqliteWarehouse::open(&path).unwrap()));
    let b = WarehouseBudget::new(Arc::new(SqliteWarehouse::open(&path).unwrap()));
    let interval = Duration::from_millis(1);
    let (mut left, right) = tokio::join!(
        reserve_all_at_once(&a, "jira", 120, interval),
        reserve_all_at_once(&b, "jira", 120, interval)
    );
    left.extend(right);
    left.sort();
    assert_eq!(left.len(), 240);
    for pair in left.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::milliseconds(1),
            "{pair:?}"
        );
    }
}

#[tokio::test]
async fn a_hold_set_through_the_budget_pushes_back_every_later_slot() {
    let (warehouse, _dir) = counting();
    let budget = WarehouseBudget::new(warehouse.clone());
    let hold = Utc::now() + chrono::Duration::seconds(30);
    budget.pause_until("jenkins", hold).await.unwrap();
    let slots = reserve_all_at_once(&budget, "jenkins", 10, Duration::from_millis(1)).await;
    assert!(slots.iter().all(|slot| *slot >= hold), "{slots:?}");
}
