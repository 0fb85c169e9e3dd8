//! The request budget of one source client, shared by every task that uses it.
//!
//! Two mechanisms, both awaited before each request:
//! - our own budget: a GCRA limiter (governor) at `requests_per_second` with a
//!   burst of 1 and a little headroom, so the server never counts more than the
//!   budget in any one-second window even when network jitter bunches requests;
//! - the server's word: a shared "paused until" instant set from `Retry-After`
//!   or rate-limit reset headers. Every request of the client waits for it, not
//!   only the one that was refused.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How much longer than `1 / requests_per_second` the spacing between requests
/// is. Requests are spaced on our clock but counted on the server's; this
/// absorbs the difference in transit (and scheduling) delays of the first and
/// last request of a window: at 20 requests/s, 8 % leaves 80 ms of slack
/// (3 % — 30 ms — was exceeded once on a loaded two-core machine).
pub(crate) const HEADROOM: f64 = 1.08;

/// The upper bound of a server-requested pause, so a wildly wrong clock or
/// header cannot park a client for days.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(3600);

pub(crate) struct RateGate {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
    interval: Duration,
}

impl std::fmt::Debug for RateGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateGate")
            .field("interval", &self.interval)
            .field("paused_until", &self.paused_until())
            .finish()
    }
}

impl RateGate {
    pub(crate) fn new(requests_per_second: NonZeroU32) -> RateGate {
        let interval = Duration::from_secs_f64(HEADROOM / f64::from(requests_per_second.get()));
        let quota = Quota::with_period(interval)
            .expect("a positive request rate gives a positive interval")
            .allow_burst(NonZeroU32::MIN);
        RateGate {
            limiter: RateLimiter::direct(quota),
            paused_until: Mutex::new(None),
            interval,
        }
    }

    /// Waits until a request may be sent; returns how long that took.
    pub(crate) async fn wait_turn(&self) -> Duration {
        let started = Instant::now();
        loop {
            if let Some(until) = self.paused_until().filter(|u| *u > Instant::now()) {
                tokio::time::sleep_until(until).await;
            }
            self.limiter.until_ready().await;
            // A pause may have been set while we queued for the limiter: the
            // token is spent, but sending now would be refused anyway.
            if self.paused_until().is_none_or(|u| u <= Instant::now()) {
                return started.elapsed();
            }
        }
    }

    /// The spacing between two requests (budget plus headroom).
    pub(crate) fn interval(&self) -> Duration {
        self.interval
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

    fn paused_until(&self) -> Option<Instant> {
        *self.paused_until.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_holds_back_the_next_turn() {
        let gate = RateGate::new(NonZeroU32::new(1000).unwrap());
        gate.wait_turn().await;
        let pause = gate.pause_for(Duration::from_millis(150));
        assert!(pause > Duration::from_millis(140), "{pause:?}");
        let waited = gate.wait_turn().await;
        assert!(waited >= Duration::from_millis(140), "{waited:?}");
    }

    #[tokio::test]
    async fn a_shorter_pause_does_not_shorten_a_longer_one() {
        let gate = RateGate::new(NonZeroU32::new(10).unwrap());
        gate.pause_for(Duration::from_secs(5));
        let effective = gate.pause_for(Duration::from_secs(1));
        assert!(effective > Duration::from_secs(4), "{effective:?}");
    }
}
