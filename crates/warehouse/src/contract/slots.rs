//! The contract of the warehouse's slots role: fleet-wide request slots.

use super::*;
use std::num::NonZeroU32;

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

pub async fn runs_of_slots_reserved_at_once_never_come_closer_than_the_interval(
    w: Arc<dyn Warehouse>,
) {
    let interval = std::time::Duration::from_millis(5);
    let counts = [1, 3, 7, 2];
    let runs = all_at_once(&w, 8, move |w, i| async move {
        let mut slots = Vec::new();
        for round in 0..5 {
            let count = counts[(i + round) % counts.len()];
            let first = w
                .reserve_slots("github", interval, NonZeroU32::new(count).unwrap())
                .await
                .unwrap();
            let step = Duration::from_std(interval).unwrap();
            slots.extend((0..count).map(|k| first + step * i32::try_from(k).unwrap()));
        }
        slots
    })
    .await;
    let reserved: u32 = (0..8)
        .flat_map(|i| (0..5).map(move |round| counts[(i + round) % counts.len()]))
        .sum();
    let mut all: Vec<_> = runs.into_iter().flatten().collect();
    all.sort();
    assert_eq!(all.len(), reserved as usize);
    for pair in all.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::milliseconds(5), "{pair:?}");
    }
    let after = w.reserve_slot("github", interval).await.unwrap();
    assert!(after - *all.last().unwrap() >= Duration::milliseconds(5));
}
