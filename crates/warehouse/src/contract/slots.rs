//! The contract of the warehouse's slots role: fleet-wide request slots.

use super::*;

pub async fn request_slots_are_spaced_by_the_interval_and_holds_push_them_back(
    w: Arc<dyn Warehouse>,
) {
    let interval = std::time::Duration::from_millis(100);
    let mut slots = Vec::new();
    for _ in 0..5 {
        slots.push(w.reserve_slot("github", interval).await.unwrap());
    }
    for pair in slots.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::milliseconds(100), "{pair:?}");
    }
    let hold = Utc::now() + Duration::seconds(30);
    w.hold_slots_until("github", hold).await.unwrap();
    assert!(w.reserve_slot("github", interval).await.unwrap() >= hold);
    w.hold_slots_until("github", Utc::now()).await.unwrap();
    assert!(
        w.reserve_slot("github", interval).await.unwrap() >= hold,
        "an earlier hold never shortens a later one"
    );
    assert!(
        w.reserve_slot("jira", interval).await.unwrap() < hold,
        "schedules are per key"
    );
}

pub async fn concurrent_slot_reservations_are_never_closer_than_the_interval(
    w: Arc<dyn Warehouse>,
) {
    let interval = std::time::Duration::from_millis(20);
    let batches = all_at_once(&w, 4, |w, _| async move {
        let mut slots = Vec::new();
        for _ in 0..5 {
            slots.push(w.reserve_slot("jenkins", interval).await.unwrap());
        }
        slots
    })
    .await;
    let mut all: Vec<_> = batches.into_iter().flatten().collect();
    all.sort();
    assert_eq!(all.len(), 20);
    for pair in all.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::milliseconds(20), "{pair:?}");
    }
}

/// A schedule this fine (100,000 requests per second) is where handing out
/// slots in bulk would pay; whatever an implementation does, no two slots
/// may come closer than the interval, and a hold must still hold.
const FINE: std::time::Duration = std::time::Duration::from_micros(10);

pub async fn callers_sharing_a_fine_schedule_never_get_slots_closer_than_the_interval(
    w: Arc<dyn Warehouse>,
) {
    let batches = all_at_once(&w, 6, |w, _| async move {
        let mut slots = Vec::new();
        for _ in 0..50 {
            slots.push(w.reserve_slot("github", FINE).await.unwrap());
        }
        slots
    })
    .await;
    let mut all: Vec<_> = batches.into_iter().flatten().collect();
    all.sort();
    assert_eq!(all.len(), 300);
    let interval = Duration::from_std(FINE).unwrap();
    for pair in all.windows(2) {
        assert!(pair[1] - pair[0] >= interval, "{pair:?}");
    }
}

pub async fn a_hold_voids_the_slots_already_leased_before_it(w: Arc<dyn Warehouse>) {
    let first = w.reserve_slot("jira", FINE).await.unwrap();
    let hold = Utc::now() + Duration::seconds(30);
    assert!(first < hold);
    w.hold_slots_until("jira", hold).await.unwrap();
    for _ in 0..3 {
        let slot = w.reserve_slot("jira", FINE).await.unwrap();
        assert!(
            slot >= hold,
            "{slot} was handed out before the hold at {hold}"
        );
    }
}
