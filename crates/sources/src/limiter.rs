//! The request pace of one source client, shared by every task that uses it.
//!
//! Three rules, all awaited before each request:
//!
//! - **our own budget**, `requests_per_second`, as the server counts it: no
//!   more than N requests in any one-second window of the server's clock.
//!   We cannot see when the server counts a request, only that it did so
//!   before its response arrived. So request `k + N` is sent no earlier than
//!   one second after the response to request `k` arrived: whatever the
//!   transit times, `k + N` reaches the server at least a second after `k`.
//!   The margin this leaves is each request's own round trip, measured
//!   rather than guessed — a millisecond or two on a quiet loopback, more by
//!   itself on a loaded machine or a distant server. (It replaces a fixed
//!   8 % stretch of every interval, which cost 8 % of every budget-bound
//!   sync and had still been exceeded once, at 3 %, on a loaded machine.)
//! - **the server's quota**: the `X-RateLimit-Remaining` and
//!   `X-RateLimit-Reset` of the last response (GitHub; Jira Cloud on the
//!   endpoints that send them; Jenkins sends none). Never more requests are
//!   in flight than the quota has left, and once it is spent nothing is sent
//!   before the reset: the quota is used to its last request and not one
//!   more, so an exhausted quota costs no refused request. A `304` leaves
//!   GitHub's count unchanged, and the next response says so. The quota is
//!   not spread evenly until the reset: that would finish no sooner a sync
//!   larger than the quota, and would slow down every sync smaller than it.
//! - **the server's word**: a shared "paused until" instant set from
//!   `Retry-After` or rate-limit reset headers. Every request of the client
//!   waits for it, not only the one that was refused.

use crate::server_limits::RateLimitHeaders;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The upper bound of a server-requested pause, so a wildly wrong clock or
/// header cannot park a client for days.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// The window the budget is counted over.
const WINDOW: Duration = Duration::from_secs(1);

/// The round-trip margin assumed before any request was answered (only the
/// fleet's slot interval uses it; the local rule waits for real answers).
const FIRST_MARGIN: Duration = Duration::from_millis(20);

/// The resolution of the runtime's timers: a request waiting for its slot
/// can leave up to this late however quiet the machine, so the margin
/// always holds it (a request later than the margin gives its slot up).
const TIMER_TICK: Duration = Duration::from_millis(1);

pub(crate) struct RateGate {
    per_second: usize,
    pace: Mutex<Pace>,
    /// Woken whenever a request is answered or given up.
    answered: Notify,
    paused_until: Mutex<Option<Instant>>,
}

/// Where a gate's requests stand. `recent` holds up to `per_second` slots
/// (10,000 for a generous budget), so nothing a request does scans it: the
/// requests not answered yet are counted, the round trips of the answered
/// ones are kept as a multiset (the margin is its largest), and a slot is
/// found by its id, which grows along `recent`. Scanning it took a sixth of
/// a worker's CPU in the workers benchmark, whose budgets are 10,000/s.
#[derive(Debug, Default)]
struct Pace {
    /// The last `per_second` requests, in the order they took their turn
    /// (so in the order of their ids).
    recent: VecDeque<Slot>,
    next_id: u64,
    /// The server's quota as of the last response that named one.
    quota: Option<Quota>,
    /// How many slots of `recent` are not answered yet.
    unanswered: usize,
    /// The round trips (lateness included) of the answered slots of
    /// `recent`, each with how many slots have it.
    round_trips: BTreeMap<Duration, usize>,
}

impl Pace {
    fn push(&mut self, slot: Slot) {
        if slot.answered.is_none() {
            self.unanswered += 1;
        }
        self.recent.push_back(slot);
    }

    fn pop_front(&mut self) {
        if let Some(slot) = self.recent.pop_front() {
            self.forget(slot);
        }
    }

    fn remove(&mut self, i: usize) {
        if let Some(slot) = self.recent.remove(i) {
            self.forget(slot);
        }
    }

    /// Takes a slot leaving `recent` out of the count and the round trips.
    fn forget(&mut self, slot: Slot) {
        if slot.answered.is_none() {
            self.unanswered -= 1;
        } else if let Some(round_trip) = slot.round_trip()
            && let Some(count) = self.round_trips.get_mut(&round_trip)
        {
            *count -= 1;
            if *count == 0 {
                self.round_trips.remove(&round_trip);
            }
        }
    }

    /// Marks the slot at `i` answered at `at` (once).
    fn answer(&mut self, i: usize, at: Instant) {
        let slot = &mut self.recent[i];
        if slot.answered.is_some() {
            return;
        }
        slot.answered = Some(at);
        self.unanswered -= 1;
        if let Some(round_trip) = slot.round_trip() {
            *self.round_trips.entry(round_trip).or_default() += 1;
        }
    }

    fn index_of(&self, id: u64) -> Option<usize> {
        self.recent.binary_search_by_key(&id, |s| s.id).ok()
    }

    /// The longest round trip among answered requests still in `recent`.
    fn margin(&self) -> Option<Duration> {
        self.round_trips
            .last_key_value()
            .map(|(round_trip, _)| *round_trip)
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u64,
    sent: Option<Instant>,
    answered: Option<Instant>,
    /// How much later than its fleet slot the request left.
    late: Duration,
}

impl Slot {
    /// From sending to answer, plus how late it left: what the margin
    /// learns from it, once it is answered.
    fn round_trip(&self) -> Option<Duration> {
        Some(self.answered? - self.sent? + self.late)
    }
}

#[derive(Debug, Clone, Copy)]
struct Quota {
    remaining: u64,
    reset: Instant,
}

/// What a caller waits for before its turn.
enum Wait {
    Until(Instant),
    AnAnswer,
}

impl std::fmt::Debug for RateGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateGate")
            .field("per_second", &self.per_second)
            .field("paused_until", &self.paused_until())
            .finish()
    }
}

impl RateGate {
    pub(crate) fn new(requests_per_second: NonZeroU32) -> RateGate {
        RateGate {
            per_second: requests_per_second.get() as usize,
            pace: Mutex::new(Pace::default()),
            answered: Notify::new(),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until a request may be sent; returns its turn (to report when
    /// it was sent and answered) and how long the wait took.
    pub(crate) async fn wait_turn(&self) -> (Turn<'_>, Duration) {
        let started = Instant::now();
        loop {
            if let Some(until) = self.paused_until().filter(|u| *u > Instant::now()) {
                tokio::time::sleep_until(until).await;
            }
            // Registered before the pace is read, so an answer arriving in
            // between still wakes this caller.
            let answer = self.answered.notified();
            tokio::pin!(answer);
            answer.as_mut().enable();
            let wait = match self.try_take(Instant::now()) {
                Ok(id) => {
                    // A pause may have been set while we queued.
                    if self.paused_until().is_none_or(|u| u <= Instant::now()) {
                        let turn = Turn {
                            gate: self,
                            id,
                            done: false,
                        };
                        return (turn, started.elapsed());
                    }
                    self.give_back(id, None);
                    continue;
                }
                Err(wait) => wait,
            };
            match wait {
                Wait::Until(at) => tokio::time::sleep_until(at).await,
                Wait::AnAnswer => answer.await,
            }
        }
    }

    /// Takes the next turn at `now`, or says what to wait for.
    fn try_take(&self, now: Instant) -> Result<u64, Wait> {
        let mut pace = self.lock_pace();
        let in_flight = pace.unanswered as u64;
        if let Some(quota) = pace.quota {
            if quota.reset <= now {
                pace.quota = None;
            } else if quota.remaining <= in_flight {
                return Err(if in_flight > 0 {
                    Wait::AnAnswer
                } else {
                    Wait::Until(quota.reset)
                });
            }
        }
        if pace.recent.len() >= self.per_second {
            let oldest = pace.recent[pace.recent.len() - self.per_second];
            match oldest.answered {
                Some(answered) if answered + WINDOW > now => {
                    return Err(Wait::Until(answered + WINDOW));
                }
                Some(_) => {}
                None => return Err(Wait::AnAnswer),
            }
        }
        while pace.recent.len() >= self.per_second {
            pace.pop_front();
        }
        let id = pace.next_id;
        pace.next_id += 1;
        pace.push(Slot {
            id,
            sent: None,
            answered: None,
            late: Duration::ZERO,
        });
        Ok(id)
    }

    /// The request of turn `id` is done: answered at `at` (with the
    /// server's rate-limit headers), or given up (`None`).
    fn give_back(&self, id: u64, answer: Option<(Instant, Option<&RateLimitHeaders>)>) {
        let mut pace = self.lock_pace();
        if let Some(i) = pace.index_of(id) {
            match (answer, pace.recent[i].sent) {
                // Never sent: it takes no place in the window.
                (_, None) => pace.remove(i),
                (Some((at, _)), Some(_)) => pace.answer(i, at),
                // Sent, no answer (transport error, cancelled): counted as
                // answered now, the latest the server can have seen it.
                (None, Some(_)) => pace.answer(i, Instant::now()),
            }
        }
        if let Some((at, Some(limits))) = answer
            && let Some(quota) = quota_of(limits, at)
        {
            pace.quota = Some(quota);
        }
        drop(pace);
        self.answered.notify_waiters();
    }

    fn mark_sent(&self, id: u64, late: Duration) {
        let mut pace = self.lock_pace();
        // Only before its answer: an answered slot's round trip is counted.
        if let Some(i) = pace.index_of(id)
            && pace.recent[i].answered.is_none()
        {
            let slot = &mut pace.recent[i];
            slot.sent = Some(Instant::now());
            slot.late = late;
        }
    }

    /// The spacing of the fleet's shared schedule (see `FleetBudget`): a
    /// second and a margin, shared by the budget. Other processes' answers
    /// cannot be seen here, so the margin is the longest recent round trip
    /// plus how late the request left after its slot (a timer firing late
    /// moves a request towards the next one, as transit does).
    pub(crate) fn interval(&self) -> Duration {
        (WINDOW + self.margin()) / self.per_second as u32
    }

    /// The margin [`interval`](Self::interval) spreads over a second's
    /// slots: the measured one and a tick of the timer.
    pub(crate) fn margin(&self) -> Duration {
        self.lock_pace().margin().unwrap_or(FIRST_MARGIN) + TIMER_TICK
    }

    /// No request of this client is sent before `now + pause`.
    /// Returns the pause actually in force (an earlier, longer one wins).
    pub(crate) fn pause_for(&self, pause: Duration) -> Duration {
        let now = Instant::now();
        let until = now + pause.min(MAX_PAUSE);
        let mut guard = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        let effective = match *guard {
            Some(existing) if existing > until => existing,
            _ => until,
        };
        *guard = Some(effective);
        effective.saturating_duration_since(now)
    }

    /// The earliest instant this gate could give a turn, as far as the
    /// server has said: the end of a pause, or the reset of a spent quota.
    /// `None` when nothing holds it back (its pace aside).
    pub(crate) fn held_until(&self) -> Option<Instant> {
        let now = Instant::now();
        let paused = self.paused_until().filter(|u| *u > now);
        let spent = self
            .lock_pace()
            .quota
            .filter(|q| q.remaining == 0 && q.reset > now)
            .map(|q| q.reset);
        paused.max(spent)
    }

    fn paused_until(&self) -> Option<Instant> {
        *self.paused_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_pace(&self) -> MutexGuard<'_, Pace> {
        self.pace.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The quota a response names, as an instant on this clock; `None` without
/// one, or where the server says it has none (`X-RateLimit-Limit: 0`).
fn quota_of(limits: &RateLimitHeaders, at: Instant) -> Option<Quota> {
    if limits.limit_disabled() {
        return None;
    }
    let remaining = limits.remaining?;
    let now: DateTime<Utc> = Utc::now();
    let until_reset = limits.until_reset(now)?;
    Some(Quota {
        remaining,
        reset: at + until_reset.min(MAX_PAUSE),
    })
}

/// One request's place in the pace: report when it is sent and answered.
/// Dropped unanswered, the request counts as answered then (if it was sent)
/// or gives its place back (if it was not).
pub(crate) struct Turn<'a> {
    gate: &'a RateGate,
    id: u64,
    done: bool,
}

impl Turn<'_> {
    /// The request leaves now, `late` after the fleet slot it waited for
    /// (zero without one).
    pub(crate) fn sent(&self, late: Duration) {
        self.gate.mark_sent(self.id, late);
    }

    /// The response's headers arrived now, with these rate-limit headers.
    pub(crate) fn answered(mut self, limits: &RateLimitHeaders) {
        self.done = true;
        self.gate
            .give_back(self.id, Some((Instant::now(), Some(limits))));
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.gate.give_back(self.id, None);
        }
    }
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
