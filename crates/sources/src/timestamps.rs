//! Every source writes time differently; this module turns each format into
//! UTC once, at decode time, so nothing downstream ever compares a local time
//! with a UTC one.
//!
//! - GitHub: RFC 3339 with `Z` (`2021-10-31T21:36:01Z`).
//! - Jira: `2021-06-18T18:41:29.398+0000` (offset without colon, often not UTC);
//!   `+00:00`, missing millis and a trailing `Z` are tolerated too.
//! - Jenkins: epoch milliseconds.
//! - Rate-limit reset headers: epoch seconds (GitHub) or ISO-8601 (Jira).

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use serde::{Deserialize, Deserializer};

/// A timestamp that none of the accepted formats could read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable timestamp `{given}`: expected {expected}")]
pub struct TimestampError {
    /// The text as received.
    pub given: String,
    /// The format(s) that were tried, with an example.
    pub expected: &'static str,
}

/// GitHub's RFC 3339 timestamps (any offset is accepted and converted).
pub fn parse_github(text: &str) -> Result<DateTime<Utc>, TimestampError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| TimestampError {
            given: text.to_owned(),
            expected: "RFC 3339, e.g. 2021-10-31T21:36:01Z",
        })
}

/// Jira's `yyyy-MM-ddTHH:mm:ss.SSS±hhmm`, converted to UTC.
pub fn parse_jira(text: &str) -> Result<DateTime<Utc>, TimestampError> {
    let text = text.trim();
    // `%.f` accepts a missing fraction; `%z` accepts `+0000` and `+00:00`.
    DateTime::<FixedOffset>::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| TimestampError {
            given: text.to_owned(),
            expected: "Jira time, e.g. 2021-06-18T18:41:29.398+0000",
        })
}

/// Jenkins' epoch milliseconds.
pub fn from_epoch_millis(millis: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(millis).single()
}

/// A rate-limit reset header: epoch seconds (GitHub `x-ratelimit-reset`) or an
/// ISO-8601 time (Jira `X-RateLimit-Reset`).
pub fn parse_reset(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Utc.timestamp_opt(text.parse().ok()?, 0).single();
    }
    parse_jira(text).ok()
}

/// An HTTP date (`Sun, 31 Oct 2021 21:36:01 GMT`), as used by `Retry-After`.
pub fn parse_http_date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Serde adapter for required Jira timestamps.
pub(crate) fn jira_time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    parse_jira(&text).map_err(serde::de::Error::custom)
}

/// Serde adapter for nullable Jira timestamps (`resolutiondate: null`).
pub(crate) fn jira_time_opt<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(text) => parse_jira(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn jira_times_with_any_offset_style_become_utc() {
        let expected = utc("2021-06-18T18:41:29.398Z");
        assert_eq!(
            parse_jira("2021-06-18T18:41:29.398+0000").unwrap(),
            expected
        );
        assert_eq!(
            parse_jira("2021-06-18T18:41:29.398+00:00").unwrap(),
            expected
        );
        assert_eq!(
            parse_jira("2021-06-18T13:41:29.398-0500").unwrap(),
            expected
        );
        assert_eq!(parse_jira("2021-06-18T18:41:29.398Z").unwrap(), expected);
        assert_eq!(
            parse_jira("2021-06-18T20:41:29+0200").unwrap(),
            utc("2021-06-18T18:41:29Z")
        );
    }

    #[test]
    fn a_jira_time_without_offset_is_rejected_rather_than_guessed() {
        let err = parse_jira("2021-06-18T18:41:29.398").unwrap_err();
        assert!(err.to_string().contains("2021-06-18T18:41:29.398"), "{err}");
    }

    #[test]
    fn github_times_are_rfc3339() {
        assert_eq!(
            parse_github("2021-10-31T21:36:01Z").unwrap(),
            utc("2021-10-31T21:36:01Z")
        );
        assert!(parse_github("31/10/2021").is_err());
    }

    #[test]
    fn jenkins_epoch_millis_become_utc() {
        assert_eq!(
            from_epoch_millis(1_461_091_892_486).unwrap(),
            utc("2016-04-19T18:51:32.486Z")
        );
    }

    #[test]
    fn reset_headers_are_read_as_epoch_seconds_or_iso_times() {
        assert_eq!(
            parse_reset("1635719751").unwrap(),
            utc("2021-10-31T22:35:51Z")
        );
        assert_eq!(
            parse_reset("2024-03-27T15:23:45Z").unwrap(),
            utc("2024-03-27T15:23:45Z")
        );
        assert_eq!(parse_reset("soon"), None);
    }

    #[test]
    fn http_dates_are_read() {
        assert_eq!(
            parse_http_date("Sun, 31 Oct 2021 21:36:01 GMT").unwrap(),
            utc("2021-10-31T21:36:01Z")
        );
    }
}
