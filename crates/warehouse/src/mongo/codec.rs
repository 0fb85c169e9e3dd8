//! How values are written into MongoDB documents and read back.
//!
//! The contract compares exact round trips, and BSON dates hold only
//! milliseconds, so instants are stored as fixed-width RFC 3339 UTC text with
//! nanoseconds (the SQLite format): text order is time order, and operators
//! reading a document in `mongosh` see a readable time. Where the server must
//! do arithmetic on an instant (request slots) it is stored as i64
//! nanoseconds instead; bronze additionally keeps a BSON date for its TTL
//! index. Ids are hyphenated UUID text, so `_id` order matches SQLite's.

use crate::{Result, WarehouseError};
use chrono::{DateTime, SecondsFormat, Utc};
use dorafleet_core::Source;
use mongodb::bson::{self, Bson};
use uuid::Uuid;

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| WarehouseError::corrupt_from(format!("bad timestamp `{s}`"), e))
}

/// Nanoseconds since the epoch; instants outside 1677–2262 do not fit.
pub(crate) fn nanos(t: DateTime<Utc>) -> Result<i64> {
    t.timestamp_nanos_opt().ok_or_else(|| {
        WarehouseError::corrupt(format!("instant {t} is outside the storable range"))
    })
}

pub(crate) fn from_nanos(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// The instant as a BSON date (milliseconds, rounded down), for TTL indexes.
pub(crate) fn bson_date(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| WarehouseError::corrupt_from(format!("bad uuid `{s}`"), e))
}

pub(crate) fn parse_source(s: &str) -> Result<Source> {
    s.parse()
        .map_err(|e| WarehouseError::corrupt_from("unreadable value", e))
}

/// Counts are unsigned in Rust and signed in BSON; none comes near the limit.
pub(crate) fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn uint(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A number the server computed (`$sum` answers Int32, Int64 or Double
/// depending on its inputs).
pub(crate) fn number(value: Option<&Bson>) -> u64 {
    match value {
        Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Int64(n)) => uint(*n),
        Some(Bson::Double(n)) if *n >= 0.0 => *n as u64,
        _ => 0,
    }
}

pub(crate) fn corrupt(what: &str) -> impl Fn(String) -> WarehouseError + '_ {
    move |e| WarehouseError::corrupt(format!("{what}: {e}"))
}

/// Serialize a stored-document struct.
pub(crate) fn to_doc<T: serde::Serialize>(value: &T) -> Result<bson::Document> {
    bson::to_document(value).map_err(|e| WarehouseError::corrupt_from("encoding", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn instants_round_trip_exactly_and_text_order_is_time_order() {
        let a = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        let b = a + chrono::Duration::nanoseconds(1);
        assert_eq!(parse_ts(&ts(a)).unwrap(), a);
        assert!(ts(a) < ts(b));
        assert_eq!(from_nanos(nanos(a).unwrap()), a);
        assert_eq!(
            bson_date(a).timestamp_millis(),
            a.timestamp_millis(),
            "BSON dates keep milliseconds"
        );
    }

    #[test]
    fn server_sums_read_whatever_numeric_type_they_come_back_as() {
        assert_eq!(number(Some(&Bson::Int32(3))), 3);
        assert_eq!(number(Some(&Bson::Int64(38))), 38);
        assert_eq!(number(Some(&Bson::Double(7.0))), 7);
        assert_eq!(number(None), 0);
    }
}
