//! The one source of "now" for everything that bounds time: which days are
//! over, where a run's window ends, how far a watermark may move, which
//! records are still watched.
//!
//! In production it is the system clock. Tests and simulations that move
//! time themselves (the simulator has its own clock) use a manual clock, so
//! an hour of simulated time passes in a statement instead of an hour of
//! sleeping, and the pipeline and the simulator agree on what "now" is.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The system clock, or a manual one shared by every clone.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            None => f.write_str("Clock(system)"),
            Some(_) => write!(f, "Clock(manual at {})", self.now()),
        }
    }
}

impl Clock {
    /// The system clock (`Utc::now()`), the default.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stands at `start` until [`set`](Self::set) moves it;
    /// every clone sees the same instant.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start.timestamp_micros()))),
        }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// The current instant (microsecond precision on a manual clock).
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => Utc::now(),
            Some(micros) => DateTime::from_timestamp_micros(micros.load(Ordering::SeqCst))
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        }
    }

    /// Moves a manual clock to `t`. The system clock cannot be moved: the
    /// call returns `false` and changes nothing.
    pub fn set(&self, t: DateTime<Utc>) -> bool {
        match &self.manual {
            None => false,
            Some(micros) => {
                micros.store(t.timestamp_micros(), Ordering::SeqCst);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn a_manual_clock_stands_still_until_moved_and_clones_move_with_it() {
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let clock = Clock::manual(start);
        let clone = clock.clone();
        assert_eq!(clock.now(), start);
        assert!(clock.set(start + Duration::hours(1)));
        assert_eq!(clone.now(), start + Duration::hours(1));
    }

    #[test]
    fn the_system_clock_follows_real_time_and_cannot_be_set() {
        let clock = Clock::system();
        let before = Utc::now();
        assert!(clock.now() >= before);
        assert!(!clock.set(DateTime::<Utc>::UNIX_EPOCH));
        assert!(clock.now() >= before);
    }
}
