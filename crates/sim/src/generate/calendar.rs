//! Which days are busy: weekdays at full volume, weekends at about a quarter,
//! and one holiday week at about a fifth, so that volume checks downstream
//! have realistic seasonality to learn from (and to be fooled by).

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rand::Rng;

pub(crate) const WEEKEND_VOLUME: f64 = 0.25;
pub(crate) const HOLIDAY_VOLUME: f64 = 0.2;
/// The holiday week never starts in the first four weeks, so that a history
/// of normal weeks exists before it.
const HOLIDAY_EARLIEST_OFFSET_DAYS: u32 = 28;
const HOLIDAY_LENGTH_DAYS: u32 = 7;

#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub holiday_start: Option<NaiveDate>,
}

impl Calendar {
    pub(crate) fn new(end_date: NaiveDate, days: u32, rng: &mut impl Rng) -> Calendar {
        let end = midnight(end_date);
        let start = end - Duration::days(i64::from(days));
        let latest_offset = days.checked_sub(HOLIDAY_LENGTH_DAYS);
        let holiday_start = match latest_offset {
            Some(latest) if latest >= HOLIDAY_EARLIEST_OFFSET_DAYS => {
                let offset = rng.random_range(HOLIDAY_EARLIEST_OFFSET_DAYS..=latest);
                Some(start.date_naive() + Duration::days(i64::from(offset)))
            }
            _ => None,
        };
        Calendar {
            start,
            end,
            holiday_start,
        }
    }

    pub(crate) fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let end = self.end.date_naive();
        self.start
            .date_naive()
            .iter_days()
            .take_while(move |d| *d < end)
    }

    pub(crate) fn is_holiday(&self, day: NaiveDate) -> bool {
        self.holiday_start
            .is_some_and(|h| day >= h && day < h + Duration::days(i64::from(HOLIDAY_LENGTH_DAYS)))
    }

    /// Relative amount of human activity on `day` (1.0 = an ordinary weekday).
    pub(crate) fn volume(&self, day: NaiveDate) -> f64 {
        let weekday = if is_weekend(day) { WEEKEND_VOLUME } else { 1.0 };
        let holiday = if self.is_holiday(day) {
            HOLIDAY_VOLUME
        } else {
            1.0
        };
        weekday * holiday
    }
}

pub(crate) fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

pub(crate) fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}
