//! Request-slot schedules, leased a window at a time.
//!
//! Every API request takes a slot of its source's schedule. One write
//! transaction per request was a tenth of a worker's time in SQLite, and
//! the write lock it takes is the one every bronze page waits for. So a
//! process leases slots in bulk and hands them out itself.
//!
//! A lease cannot simply be the next stretch of time: while one process
//! held the next 100 ms, every other process would wait for it to pass, so
//! with the budget not binding two workers would take turns. Instead the
//! schedule is cut into *windows* of about [`LEASE_HORIZON`]: a window is a
//! grid of instants `step` apart (the interval, plus a little headroom),
//! dealt out in [`PHASES`] interleaved *phases* — phase `p` holds the
//! instants `start + p·step + k·PHASES·step`. A lease is one phase, taken in
//! one IMMEDIATE transaction; processes leasing from the same window get
//! different phases, so their slots interleave and never coincide, and no
//! two are closer than `step` — at least the interval of whoever opened the
//! window (a caller asking for a longer interval opens a window of its own
//! after it). A window ends where the next begins (`next_at`), so the
//! schedule's old single-slot rule still holds between windows.
//!
//! Where the interval is so long that a window would give a phase fewer than
//! two slots (a budget of tens of requests per second), a window is one slot
//! and one phase: exactly the old reservation, one transaction per request.
//!
//! A hold (a server's `Retry-After`) is kept beside the schedule
//! (`held_until`) and moves `next_at`; leased slots before it are dropped
//! when handed out, which reads the hold first (a read on a read-only
//! connection: it takes no lock a writer waits for).

use super::{SqliteWarehouse, parse_ts, ts, unavailable};
use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// About how much of the schedule a window covers.
const LEASE_HORIZON: Duration = Duration::from_millis(100);
/// Processes that can lease from one window at once (more wait for the next).
const PHASES: i64 = 16;
/// The widest spacing of one phase's slots worth leasing: a request waits
/// for its process's next slot, up to this long. Measured (workers bench,
/// 2,000 requests/s, a stride of 8 ms): five times slower than one write per
/// request, so coarser schedules reserve one slot per request as before.
const MAX_STRIDE: Duration = Duration::from_micros(250);

/// The leases of one warehouse handle (shared by its clones), per schedule.
pub(super) type Leases = Arc<Mutex<HashMap<String, Lease>>>;

/// Slots this process leased and has not handed out yet.
#[derive(Debug, Default)]
pub(super) struct Lease {
    /// Ascending, in nanoseconds since the epoch.
    slots: VecDeque<i64>,
    /// The grid spacing of the window they came from.
    step: i64,
    /// The spacing of one phase's slots: beyond it, the lease runs late.
    stride: i64,
    /// The last slot handed out.
    last: Option<i64>,
}

impl Lease {
    /// The next leased slot no earlier than `floor` and at least `interval`
    /// after the last one handed out, if it is not so far ahead that a
    /// fresh phase would serve sooner.
    fn take(&mut self, floor: i64, interval: i64, now: i64) -> Option<i64> {
        let floor = floor.max(self.last.map_or(i64::MIN, |l| l.saturating_add(interval)));
        while self.slots.front().is_some_and(|&s| s < floor) {
            self.slots.pop_front();
        }
        let slot = *self
            .slots
            .front()
            .filter(|&&s| s <= floor.max(now).saturating_add(self.stride))?;
        self.slots.pop_front();
        self.last = Some(slot);
        Some(slot)
    }

    /// Adds a fresh phase and hands out its first slot that keeps `interval`
    /// from the last one handed out (the first slot of a phase is never
    /// earlier than the transaction's now, as a single reservation was).
    fn refill_and_take(&mut self, fresh: Phase, interval: i64) -> Option<i64> {
        // Slots of a window of another step are given up: a finer window's
        // neighbours are closer than a coarser caller may be to anyone.
        if fresh.step != self.step {
            self.slots.clear();
        }
        self.step = fresh.step;
        self.stride = fresh.step * fresh.phases;
        self.slots.extend(fresh.slots);
        self.slots.make_contiguous().sort_unstable();
        let floor = self.last.map_or(i64::MIN, |l| l.saturating_add(interval));
        while self.slots.front().is_some_and(|&s| s < floor) {
            self.slots.pop_front();
        }
        let slot = self.slots.pop_front()?;
        self.last = Some(slot);
        Some(slot)
    }
}

/// One phase leased from a window.
#[derive(Debug)]
struct Phase {
    slots: Vec<i64>,
    step: i64,
    phases: i64,
}

/// The window a schedule is dealing out.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    step: i64,
    slots: i64,
    phases: i64,
    taken: i64,
}

impl Window {
    /// The window for callers asking `interval` apart: its step, slots per
    /// phase and phases.
    fn shape(interval: i64) -> (i64, i64, i64) {
        let horizon = i64::try_from(LEASE_HORIZON.as_nanos()).unwrap_or(i64::MAX);
        // A little headroom, so a caller whose measured interval grew a
        // little can still join the window.
        let step = interval.saturating_add(interval / 20).max(1);
        let stride = step.saturating_mul(PHASES);
        let per_phase = horizon / stride;
        let max_stride = i64::try_from(MAX_STRIDE.as_nanos()).unwrap_or(i64::MAX);
        if per_phase < 2 || stride > max_stride {
            (interval.max(1), 1, 1)
        } else {
            (step, per_phase, PHASES)
        }
    }

    fn end(&self) -> i64 {
        let span = self
            .slots
            .saturating_mul(self.phases)
            .saturating_mul(self.step);
        self.start.saturating_add(span)
    }

    /// Phase `p`'s slots no earlier than `floor`.
    fn phase(&self, p: i64, floor: i64) -> Vec<i64> {
        (0..self.slots)
            .map(|k| {
                let offset = (p + k * self.phases).saturating_mul(self.step);
                self.start.saturating_add(offset)
            })
            .filter(|&s| s >= floor)
            .collect()
    }
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn instant(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// Leases a phase of schedule `key` for callers `interval` apart: joins the
/// open window when it has a phase left and is fine enough, else opens the
/// next window.
fn lease_phase(conn: &mut Connection, key: &str, interval: i64) -> Result<Phase> {
    // IMMEDIATE: read-then-write under the write lock, so two processes never
    // lease the same phase.
    let tx = super::write_tx(conn)?;
    let row = tx
        .prepare_cached(
            "SELECT next_at, held_until, window_start_ns, window_step_ns, window_slots,
                    window_phases, window_taken
             FROM slot_schedules WHERE key = ?1",
        )
        .and_then(|mut select| {
            select
                .query_row(params![key], |r| {
                    let window = match (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?) {
                        (Some(start), Some(step), Some(slots), Some(phases), Some(taken)) => {
                            Some(Window {
                                start,
                                step,
                                slots,
                                phases,
                                taken,
                            })
                        }
                        _ => None,
                    };
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        window,
                    ))
                })
                .optional()
        })
        .map_err(unavailable)?;
    let now = nanos(Utc::now());
    let (next_at, held, open) = match row {
        Some((next_at, held, window)) => (
            nanos(parse_ts(&next_at)?),
            held.as_deref().map(parse_ts).transpose()?.map(nanos),
            window,
        ),
        None => (now, None, None),
    };
    let floor = now.max(held.unwrap_or(i64::MIN));
    let joined = open
        .filter(|w| w.step >= interval && w.taken < w.phases && w.end() > floor)
        .map(|w| (w, w.phase(w.taken, floor)))
        .filter(|(_, slots)| !slots.is_empty());
    let (window, slots) = match joined {
        Some((w, slots)) => (
            Window {
                taken: w.taken + 1,
                ..w
            },
            slots,
        ),
        None => {
            let (step, per_phase, phases) = Window::shape(interval);
            let window = Window {
                start: floor.max(next_at),
                step,
                slots: per_phase,
                phases,
                taken: 1,
            };
            (window, window.phase(0, i64::MIN))
        }
    };
    tx.prepare_cached(
        "INSERT INTO slot_schedules (key, next_at, window_start_ns, window_step_ns,
             window_slots, window_phases, window_taken)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (key) DO UPDATE SET next_at = max(next_at, excluded.next_at),
             window_start_ns = excluded.window_start_ns, window_step_ns = excluded.window_step_ns,
             window_slots = excluded.window_slots, window_phases = excluded.window_phases,
             window_taken = excluded.window_taken",
    )
    .and_then(|mut upsert| {
        upsert.execute(params![
            key,
            ts(instant(window.end())),
            window.start,
            window.step,
            window.slots,
            window.phases,
            window.taken,
        ])
    })
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)?;
    Ok(Phase {
        slots,
        step: window.step,
        phases: window.phases,
    })
}

/// The schedule's hold, as of the last committed write.
fn held_until(conn: &mut Connection, key: &str) -> Result<Option<i64>> {
    let held: Option<Option<String>> = conn
        .prepare_cached("SELECT held_until FROM slot_schedules WHERE key = ?1")
        .and_then(|mut select| select.query_row(params![key], |r| r.get(0)).optional())
        .map_err(unavailable)?;
    held.flatten()
        .as_deref()
        .map(|t| parse_ts(t).map(nanos))
        .transpose()
}

fn reserve_slot(w: &SqliteWarehouse, key: &str, interval: Duration) -> Result<DateTime<Utc>> {
    let interval = i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX);
    let mut leases = w.leases.lock().unwrap_or_else(|p| p.into_inner());
    let lease = leases.entry(key.to_owned()).or_default();
    // Leased slots serve only callers no finer than the window they came from.
    if lease.step >= interval && !lease.slots.is_empty() {
        let held = w.read_now(|c| held_until(c, key))?;
        let now = nanos(Utc::now());
        if let Some(slot) = lease.take(now.max(held.unwrap_or(i64::MIN)), interval, now) {
            return Ok(instant(slot));
        }
    }
    // A fresh phase whose slots all fall within `interval` of the last one
    // handed out (a caller asking a longer interval than before) is passed
    // over: later phases and windows come after it.
    for _ in 0..=PHASES {
        let phase = w.write_now(|c| lease_phase(c, key, interval))?;
        if let Some(slot) = lease.refill_and_take(phase, interval) {
            return Ok(instant(slot));
        }
    }
    Err(crate::WarehouseError::unavailable(format!(
        "no request slot of `{key}` could be leased {interval} ns after the last one"
    )))
}

fn hold_slots_until(conn: &mut Connection, key: &str, not_before: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT INTO slot_schedules (key, next_at, held_until) VALUES (?1, ?2, ?2)
         ON CONFLICT (key) DO UPDATE SET next_at = max(next_at, excluded.next_at),
             held_until = max(coalesce(held_until, ''), excluded.held_until)",
        params![key, ts(not_before)],
    )
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl crate::RequestSlots for SqliteWarehouse {
    async fn reserve_slot(&self, key: &str, interval: Duration) -> Result<DateTime<Utc>> {
        let key = key.to_owned();
        self.blocking(move |w| reserve_slot(w, &key, interval))
            .await
    }

    async fn hold_slots_until(&self, key: &str, not_before: DateTime<Utc>) -> Result<()> {
        let key = key.to_owned();
        self.with_conn(move |c| hold_slots_until(c, &key, not_before))
            .await
    }
}

#[cfg(test)]
#[path = "slots_tests.rs"]
mod tests;
