//! Small sampling helpers shared by the generators: Poisson counts, hex ids,
//! times of day, durations.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;

use super::calendar::midnight;

/// A Poisson-distributed count with mean `lambda` (Knuth's method; our means are small).
pub(crate) fn poisson(rng: &mut impl Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let limit = (-lambda).exp();
    let mut product: f64 = rng.random();
    let mut count = 0;
    while product > limit {
        product *= rng.random::<f64>();
        count += 1;
    }
    count
}

pub(crate) fn hex(rng: &mut impl Rng, len: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdef";
    (0..len)
        .map(|_| DIGITS[rng.random_range(0..16)] as char)
        .collect()
}

pub(crate) fn sha(rng: &mut impl Rng) -> String {
    hex(rng, 40)
}

/// A SHA-shaped id derived from `text` without a random draw (FNV-1a over
/// three salts), for records added without disturbing any random stream.
pub(crate) fn derived_sha(text: &str) -> String {
    (0u8..3)
        .map(|salt| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            for b in std::iter::once(salt).chain(text.bytes()) {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            format!("{hash:016x}")
        })
        .collect::<String>()[..40]
        .to_owned()
}

/// A whole-second instant on `day` between the two hours (UTC).
pub(crate) fn time_of_day(
    rng: &mut impl Rng,
    day: NaiveDate,
    from_hour: u32,
    to_hour: u32,
) -> DateTime<Utc> {
    let seconds = rng.random_range(i64::from(from_hour) * 3600..i64::from(to_hour) * 3600);
    midnight(day) + Duration::seconds(seconds)
}

/// Like [`time_of_day`] with millisecond precision (Jira and Jenkins keep millis).
pub(crate) fn time_of_day_ms(
    rng: &mut impl Rng,
    day: NaiveDate,
    from_hour: u32,
    to_hour: u32,
) -> DateTime<Utc> {
    let millis = rng.random_range(i64::from(from_hour) * 3_600_000..i64::from(to_hour) * 3_600_000);
    midnight(day) + Duration::milliseconds(millis)
}

/// A whole-second duration uniformly in `[min_secs, max_secs)`.
pub(crate) fn seconds_between(rng: &mut impl Rng, min_secs: i64, max_secs: i64) -> Duration {
    Duration::seconds(rng.random_range(min_secs..max_secs))
}

/// A duration of `min_hours + span_hours * u²`: mostly short, sometimes long.
pub(crate) fn skewed_hours(rng: &mut impl Rng, min_hours: f64, span_hours: f64) -> Duration {
    let u: f64 = rng.random();
    let hours = min_hours + span_hours * u * u;
    Duration::seconds((hours * 3600.0).round() as i64)
}

/// Picks an index according to relative weights.
pub(crate) fn weighted_index(rng: &mut impl Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut roll = rng.random_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if roll < *w {
            return i;
        }
        roll -= w;
    }
    weights.len() - 1
}
