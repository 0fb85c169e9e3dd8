//! The pace on tokio's paused clock: every instant below is exact, so a
//! request sent a millisecond early (overshoot) or a second late (idling)
//! fails the test.

use super::*;
use reqwest::header::{HeaderMap, HeaderValue};

fn per_second(n: u32) -> RateGate {
    RateGate::new(NonZeroU32::new(n).unwrap())
}

/// Sends one request through `gate` that the server answers after `rtt`;
/// returns when it was sent (the server counts it between then and the
/// answer, so both are recorded).
async fn request(gate: &RateGate, rtt: Duration, limits: &RateLimitHeaders) -> (Instant, Instant) {
    let (turn, _) = gate.wait_turn().await;
    turn.sent(Duration::ZERO);
    let sent = Instant::now();
    tokio::time::sleep(rtt).await;
    turn.answered(limits);
    (sent, Instant::now())
}

/// The most requests any window `[t, t + 1 s)` can have seen, the server
/// counting each one at any instant between its send and its answer: the
/// worst case is every request counted at the latest instant of an earlier
/// request's window, i.e. request `k + n` at its send against request `k`
/// at its answer.
fn worst_case_in_any_second(requests: &[(Instant, Instant)]) -> usize {
    let mut worst = 0;
    for (i, (_, answered)) in requests.iter().enumerate() {
        let counted = requests[i..]
            .iter()
            .take_while(|(sent, _)| *sent < *answered + WINDOW)
            .count();
        worst = worst.max(counted);
    }
    worst
}

fn no_quota() -> RateLimitHeaders {
    RateLimitHeaders::default()
}

fn quota(remaining: u64, reset_in_secs: i64) -> RateLimitHeaders {
    let mut headers = HeaderMap::new();
    let reset = (Utc::now() + chrono::Duration::seconds(reset_in_secs)).timestamp();
    headers.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from_str(&remaining.to_string()).unwrap(),
    );
    headers.insert(
        "x-ratelimit-reset",
        HeaderValue::from_str(&reset.to_string()).unwrap(),
    );
    RateLimitHeaders::read(&headers, Utc::now())
}

#[tokio::test(start_paused = true)]
async fn a_pause_holds_back_the_next_turn() {
    let gate = per_second(1000);
    drop(gate.wait_turn().await);
    let pause = gate.pause_for(Duration::from_millis(150));
    assert!(pause > Duration::from_millis(140), "{pause:?}");
    let (_, waited) = gate.wait_turn().await;
    assert!(waited >= Duration::from_millis(140), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_shorter_pause_does_not_shorten_a_longer_one() {
    let gate = per_second(10);
    gate.pause_for(Duration::from_secs(5));
    let effective = gate.pause_for(Duration::from_secs(1));
    assert!(effective > Duration::from_secs(4), "{effective:?}");
}

#[tokio::test(start_paused = true)]
async fn the_request_after_a_full_second_waits_exactly_a_second_after_the_first_was_answered() {
    let gate = per_second(5);
    let rtt = Duration::from_millis(30);
    let mut requests = Vec::new();
    for _ in 0..6 {
        requests.push(request(&gate, rtt, &no_quota()).await);
    }
    let first_answered = requests[0].1;
    assert_eq!(requests[5].0, first_answered + WINDOW, "{requests:?}");
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_never_exceed_the_budget_in_any_second_and_do_not_idle() {
    let gate = std::sync::Arc::new(per_second(20));
    let started = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let gate = std::sync::Arc::clone(&gate);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in 0..50u64 {
                    // Round trips of 5 to 45 ms, different per task and request.
                    let rtt = Duration::from_millis(5 + (task * 7 + i * 13) % 41);
                    seen.push(request(&gate, rtt, &no_quota()).await);
                }
                seen
            })
        })
        .collect();
    let mut requests = Vec::new();
    for task in tasks {
        requests.extend(task.await.unwrap());
    }
    requests.sort();
    assert_eq!(requests.len(), 200);
    assert!(worst_case_in_any_second(&requests) <= 20);
    // 200 requests at 20/s: the floor is 10 s; the last window starts at
    // 9 s plus the round trips each window waits for (at most 45 ms).
    let elapsed = started.elapsed();
    let floor = Duration::from_secs(10);
    assert!(
        elapsed <= floor + floor / 20,
        "took {elapsed:?}, floor {floor:?}: the pace idled"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_request_holds_back_the_one_a_second_after_it() {
    let gate = per_second(2);
    let (slow, _) = gate.wait_turn().await;
    slow.sent(Duration::ZERO);
    request(&gate, Duration::ZERO, &no_quota()).await;
    let waiting = {
        let gate = &gate;
        async move { gate.wait_turn().await.1 }
    };
    tokio::pin!(waiting);
    // Far past a second, the slow request is still unanswered: no turn.
    tokio::select! {
        _ = &mut waiting => panic!("a turn was given while the window's first request was unanswered"),
        () = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
    slow.answered(&no_quota());
    let waited = waiting.await;
    assert_eq!(waited, Duration::from_secs(6));
}

#[tokio::test(start_paused = true)]
async fn a_spent_quota_sends_nothing_more_until_its_reset() {
    let gate = per_second(100);
    let started = Instant::now();
    request(&gate, Duration::ZERO, &quota(1, 30)).await;
    request(&gate, Duration::ZERO, &quota(0, 30)).await;
    let (_, waited) = gate.wait_turn().await;
    assert!(
        waited >= Duration::from_secs(29) && started.elapsed() <= Duration::from_secs(31),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn requests_in_flight_count_against_what_the_quota_has_left() {
    let gate = per_second(100);
    request(&gate, Duration::ZERO, &quota(2, 60)).await;
    let (first, _) = gate.wait_turn().await;
    first.sent(Duration::ZERO);
    let (second, _) = gate.wait_turn().await;
    second.sent(Duration::ZERO);
    // Two in flight and two left: a third would be one too many.
    let third = async { gate.wait_turn().await.1 };
    tokio::pin!(third);
    tokio::select! {
        _ = &mut third => panic!("a third request was sent with two left and two in flight"),
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    // A 304 left the count where it was: one more may go.
    first.answered(&quota(2, 59));
    second.answered(&quota(1, 59));
    let waited = third.await;
    assert!(waited < Duration::from_secs(2), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_zero_of_zero_quota_is_no_quota_and_holds_nothing_back() {
    let mut headers = HeaderMap::new();
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        headers.insert(name, HeaderValue::from_static("0"));
    }
    let disabled = RateLimitHeaders::read(&headers, Utc::now());
    let gate = per_second(100);
    let started = Instant::now();
    for _ in 0..5 {
        request(&gate, Duration::ZERO, &disabled).await;
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn the_fleet_interval_is_a_second_and_the_longest_round_trip_and_lateness_shared_by_the_budget()
 {
    let gate = per_second(10);
    // Every margin also holds a tick of the timer (1 ms).
    assert_eq!(gate.interval(), (WINDOW + FIRST_MARGIN + TIMER_TICK) / 10);
    request(&gate, Duration::from_millis(40), &no_quota()).await;
    request(&gate, Duration::from_millis(10), &no_quota()).await;
    drop(gate.wait_turn().await);
    assert_eq!(gate.interval(), Duration::from_micros(104_100));
    // A request that left 30 ms after its fleet slot: 10 ms round trip, and
    // its lateness is margin too.
    let (turn, _) = gate.wait_turn().await;
    turn.sent(Duration::from_millis(30));
    tokio::time::sleep(Duration::from_millis(20)).await;
    turn.answered(&no_quota());
    drop(gate.wait_turn().await);
    assert_eq!(gate.interval(), Duration::from_micros(105_100));
}

/// What `Pace` keeps counted, worked out again from its slots.
fn counted_again(gate: &RateGate) -> (usize, Option<Duration>) {
    let pace = gate.lock_pace();
    let unanswered = pace.recent.iter().filter(|s| s.answered.is_none()).count();
    let margin = pace.recent.iter().filter_map(Slot::round_trip).max();
    (unanswered, margin)
}

#[tokio::test(start_paused = true)]
async fn the_pace_keeps_its_counts_right_through_turns_answered_given_up_and_pushed_out() {
    let gate = per_second(3);
    let check = |gate: &RateGate, step: &str| {
        let kept = {
            let pace = gate.lock_pace();
            (pace.unanswered, pace.margin())
        };
        assert_eq!(kept, counted_again(gate), "after {step}");
    };
    // Answered with different round trips, one of them late.
    request(&gate, Duration::from_millis(30), &no_quota()).await;
    check(&gate, "one answered");
    let (late, _) = gate.wait_turn().await;
    late.sent(Duration::from_millis(25));
    tokio::time::sleep(Duration::from_millis(10)).await;
    late.answered(&no_quota());
    check(&gate, "one answered late");
    // Taken and given up before it was sent: it leaves the window.
    drop(gate.wait_turn().await);
    check(&gate, "one given up unsent");
    // Sent and never answered (a transport error).
    let (lost, _) = gate.wait_turn().await;
    lost.sent(Duration::ZERO);
    check(&gate, "one in flight");
    tokio::time::sleep(Duration::from_millis(5)).await;
    drop(lost);
    check(&gate, "one lost in flight");
    // Enough more to push the first ones out of the window.
    for rtt in [1, 2, 3, 4] {
        request(&gate, Duration::from_millis(rtt), &no_quota()).await;
        check(&gate, &format!("a request of {rtt} ms"));
    }
    assert_eq!(gate.lock_pace().recent.len(), 3);
    assert_eq!(
        gate.lock_pace().margin(),
        Some(Duration::from_millis(4)),
        "the long round trips left the window with their slots"
    );
}
