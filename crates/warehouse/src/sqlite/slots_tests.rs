//! Leased request slots on one SQLite file shared by several handles (each
//! handle stands for a process: leases are per handle).

use super::super::SqliteWarehouse;
use crate::RequestSlots;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// Fine enough that a window gives every phase many slots (a lease).
const FINE: Duration = Duration::from_micros(10);

fn two_handles() -> (tempfile::TempDir, SqliteWarehouse, SqliteWarehouse) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slots.db");
    let a = SqliteWarehouse::open(&path).unwrap();
    let b = SqliteWarehouse::open(&path).unwrap();
    (dir, a, b)
}

fn assert_spaced(mut slots: Vec<DateTime<Utc>>, interval: Duration) {
    slots.sort();
    let interval = chrono::Duration::from_std(interval).unwrap();
    for pair in slots.windows(2) {
        assert!(pair[1] - pair[0] >= interval, "{pair:?}");
    }
}

#[tokio::test]
async fn handles_leasing_one_schedule_at_once_never_get_slots_closer_than_the_interval() {
    let (_dir, a, b) = two_handles();
    let mut jobs = tokio::task::JoinSet::new();
    for w in [a, b] {
        let w = Arc::new(w);
        for _ in 0..3 {
            let w = Arc::clone(&w);
            jobs.spawn(async move {
                let mut slots = Vec::new();
                for _ in 0..100 {
                    slots.push(w.reserve_slot("requests.github", FINE).await.unwrap());
                }
                slots
            });
        }
    }
    let mut all = Vec::new();
    while let Some(slots) = jobs.join_next().await {
        all.extend(slots.unwrap());
    }
    assert_eq!(all.len(), 600);
    assert_spaced(all, FINE);
}

#[tokio::test]
async fn leased_slots_are_handed_out_without_a_write_per_request() {
    let (_dir, a, _b) = two_handles();
    let writes = |w: &SqliteWarehouse| w.write_now(|c| Ok(c.total_changes())).unwrap();
    let before = writes(&a);
    for _ in 0..200 {
        a.reserve_slot("requests.jira", FINE).await.unwrap();
    }
    let leases = writes(&a) - before;
    assert!(
        leases < 20,
        "200 reservations took {leases} writes to the schedule"
    );
}

#[tokio::test]
async fn a_hold_from_another_handle_voids_the_slots_leased_before_it() {
    let (_dir, a, b) = two_handles();
    let first = a.reserve_slot("requests.jenkins", FINE).await.unwrap();
    // `a` now holds the rest of its phase; `b` is told to back off.
    let hold = Utc::now() + chrono::Duration::seconds(30);
    b.hold_slots_until("requests.jenkins", hold).await.unwrap();
    let after = a.reserve_slot("requests.jenkins", FINE).await.unwrap();
    assert!(first < hold);
    assert!(
        after >= hold,
        "{after} was handed out before the hold at {hold}"
    );
    assert!(b.reserve_slot("requests.jenkins", FINE).await.unwrap() >= hold);
}

#[tokio::test]
async fn a_caller_asking_a_longer_interval_is_never_handed_a_finer_leased_slot() {
    let (_dir, a, _b) = two_handles();
    let mut slots = vec![a.reserve_slot("requests.github", FINE).await.unwrap()];
    let coarse = Duration::from_millis(2);
    for _ in 0..5 {
        slots.push(a.reserve_slot("requests.github", coarse).await.unwrap());
    }
    assert_spaced(slots, coarse);
}
