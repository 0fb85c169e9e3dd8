//! Reading what a server says about its own rate limits, from response
//! headers, into one answer: "do not send anything for this long".
//!
//! Headers honoured, in order of precedence:
//! - `Retry-After`: seconds or an HTTP date (GitHub secondary limits, Jira 429);
//! - `X-RateLimit-Reset`: epoch seconds (GitHub) or an ISO-8601 time (Jira),
//!   used with `X-RateLimit-Remaining: 0` or on a 429 without `Retry-After`.
//!
//! GitHub Enterprise Server is read the same way, with two differences the
//! client must survive. Where rate limiting is switched off, a server sends
//! no `x-ratelimit-*` headers at all, or `X-RateLimit-Limit: 0` with
//! `X-RateLimit-Remaining: 0`: neither means "used up, wait for the reset"
//! (a `0/0` is no quota, not an exhausted one), so only the configured
//! budget (`sources.github.requests_per_second`) paces the requests. And
//! GitHub's secondary rate limits — a 403 or 429 whose body says "You have
//! exceeded a secondary rate limit" (older versions: "abuse detection
//! mechanism") — are rate limits even without any header: the request waits
//! `Retry-After` when sent, else [`SECONDARY_LIMIT_DEFAULT_WAIT`], as GitHub
//! advises, and is never a permanent 403.

use crate::timestamps::{parse_http_date, parse_reset};
use chrono::{DateTime, Utc};
use dorafleet_core::Source;
use reqwest::header::HeaderMap;
use std::time::Duration;

/// How long a GitHub rate-limit refusal that names no time waits: GitHub's
/// documentation says to wait at least one minute before retrying.
pub const SECONDARY_LIMIT_DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// What a refused response (not a page) says about rate limits; see
/// [`RateLimitHeaders::refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitRefusal {
    /// Not a rate limit: classified by its status alone.
    NotRateLimited,
    /// A rate limit: no request before this long from receipt.
    Wait(Duration),
    /// A rate limit that names no time (a Jira or Jenkins 429 without
    /// `Retry-After` or a reset header): retried with the usual backoff.
    NoTimeNamed,
}

/// The rate-limit headers of one response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// `Retry-After`, seconds or an HTTP date, as a delay from receipt.
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Limit`: the quota's size; `Some(0)` on a GitHub
    /// Enterprise Server with rate limiting disabled.
    pub limit: Option<u64>,
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
            limit: text("x-ratelimit-limit").and_then(|v| v.trim().parse().ok()),
            remaining: text("x-ratelimit-remaining").and_then(|v| v.trim().parse().ok()),
            reset_at: text("x-ratelimit-reset").and_then(parse_reset),
        }
    }

    /// The quota is used up (`X-RateLimit-Remaining: 0`), unless the server
    /// says it has no quota at all (`X-RateLimit-Limit: 0`, see
    /// [`limit_disabled`](Self::limit_disabled)).
    pub fn exhausted(&self) -> bool {
        self.remaining == Some(0) && !self.limit_disabled()
    }

    /// The server says rate limiting is switched off (`X-RateLimit-Limit: 0`,
    /// as some GitHub Enterprise Server versions send with `Remaining: 0`).
    pub fn limit_disabled(&self) -> bool {
        self.limit == Some(0)
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

    /// Whether a refused response of `source` (status `status`, body `body`)
    /// is a rate limit, and how long to wait before the next request:
    ///
    /// - a 403 or 429 whose body names GitHub's secondary rate limit waits
    ///   `Retry-After`, else the reset time if the quota is also used up,
    ///   else [`SECONDARY_LIMIT_DEFAULT_WAIT`] (never the primary quota's
    ///   reset, which may be an hour away and says nothing about it);
    /// - a 429, or a 403 with `Retry-After` or a used-up quota, waits
    ///   `Retry-After`, else the reset time; naming neither, a GitHub one
    ///   waits [`SECONDARY_LIMIT_DEFAULT_WAIT`] and another source's is
    ///   [`RateLimitRefusal::NoTimeNamed`];
    /// - anything else (a 403 with `0/0` headers included: permissions, not
    ///   a quota) is [`RateLimitRefusal::NotRateLimited`].
    pub fn refusal(
        &self,
        source: Source,
        status: u16,
        body: &str,
        now: DateTime<Utc>,
    ) -> RateLimitRefusal {
        if !matches!(status, 403 | 429) {
            return RateLimitRefusal::NotRateLimited;
        }
        if is_secondary_rate_limit(body) {
            let reset = self.exhausted().then(|| self.until_reset(now)).flatten();
            return RateLimitRefusal::Wait(
                self.retry_after
                    .or(reset)
                    .unwrap_or(SECONDARY_LIMIT_DEFAULT_WAIT),
            );
        }
        let rate_limited = status == 429 || self.exhausted() || self.retry_after.is_some();
        if !rate_limited {
            return RateLimitRefusal::NotRateLimited;
        }
        let named = self.retry_after.or_else(|| {
            if self.limit_disabled() {
                None
            } else {
                self.until_reset(now)
            }
        });
        match (named, source) {
            (Some(wait), _) => RateLimitRefusal::Wait(wait),
            (None, Source::Github) => RateLimitRefusal::Wait(SECONDARY_LIMIT_DEFAULT_WAIT),
            (None, _) => RateLimitRefusal::NoTimeNamed,
        }
    }
}

/// Whether an error body is GitHub's secondary rate limit ("You have
/// exceeded a secondary rate limit…"; older GitHub Enterprise Server
/// versions: "You have triggered an abuse detection mechanism…").
pub fn is_secondary_rate_limit(body: &str) -> bool {
    let body = body.to_ascii_lowercase();
    body.contains("secondary rate limit") || body.contains("abuse detection mechanism")
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

    fn headers(pairs: &[(&'static str, &'static str)]) -> RateLimitHeaders {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        RateLimitHeaders::read(&map, now())
    }

    const SECONDARY: &str = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 1234:5678.","documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}"#;

    #[test]
    fn no_rate_limit_headers_at_all_neither_pause_nor_make_a_403_a_rate_limit() {
        // GHES with rate limiting disabled: no x-ratelimit-* headers.
        let limits = headers(&[]);
        assert_eq!(limits, RateLimitHeaders::default());
        assert!(!limits.exhausted());
        assert_eq!(limits.until_reset(now()), None);
        assert_eq!(
            limits.refusal(
                Source::Github,
                403,
                r#"{"message":"Must have admin rights"}"#,
                now()
            ),
            RateLimitRefusal::NotRateLimited
        );
        assert_eq!(
            limits.refusal(Source::Github, 404, "", now()),
            RateLimitRefusal::NotRateLimited
        );
    }

    #[test]
    fn a_zero_limit_with_zero_remaining_is_no_quota_not_a_used_up_one() {
        // GHES with rate limiting disabled, as some versions report it.
        let limits = headers(&[
            ("x-ratelimit-limit", "0"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "0"),
            ("x-ratelimit-used", "0"),
        ]);
        assert!(limits.limit_disabled());
        assert!(!limits.exhausted(), "0/0 must not read as exhausted");
        // A 403 with 0/0 is about permissions, not a quota: permanent.
        assert_eq!(
            limits.refusal(Source::Github, 403, r#"{"message":"Forbidden"}"#, now()),
            RateLimitRefusal::NotRateLimited
        );
        // A 429 with 0/0 is a rate limit, but the (epoch 0) reset is no time:
        // GitHub's default wait.
        assert_eq!(
            limits.refusal(Source::Github, 429, "", now()),
            RateLimitRefusal::Wait(SECONDARY_LIMIT_DEFAULT_WAIT)
        );
    }

    #[test]
    fn a_used_up_quota_with_a_positive_limit_is_still_exhausted() {
        let limits = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1635716221"),
        ]);
        assert!(limits.exhausted());
        assert_eq!(
            limits.refusal(
                Source::Github,
                403,
                r#"{"message":"API rate limit exceeded"}"#,
                now()
            ),
            RateLimitRefusal::Wait(Duration::from_secs(60))
        );
    }

    #[test]
    fn a_secondary_rate_limit_waits_retry_after() {
        let limits = headers(&[
            ("retry-after", "7"),
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4990"),
            ("x-ratelimit-reset", "1635719761"),
        ]);
        for status in [403, 429] {
            assert_eq!(
                limits.refusal(Source::Github, status, SECONDARY, now()),
                RateLimitRefusal::Wait(Duration::from_secs(7)),
                "{status}"
            );
        }
    }

    #[test]
    fn a_secondary_rate_limit_without_retry_after_waits_the_default_not_the_primary_reset() {
        // The primary quota resets in an hour and has plenty left: that reset
        // says nothing about the secondary limit.
        let limits = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4990"),
            ("x-ratelimit-reset", "1635719761"),
        ]);
        assert_eq!(
            limits.refusal(Source::Github, 403, SECONDARY, now()),
            RateLimitRefusal::Wait(SECONDARY_LIMIT_DEFAULT_WAIT)
        );
        // Without any header (GHES), and in the older wording.
        let bare = headers(&[]);
        assert_eq!(
            bare.refusal(Source::Github, 403, SECONDARY, now()),
            RateLimitRefusal::Wait(SECONDARY_LIMIT_DEFAULT_WAIT)
        );
        let abuse = r#"{"message":"You have triggered an abuse detection mechanism. Please wait a few minutes before you try again."}"#;
        assert_eq!(
            bare.refusal(Source::Github, 403, abuse, now()),
            RateLimitRefusal::Wait(SECONDARY_LIMIT_DEFAULT_WAIT)
        );
    }

    #[test]
    fn a_403_or_429_with_retry_after_is_a_rate_limit_whatever_its_body() {
        let limits = headers(&[("retry-after", "2")]);
        for status in [403, 429] {
            assert_eq!(
                limits.refusal(Source::Github, status, "", now()),
                RateLimitRefusal::Wait(Duration::from_secs(2))
            );
        }
        // Other statuses are classified by the client (a 503's Retry-After there).
        assert_eq!(
            limits.refusal(Source::Github, 503, "", now()),
            RateLimitRefusal::NotRateLimited
        );
    }

    #[test]
    fn a_429_naming_no_time_waits_a_minute_on_github_and_backs_off_elsewhere() {
        let limits = headers(&[]);
        assert_eq!(
            limits.refusal(Source::Github, 429, "", now()),
            RateLimitRefusal::Wait(SECONDARY_LIMIT_DEFAULT_WAIT)
        );
        for source in [Source::Jira, Source::Jenkins] {
            assert_eq!(
                limits.refusal(source, 429, "", now()),
                RateLimitRefusal::NoTimeNamed
            );
        }
    }
}
