//! How long to wait before the next attempt of a failed task.
//!
//! The schedule is exponential with a cap (built with `backon`), and the actual
//! delay uses *full jitter*: a uniform draw in `[0, ceiling]`. Full jitter
//! spreads a thundering herd of retries far better than adding a little noise
//! to a fixed delay (backon's own jitter adds at most one base delay). The
//! delay depends only on the attempt number carried in the envelope, so any
//! stateless worker computes the same bounds for the same task.

use crate::envelope::TaskEnvelope;
use crate::error::TaskError;
use backon::{BackoffBuilder, ExponentialBuilder};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `[retry]` section: the backoff schedule of failed tasks and their
/// retry budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Ceiling of the first retry's delay, in milliseconds.
    pub base_ms: u64,
    /// Growth of the ceiling per attempt.
    pub factor: f32,
    /// Largest ceiling, in milliseconds.
    pub cap_ms: u64,
    /// Consecutive attempts without progress, the first one included; then the
    /// task is dead-lettered. An attempt that progressed starts the count anew.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_ms: 1_000,
            factor: 2.0,
            cap_ms: 45 * 60 * 1_000,
            max_attempts: 6,
        }
    }
}

/// What the worker does with a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// Republish the next attempt after this delay.
    RetryAfter(Duration),
    /// Give up: dead-letter the task with this reason.
    DeadLetter {
        /// Why: the permanent error, or the exhausted budget and last error.
        reason: String,
    },
}

impl RetryPolicy {
    /// The upper bound of the delay after failed attempt `attempt` (1-based):
    /// `min(cap, base * factor^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let steps = attempt.max(1) as usize;
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.base_ms))
            .with_max_delay(Duration::from_millis(self.cap_ms.max(self.base_ms)))
            .with_factor(self.factor.max(1.0))
            .with_max_times(steps)
            .build()
            .nth(steps - 1)
            .unwrap_or(Duration::from_millis(self.cap_ms))
    }

    /// A full-jitter delay for failed attempt `attempt`: uniform in `[0, ceiling]`.
    pub fn jittered_delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rng.random_range(0..=ceiling))
    }

    /// Failed attempts in a row that made no progress, ending with this one
    /// (0 when this one progressed).
    pub fn strikes(task: &TaskEnvelope, progressed: bool) -> u32 {
        if progressed {
            return 0;
        }
        1 + task
            .history
            .iter()
            .rev()
            .take_while(|a| !a.progressed)
            .count() as u32
    }

    /// Decide what happens after `task` failed with `error`; `progressed`
    /// says whether this attempt got further than the previous one.
    pub fn decide(
        &self,
        task: &TaskEnvelope,
        error: &TaskError,
        progressed: bool,
    ) -> RetryDecision {
        if matches!(error, TaskError::Permanent { .. }) {
            return RetryDecision::DeadLetter {
                reason: error.detail(),
            };
        }
        let strikes = Self::strikes(task, progressed);
        if strikes >= task.max_attempts {
            return RetryDecision::DeadLetter {
                reason: format!(
                    "retries exhausted after {strikes} attempts without progress; last error: {}",
                    error.detail()
                ),
            };
        }
        let backoff = self.jittered_delay(strikes.max(1), &mut rand::rng());
        // The server's word wins over our backoff: never come back earlier than it asked.
        let delay = error
            .retry_after()
            .map_or(backoff, |after| after.max(backoff));
        RetryDecision::RetryAfter(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Scope, Source, Stage, Window};
    use chrono::Utc;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base_ms: 100,
            factor: 2.0,
            cap_ms: 1_000,
            max_attempts: 4,
        }
    }

    fn failed(attempt: u32, progressed: bool) -> crate::envelope::AttemptRecord {
        crate::envelope::AttemptRecord {
            attempt,
            at: Utc::now(),
            worker: "w".into(),
            class: crate::error::ErrorClass::Transient,
            message: "503".into(),
            progressed,
        }
    }

    fn task(attempt: u32) -> TaskEnvelope {
        let now = Utc::now();
        let mut t = TaskEnvelope::new(
            uuid::Uuid::now_v7(),
            Stage::Extract,
            Some(Source::Jira),
            Scope {
                team: "t".into(),
                target: None,
            },
            Window {
                from: now - chrono::Duration::days(1),
                to: now,
            },
            4,
        );
        for a in 1..attempt {
            t = t.next_attempt(failed(a, false));
        }
        t
    }

    #[test]
    fn ceilings_grow_exponentially_until_the_cap() {
        let p = policy();
        let ms: Vec<u128> = (1..=6).map(|a| p.ceiling(a).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn jittered_delays_stay_within_zero_and_the_ceiling_and_spread_out() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<Duration> = (0..200).map(|_| p.jittered_delay(3, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(400)));
        let below_half = delays
            .iter()
            .filter(|d| **d < Duration::from_millis(200))
            .count();
        assert!((50..150).contains(&below_half), "not uniform: {below_half}");
    }

    #[test]
    fn permanent_errors_and_exhausted_tasks_are_dead_lettered() {
        let p = policy();
        assert!(matches!(
            p.decide(&task(1), &TaskError::permanent("HTTP 404"), true),
            RetryDecision::DeadLetter { .. }
        ));
        match p.decide(&task(4), &TaskError::transient("HTTP 503"), false) {
            RetryDecision::DeadLetter { reason } => {
                assert!(
                    reason.contains("exhausted after 4 attempts without progress"),
                    "{reason}"
                )
            }
            other => panic!("expected dead letter, got {other:?}"),
        }
    }

    #[test]
    fn retry_after_from_the_server_is_a_floor_for_the_delay() {
        let p = policy();
        let err = TaskError::RetryAfter {
            after: Duration::from_secs(5),
            message: "429".into(),
        };
        assert_eq!(
            p.decide(&task(1), &err, false),
            RetryDecision::RetryAfter(Duration::from_secs(5))
        );
    }

    #[test]
    fn attempts_that_progress_do_not_use_up_the_budget() {
        let p = policy();
        let mut t = task(1);
        for a in 1..10 {
            t = t.next_attempt(failed(a, a % 2 == 0));
        }
        assert_eq!(t.attempt, 10);
        assert_eq!(RetryPolicy::strikes(&t, false), 2);
        assert!(matches!(
            p.decide(&t, &TaskError::transient("503"), false),
            RetryDecision::RetryAfter(_)
        ));
        assert_eq!(RetryPolicy::strikes(&task(4), false), 4);
    }
}
