//! JQL date bounds in the API user's time zone.
//!
//! Jira reads a JQL date such as `"2026-03-08 03:00"` in the time zone of
//! the user who calls the API (its `/myself` → `timeZone`), not in UTC. A
//! window `[from, to)` of UTC instants is therefore written as the wall
//! times of `from` and `to` in that zone, minute by minute: a lower bound
//! rounded down, an upper bound rounded up, so the window may grow by under
//! a minute at each end but never loses anything.
//!
//! Daylight saving time changes which wall times exist. A wall time the
//! clocks skip (spring forward) is never written: it is no instant's wall
//! time. A wall time the clocks show twice (fall back) is ambiguous; the
//! bound is then moved outwards until every reading of it still holds the
//! window (the lower bound earlier, the upper bound later), so whichever of
//! the two instants Jira picks, nothing is lost.
//!
//! When the user's zone is unknown (no `timeZone`, or a name this build does
//! not know), the bounds are the UTC wall times widened by 14 hours on each
//! side, the largest offset of any zone: the search reads up to 14 hours
//! more on each side, which is harmless (issues are upserted by key), and
//! nothing inside the window is lost.

use chrono::{DateTime, Duration, DurationRound, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The zone JQL dates are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JqlZone {
    /// The API user's zone, as `/myself` named it.
    Known(Tz),
    /// Not known: UTC wall times widened by [`UNKNOWN_ZONE_MARGIN_HOURS`].
    Unknown,
}

/// How far the bounds are widened when the user's zone is unknown: no
/// zone's offset from UTC is larger.
pub const UNKNOWN_ZONE_MARGIN_HOURS: i64 = 14;

impl JqlZone {
    /// UTC: the zone JQL bounds were written in before the crawl asked.
    pub const UTC: JqlZone = JqlZone::Known(Tz::UTC);

    /// The zone `/myself` names (an IANA name such as `America/New_York`);
    /// [`JqlZone::Unknown`] when there is none or it is not a zone name.
    pub fn named(name: Option<&str>) -> JqlZone {
        name.map(str::trim)
            .filter(|n| !n.is_empty())
            .and_then(|n| n.parse::<Tz>().ok())
            .map_or(JqlZone::Unknown, JqlZone::Known)
    }

    /// The JQL lower bound (`updated >= "…"`) of a window starting at `from`.
    pub fn lower_bound(self, from: DateTime<Utc>) -> String {
        let from = floor_minute(from);
        match self {
            JqlZone::Unknown => {
                format_wall((from - Duration::hours(UNKNOWN_ZONE_MARGIN_HOURS)).naive_utc())
            }
            JqlZone::Known(tz) => {
                let mut wall = from.with_timezone(&tz).naive_local();
                // Every reading of the wall time must be at or before `from`.
                while readings(tz, wall).iter().any(|t| *t > from) {
                    wall -= Duration::minutes(1);
                }
                format_wall(wall)
            }
        }
    }

    /// The JQL upper bound (`updated < "…"`) of a window ending at `to`.
    pub fn upper_bound(self, to: DateTime<Utc>) -> String {
        let to = ceil_minute(to);
        match self {
            JqlZone::Unknown => {
                format_wall((to + Duration::hours(UNKNOWN_ZONE_MARGIN_HOURS)).naive_utc())
            }
            JqlZone::Known(tz) => {
                let mut wall = to.with_timezone(&tz).naive_local();
                // Every reading of the wall time must be at or after `to`; a
                // wall time that does not exist is not written.
                while readings(tz, wall).iter().any(|t| *t < to) || readings(tz, wall).is_empty() {
                    wall += Duration::minutes(1);
                }
                format_wall(wall)
            }
        }
    }
}

/// The instants a wall time of `tz` can mean: one, two (the hour the
/// clocks show twice) or none (the hour they skip).
pub fn readings(tz: Tz, wall: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        LocalResult::None => Vec::new(),
    }
}

/// `YYYY-MM-DD HH:mm`, the JQL date format the crawl writes.
fn format_wall(wall: NaiveDateTime) -> String {
    wall.format("%Y-%m-%d %H:%M").to_string()
}

pub(crate) fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

pub(crate) fn ceil_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_minute(t);
    if floor == t {
        t
    } else {
        floor + Duration::minutes(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn new_york() -> JqlZone {
        JqlZone::named(Some("America/New_York"))
    }

    #[test]
    fn new_york_bounds_follow_the_spring_forward_switch() {
        let ny = new_york();
        // EST (UTC−05:00) before 2026-03-08 07:00Z, EDT (UTC−04:00) after.
        assert_eq!(
            ny.lower_bound(utc("2026-03-08T00:00:00Z")),
            "2026-03-07 19:00"
        );
        assert_eq!(
            ny.lower_bound(utc("2026-03-08T06:59:00Z")),
            "2026-03-08 01:59"
        );
        assert_eq!(
            ny.lower_bound(utc("2026-03-08T07:00:00Z")),
            "2026-03-08 03:00"
        );
        assert_eq!(
            ny.upper_bound(utc("2026-03-09T00:00:00Z")),
            "2026-03-08 20:00"
        );
        assert_eq!(
            ny.upper_bound(utc("2026-03-08T07:00:00Z")),
            "2026-03-08 03:00"
        );
        // The skipped hour (02:00–02:59 local) is never written.
        for minute in 0..120 {
            let t = utc("2026-03-08T06:00:00Z") + Duration::minutes(minute);
            for bound in [ny.lower_bound(t), ny.upper_bound(t)] {
                assert!(!bound.starts_with("2026-03-08 02:"), "{t}: {bound}");
            }
        }
        // Days of the window tile: one day's upper bound is the next one's lower.
        let day = utc("2026-03-08T00:00:00Z");
        assert_eq!(
            ny.upper_bound(day + Duration::days(1)),
            ny.lower_bound(day + Duration::days(1))
        );
    }

    #[test]
    fn every_bound_read_back_in_the_zone_holds_the_window() {
        let ny = new_york();
        let Some(JqlZone::Known(tz)) = Some(ny) else {
            unreachable!()
        };
        let read = |text: &str| {
            let wall = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
            readings(tz, wall)
        };
        // Both switches of 2026 and the hours around them, every 10 minutes.
        for start in [utc("2026-03-08T04:00:00Z"), utc("2026-11-01T03:00:00Z")] {
            for step in 0..36 {
                let t = start + Duration::minutes(10 * step) + Duration::seconds(17);
                let lower = read(&ny.lower_bound(t));
                let upper = read(&ny.upper_bound(t));
                assert!(!lower.is_empty() && lower.iter().all(|r| *r <= t), "{t}");
                assert!(!upper.is_empty() && upper.iter().all(|r| *r >= t), "{t}");
                assert!(lower.iter().all(|r| t - *r < Duration::hours(2)), "{t}");
                assert!(upper.iter().all(|r| *r - t < Duration::hours(2)), "{t}");
            }
        }
        // 01:30 is shown twice on 2026-11-01 (05:30Z EDT, 06:30Z EST): a
        // lower bound at the first is moved before the hour shown twice, an
        // upper bound at the second after it.
        let (first, second) = (utc("2026-11-01T05:30:00Z"), utc("2026-11-01T06:30:00Z"));
        assert_eq!(ny.lower_bound(first), "2026-11-01 00:59");
        assert_eq!(ny.lower_bound(second), "2026-11-01 01:30");
        assert_eq!(ny.upper_bound(first), "2026-11-01 01:30");
        assert_eq!(ny.upper_bound(second), "2026-11-01 02:00");
    }

    #[test]
    fn utc_bounds_are_the_instants_rounded_outwards_and_an_unknown_zone_widens_them() {
        assert_eq!(
            JqlZone::UTC.lower_bound(utc("2024-03-01T10:15:42Z")),
            "2024-03-01 10:15"
        );
        assert_eq!(
            JqlZone::UTC.upper_bound(utc("2024-03-02T00:00:00.001Z")),
            "2024-03-02 00:01"
        );
        assert_eq!(JqlZone::named(Some("Mars/Olympus")), JqlZone::Unknown);
        assert_eq!(JqlZone::named(None), JqlZone::Unknown);
        assert_eq!(
            JqlZone::Unknown.lower_bound(utc("2026-03-08T00:00:00Z")),
            "2026-03-07 10:00"
        );
        assert_eq!(
            JqlZone::Unknown.upper_bound(utc("2026-03-09T00:00:00Z")),
            "2026-03-09 14:00"
        );
    }
}
