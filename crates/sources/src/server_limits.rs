//! Reading what a server says about its own rate limits, from response
//! headers, into one answer: "do not send anything for this long".
//!
//! Headers honoured, in order of precedence:
//! - `Retry-After`: seconds or an HTTP date (GitHub secondary limits, Jira 429);
//! - `X-RateLimit-Reset`: epoch seconds (GitHub) or an ISO-8601 time (Jira),
//!   used with `X-RateLimit-Remaining: 0` or on a 429 without `Retry-After`.

use crate::timestamps::{parse_http_date, parse_reset};
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use std::time::Duration;

/// The rate-limit headers of one response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// `Retry-After`, seconds or an HTTP date, as a delay from receipt.
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Remaining`: requests left in the current quota.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset` (epoch seconds or ISO-8601), in UTC.
    pub reset_at: Option<DateTime<Utc>>,
}

impl RateLimitHeaders {
    /// Reads the headers of a response received at `now`.
    pub fn read(headers: &HeaderMap, now: DateTime<Utc>) -> RateLimitHeaders {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        RateLimitHeaders {
            retry_after: text("retry-after").and_then(|v| parse_retry_after(v, now)),
            remaining: text("x-ratelimit-remaining").and_then(|v| v.trim().parse().ok()),
            reset_at: text("x-ratelimit-reset").and_then(parse_reset),
        }
    }

    /// The quota is used up (`X-RateLimit-Remaining: 0`).
    pub fn exhausted(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Time until the quota resets, from `now`; `None` without a reset header.
    pub fn until_reset(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.reset_at
            .map(|reset| (reset - now).to_std().unwrap_or(Duration::ZERO))
    }

    /// How long a refused request (429, or 403 from a rate limiter) must wait:
    /// `Retry-After` first, then the reset time. `None` if the server named
    /// neither.
    pub fn refusal_wait(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.retry_after.or_else(|| self.until_reset(now))
    }
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    parse_http_date(value).map(|at| (at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn now() -> DateTime<Utc> {
        "2021-10-31T21:36:01Z".parse().unwrap()
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 31 Oct 2021 21:36:31 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 31 Oct 2021 21:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("later", now()), None);
    }

    #[test]
    fn an_exhausted_quota_waits_until_the_reset_time() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        // 1635716221 = 2021-10-31T21:37:01Z, one minute after `now`.
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1635716221"));
        let limits = RateLimitHeaders::read(&headers, now());
        assert!(limits.exhausted());
        assert_eq!(limits.refusal_wait(now()), Some(Duration::from_secs(60)));
    }

    #[test]
    fn retry_after_wins_over_the_reset_time() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        headers.insert(
            "x-ratelimit-reset",
            HeaderValue::from_static("2021-10-31T22:00:00Z"),
        );
        let limits = RateLimitHeaders::read(&headers, now());
        assert!(!limits.exhausted());
        assert_eq!(limits.refusal_wait(now()), Some(Duration::from_secs(3)));
    }

    #[test]
    fn jiras_iso_reset_time_is_understood() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ratelimit-reset",
            HeaderValue::from_static("2021-10-31T21:36:11.000+0000"),
        );
        let limits = RateLimitHeaders::read(&headers, now());
        assert_eq!(limits.refusal_wait(now()), Some(Duration::from_secs(10)));
    }
}
