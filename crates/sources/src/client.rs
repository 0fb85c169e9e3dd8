//! The HTTP client of one source, shared by every task of a process.
//!
//! It owns everything that must be per source and not per task: the
//! connection pool, the rate budget and server pauses, the token, and the
//! cumulative call statistics. It also classifies every failure where it
//! happens, so the worker only reads the class of the returned `TaskError`.
//!
//! Whatever the server does, a request stays bounded: redirects are followed
//! only within the configured origin (scheme, host, port), at most five in a
//! row — a hop elsewhere fails permanently naming both origins, like a
//! foreign `Link` target, and nothing from it is read or stored; a body is
//! read as a stream and never beyond `sources.<source>.max_response_bytes`
//! (an answer declared or found larger fails permanently; an error answer's
//! body is read up to 64 KiB for its excerpt); and the credentials of the
//! request are redacted from any body excerpt an error quotes.

use crate::limiter::RateGate;
use crate::link::next_link;
use crate::page::{FetchedPage, PageRequest};
use crate::server_limits::RateLimitHeaders;
use crate::token::{TokenFile, TokenSource};
use crate::urls::resolve;
use chrono::Utc;
use dorafleet_core::{Source, SourceConfig, TaskError};
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

const USER_AGENT: &str = concat!("dorafleet/", env!("CARGO_PKG_VERSION"));

/// Longest body excerpt quoted in an error message.
const EXCERPT_CHARS: usize = 200;

/// Redirects followed in a row within the configured origin.
const MAX_REDIRECTS: usize = 5;

/// Most of an error answer's body that is read (only an excerpt is quoted).
const REFUSAL_BODY_BYTES: u64 = 64 * 1024;

/// Why the client refused to follow a redirect. Carried as the cause of the
/// reqwest error, so that [`transport_error`] can tell it apart.
#[derive(Debug, thiserror::Error)]
enum RedirectRefusal {
    /// The same rule as for `Link` targets (see `urls::resolve`): the token
    /// goes with every request, and an answer from elsewhere is not the
    /// source's.
    #[error(
        "refusing a redirect to {found}: not the configured origin {expected}; the answer is neither read nor stored"
    )]
    ForeignOrigin {
        /// The origin the redirect points at.
        found: String,
        /// The origin of the configured base URL.
        expected: String,
    },
    /// Redirects within the origin that do not end.
    #[error("more than {MAX_REDIRECTS} redirects in a row, last to {last}")]
    TooMany {
        /// The last redirect target.
        last: String,
    },
}

/// Why a client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `base_url` does not parse, or is not `http(s)://` with a host.
    #[error("{system}: base URL `{url}` is invalid: {reason}")]
    InvalidBaseUrl {
        /// The source being configured.
        system: Source,
        /// The configured base URL, as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configured `token_file` cannot be read, or holds no token.
    #[error("{system}: cannot read token file {path}: {reason}")]
    TokenFile {
        /// The source being configured.
        system: Source,
        /// The token file's path, as configured.
        path: String,
        /// The I/O or parse error.
        reason: String,
    },
    /// A setting is out of range (e.g. `timeout_ms` of 0).
    #[error("{system}: invalid configuration: {reason}")]
    InvalidConfig {
        /// The source being configured.
        system: Source,
        /// Which setting, and why.
        reason: String,
    },
    /// `reqwest` could not build its client (usually TLS initialisation).
    #[error("{system}: cannot build the HTTP client (TLS initialisation?): {reason}")]
    HttpClient {
        /// The source being configured.
        system: Source,
        /// The builder's error.
        reason: String,
    },
}

/// Cumulative counters of one client since it was built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientStats {
    /// Requests sent (including those that failed in transport).
    pub api_calls: u64,
    /// Responses by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests that got no complete response (timeout, connection error).
    pub transport_errors: u64,
    /// Total time requests waited for the rate budget or a server pause.
    pub rate_limit_wait_ms: u64,
    /// Rate-limit refusals seen (429, or 403 from a rate limiter).
    pub server_pauses: u64,
}

/// A source's HTTP client. Cheap to clone; clones share budget and statistics.
#[derive(Clone)]
pub struct SourceClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: Source,
    base_url: Url,
    http: reqwest::Client,
    token: TokenSource,
    user: Option<String>,
    gate: RateGate,
    /// `sources.<source>.max_pages_per_task`, for the crawl to read.
    max_pages_per_task: u32,
    /// `sources.<source>.max_response_bytes`, enforced while bodies stream in.
    max_response_bytes: u64,
    /// The fleet's shared schedule, when this process is one worker of many.
    fleet: std::sync::OnceLock<Arc<dyn crate::FleetBudget>>,
    stats: Mutex<ClientStats>,
}

impl std::fmt::Debug for SourceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = match &self.inner.token {
            TokenSource::None => "none".to_owned(),
            TokenSource::Fixed(_) => "configured".to_owned(),
            TokenSource::File(file) => format!("file {}", file.path().display()),
        };
        f.debug_struct("SourceClient")
            .field("source", &self.inner.source)
            .field("base_url", &self.inner.base_url.as_str())
            .field("token", &token)
            .field("user", &self.inner.user)
            .finish()
    }
}

impl SourceClient {
    /// A client of `source` from its configuration: checks the base URL
    /// (`http(s)://` with a host) and `timeout_ms`, opens the token file if
    /// one is configured (else uses the inline token, if any), and sets up
    /// the rate gate at `requests_per_second`. Sends no request.
    pub fn new(source: Source, config: &SourceConfig) -> Result<SourceClient, SourceError> {
        let base_url = match config.base_url.scheme() {
            "http" | "https" if config.base_url.has_host() => config.base_url.clone(),
            _ => {
                return Err(SourceError::InvalidBaseUrl {
                    system: source,
                    url: config.base_url.to_string(),
                    reason: "expected an http:// or https:// URL with a host".to_owned(),
                });
            }
        };
        let invalid = |reason: &str| SourceError::InvalidConfig {
            system: source,
            reason: reason.to_owned(),
        };
        let rps = config.requests_per_second;
        if config.timeout.is_zero() {
            return Err(invalid("timeout_ms must be at least 1"));
        }
        if config.max_pages_per_task == 0 {
            return Err(invalid("max_pages_per_task must be at least 1"));
        }
        if config.max_response_bytes == 0 {
            return Err(invalid("max_response_bytes must be at least 1"));
        }
        let token = match (&config.token_file, &config.token) {
            (Some(path), _) => {
                TokenSource::File(TokenFile::open(path).map_err(|e| SourceError::TokenFile {
                    system: source,
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?)
            }
            (None, Some(secret)) if !secret.is_empty() => TokenSource::Fixed(secret.clone()),
            (None, _) => TokenSource::None,
        };
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(default_headers(source))
            .timeout(config.timeout)
            .redirect(same_origin_redirects(&base_url))
            .build()
            .map_err(|e| SourceError::HttpClient {
                system: source,
                reason: e.to_string(),
            })?;
        Ok(SourceClient {
            inner: Arc::new(Inner {
                source,
                base_url,
                http,
                token,
                user: config.user.clone().filter(|u| !u.is_empty()),
                gate: RateGate::new(rps),
                max_pages_per_task: config.max_pages_per_task,
                max_response_bytes: config.max_response_bytes,
                fleet: std::sync::OnceLock::new(),
                stats: Mutex::new(ClientStats::default()),
            }),
        })
    }

    /// Share the source's budget with the rest of the fleet: every request
    /// also takes a slot from `budget`, and server pauses apply fleet-wide.
    /// Set once; later calls are ignored.
    pub fn with_fleet_budget(self, budget: Arc<dyn crate::FleetBudget>) -> Self {
        let _ = self.inner.fleet.set(budget);
        self
    }

    /// The source this client talks to.
    pub fn source(&self) -> Source {
        self.inner.source
    }

    /// Pages one extract task of this source may fetch
    /// (`sources.<source>.max_pages_per_task`).
    pub fn max_pages_per_task(&self) -> u32 {
        self.inner.max_pages_per_task
    }

    /// The largest response body this client reads
    /// (`sources.<source>.max_response_bytes`).
    pub fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// What makes `request` the same request as another, whatever way its
    /// URL is written (relative to the base URL, or absolute as a `Link`
    /// target gives it): the method, the absolute URL and the body. A crawl
    /// uses it to notice a list that leads back to a page it already
    /// fetched. `None` when the URL cannot be sent at all (the request then
    /// fails on its own).
    pub fn request_identity(&self, request: &PageRequest) -> Option<String> {
        let url = resolve(&self.inner.base_url, &request.url).ok()?;
        Some(match &request.json_body {
            None => format!("{} {url}", request.method()),
            Some(body) => format!("{} {url} {body}", request.method()),
        })
    }

    /// A snapshot of the cumulative counters since the client was built.
    pub fn stats(&self) -> ClientStats {
        self.inner.lock_stats().clone()
    }

    /// Sends one request once the rate budget and any server pause allow it,
    /// and classifies the outcome: 2xx and 304 are pages, and so is a 404 on
    /// a child list (the item was deleted since it was listed: the crawl
    /// records it gone and goes on); everything else is a transient,
    /// rate-limited or permanent `TaskError`.
    ///
    /// Each request is a span named after the route template (the endpoint
    /// kind, never the URL: its path and query name repos and carry
    /// cursors), with the status and the time spent waiting for the rate
    /// budget or a server pause.
    pub async fn get(&self, request: &PageRequest) -> Result<FetchedPage, TaskError> {
        let span = tracing::info_span!(
            "api request",
            otel.name = %format!("{} {} {}", request.method(), self.inner.source, request.endpoint),
            otel.kind = "client",
            source = %self.inner.source,
            http.request.method = request.method(),
            http.route = %request.endpoint,
            page_no = request.page_no,
            http.response.status_code = tracing::field::Empty,
            rate_limit_wait_ms = tracing::field::Empty,
            error.class = tracing::field::Empty,
        );
        let result = self.send(request, &span).instrument(span.clone()).await;
        if let Err(e) = &result {
            span.record("error.class", tracing::field::display(e.class()));
        }
        result
    }

    async fn send(
        &self,
        request: &PageRequest,
        span: &tracing::Span,
    ) -> Result<FetchedPage, TaskError> {
        let inner = &*self.inner;
        let url = resolve(&inner.base_url, &request.url).map_err(|e| {
            TaskError::permanent_from(format!("{} {}", inner.source, request.method()), e)
        })?;
        let what = format!("{} {} {}", inner.source, request.method(), url.path());

        let mut waited = inner.gate.wait_turn().await;
        if let Some(fleet) = inner.fleet.get() {
            let started = tokio::time::Instant::now();
            let slot = fleet.reserve(inner.source, inner.gate.interval()).await?;
            if let Ok(wait) = (slot - Utc::now()).to_std() {
                tokio::time::sleep(wait).await;
            }
            waited += started.elapsed();
        }
        span.record(
            "rate_limit_wait_ms",
            u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        );
        inner.lock_stats().rate_limit_wait_ms +=
            u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);

        let token = inner.token.current().map_err(|e| {
            TaskError::transient_from(format!("{what}: cannot read the token file"), e)
        })?;
        let mut builder = match &request.json_body {
            None => inner.http.get(url.clone()),
            Some(body) => inner
                .http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone()),
        };
        if let Some(token) = &token {
            builder = match &inner.user {
                Some(user) => builder.basic_auth(user, Some(token.expose())),
                None => builder.bearer_auth(token.expose()),
            };
        }
        let http_request = builder
            .build()
            .map_err(|e| TaskError::permanent_from(format!("{what}: cannot build request"), e))?;
        // What a server may echo back and an error message must not repeat.
        let secrets = Secrets::of(
            token.as_ref().map(|t| t.expose()),
            http_request
                .headers()
                .get(reqwest::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        );

        inner.lock_stats().api_calls += 1;
        let response = match inner.http.execute(http_request).await {
            Ok(response) => response,
            Err(e) => {
                dorafleet_telemetry::metrics::api_request(inner.source.as_str(), "error", waited);
                inner.lock_stats().transport_errors += 1;
                return Err(transport_error(&what, e, &inner.base_url));
            }
        };
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        dorafleet_telemetry::metrics::api_request(inner.source.as_str(), status.as_str(), waited);
        *inner
            .lock_stats()
            .by_status
            .entry(status.as_u16())
            .or_default() += 1;
        let fetched_at = Utc::now();
        let headers = response.headers();
        let limits = RateLimitHeaders::read(headers, fetched_at);
        let header_text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let link_next = header_text("link").and_then(|v| next_link(&v));
        let etag = header_text("etag");
        let item_gone = status == StatusCode::NOT_FOUND && request.is_child();
        let is_page = status.is_success() || status == StatusCode::NOT_MODIFIED || item_gone;
        let limit = inner.max_response_bytes;
        let too_large = |what_was_seen: String| {
            TaskError::permanent(format!(
                "{what}: HTTP {status}: the response body is larger than sources.{}.max_response_bytes = {limit} bytes ({what_was_seen}); it is not stored, and retrying would fetch it again. Raise the key if this source really sends pages that large",
                inner.source
            ))
        };
        if is_page
            && let Some(declared) = response.content_length()
            && declared > limit
        {
            return Err(too_large(format!(
                "Content-Length {declared}; none of it was read"
            )));
        }
        let mut response = response;
        let read_limit = if is_page {
            limit
        } else {
            limit.min(REFUSAL_BODY_BYTES)
        };
        let (body, cut) = match read_at_most(&mut response, read_limit).await {
            Ok(read) => read,
            Err(e) => {
                inner.lock_stats().transport_errors += 1;
                return Err(transport_error(
                    &format!("{what}: HTTP {status}"),
                    e,
                    &inner.base_url,
                ));
            }
        };
        // Dropping the response mid-body closes the connection: the rest is
        // never read.
        drop(response);
        if is_page && cut {
            return Err(too_large(format!(
                "reading stopped after {} bytes",
                body.len()
            )));
        }
        let body = match String::from_utf8(body) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        tracing::debug!(
            source = %inner.source,
            path = url.path(),
            status = status.as_u16(),
            bytes = body.len(),
            waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            "fetched"
        );

        if is_page {
            if limits.exhausted()
                && let Some(wait) = limits.until_reset(fetched_at)
            {
                let pause = inner.gate.pause_for(wait);
                tracing::warn!(source = %inner.source, pause_ms = pause.as_millis() as u64,
                        "rate-limit quota used up; pausing until it resets");
                self.pause_fleet(pause).await;
            }
            return Ok(FetchedPage {
                request: request.clone(),
                status: status.as_u16(),
                body,
                fetched_at,
                link_next,
                etag,
                rate_limit_wait: waited,
            });
        }
        let body = secrets.redact(&body);
        let refusal = self.refusal(&what, status, &limits, fetched_at, &body);
        if let Some(after) = refusal.retry_after() {
            self.pause_fleet(after).await;
        }
        Err(refusal)
    }

    /// Tell the rest of the fleet to hold back too (best effort: a failure
    /// only means other workers may hear the server's 429 themselves).
    async fn pause_fleet(&self, pause: Duration) {
        if let Some(fleet) = self.inner.fleet.get() {
            let until = Utc::now() + chrono::Duration::from_std(pause).unwrap_or_default();
            if let Err(e) = fleet.pause_until(self.inner.source, until).await {
                tracing::warn!(source = %self.inner.source, error = %e, "could not share a server pause with the fleet");
            }
        }
    }

    /// Classifies a response that is not a page.
    fn refusal(
        &self,
        what: &str,
        status: StatusCode,
        limits: &RateLimitHeaders,
        now: chrono::DateTime<Utc>,
        body: &str,
    ) -> TaskError {
        let code = status.as_u16();
        let rate_limited =
            code == 429 || (code == 403 && (limits.exhausted() || limits.retry_after.is_some()));
        if rate_limited {
            self.inner.lock_stats().server_pauses += 1;
            return match limits.refusal_wait(now) {
                Some(wait) => self.pause(what, code, wait),
                None => TaskError::transient(format!(
                    "{what}: HTTP {code} (rate limited, no Retry-After or reset header)"
                )),
            };
        }
        if code == 503 {
            // Jira Cloud also sheds load with 503 + Retry-After.
            if let Some(wait) = limits.retry_after {
                return self.pause(what, code, wait);
            }
        }
        if status.is_server_error() || code == 408 {
            return TaskError::transient(format!("{what}: HTTP {code}{}", excerpt(body)));
        }
        TaskError::permanent(format!("{what}: HTTP {code}{}", excerpt(body)))
    }

    fn pause(&self, what: &str, code: u16, wait: Duration) -> TaskError {
        let after = self.inner.gate.pause_for(wait);
        tracing::warn!(source = %self.inner.source, status = code,
            pause_ms = after.as_millis() as u64, "server asked us to wait; pausing the client");
        TaskError::RetryAfter {
            after,
            message: format!(
                "{what}: HTTP {code}, retry after {:.1}s",
                after.as_secs_f64()
            ),
        }
    }
}

impl Inner {
    fn lock_stats(&self) -> std::sync::MutexGuard<'_, ClientStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Follows redirects only within `base`'s origin (scheme, host and port),
/// at most [`MAX_REDIRECTS`] in a row; any other hop fails the request.
fn same_origin_redirects(base: &Url) -> reqwest::redirect::Policy {
    let expected = base.origin();
    reqwest::redirect::Policy::custom(move |attempt| {
        let found = attempt.url().origin();
        if found != expected {
            let refusal = RedirectRefusal::ForeignOrigin {
                found: found.ascii_serialization(),
                expected: expected.ascii_serialization(),
            };
            attempt.error(refusal)
        } else if attempt.previous().len() > MAX_REDIRECTS {
            let last = attempt.url().to_string();
            attempt.error(RedirectRefusal::TooMany { last })
        } else {
            attempt.follow()
        }
    })
}

/// Reads at most `limit` bytes of `response`'s body. The flag says the body
/// held more: reading stopped there, and the rest was never received into
/// memory (at most one network chunk beyond the limit is seen).
async fn read_at_most(
    response: &mut reqwest::Response,
    limit: u64,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let expected = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(expected.min(limit).min(1 << 20));
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The credentials of one request, as they could come back in a body that
/// echoes the request (the token itself, and the `Authorization` value,
/// e.g. Basic's base64 of `user:token`).
struct Secrets(Vec<String>);

impl Secrets {
    fn of(token: Option<&str>, authorization: Option<&str>) -> Secrets {
        let mut secrets = Vec::new();
        let mut add = |s: &str| {
            let s = s.trim();
            if !s.is_empty() {
                secrets.push(s.to_owned());
                // JSON may escape `/` (base64 has them).
                if s.contains('/') {
                    secrets.push(s.replace('/', "\\/"));
                }
            }
        };
        if let Some(token) = token {
            add(token);
        }
        if let Some(value) = authorization {
            add(value
                .split_once(' ')
                .map_or(value, |(_, credentials)| credentials));
        }
        // Longest first, so that a secret inside another is not half-replaced.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Secrets(secrets)
    }

    fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.0 {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        text
    }
}

fn default_headers(source: Source) -> HeaderMap {
    let mut headers = HeaderMap::new();
    match source {
        Source::Github => {
            headers.insert(
                ACCEPT,
                HeaderValue::from_static("application/vnd.github+json"),
            );
            headers.insert(
                "x-github-api-version",
                HeaderValue::from_static("2022-11-28"),
            );
        }
        Source::Jira | Source::Jenkins => {
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
    }
    headers
}

/// Timeouts, refused connections and cut-off bodies are worth retrying; a
/// request reqwest could not even build is not.
/// The reqwest error is kept as the cause: its chain names what really failed
/// (DNS, TLS, a refused connection), which its own message often does not.
/// A redirect the client refused (to another origin, or one too many) is
/// permanent: the server answers the same way next time.
fn transport_error(what: &str, error: reqwest::Error, base: &Url) -> TaskError {
    if error.is_builder() {
        return TaskError::permanent_from(format!("{what}: cannot build request"), error);
    }
    if error.is_redirect() {
        let mut cause = std::error::Error::source(&error);
        while let Some(e) = cause {
            if let Some(refusal) = e.downcast_ref::<RedirectRefusal>() {
                let message = format!("{what}: {refusal}");
                return TaskError::permanent_from(message, error);
            }
            cause = e.source();
        }
        let origin = base.origin().ascii_serialization();
        return TaskError::permanent_from(
            format!("{what}: redirect refused (configured origin {origin})"),
            error,
        );
    }
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    TaskError::transient_from(format!("{what}: {kind}"), error)
}

/// `: <first 200 characters of the body, whitespace collapsed>`, or nothing.
fn excerpt(body: &str) -> String {
    let collapsed = dorafleet_core::secret::scrub(body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if collapsed.is_empty() {
        return String::new();
    }
    let mut cut: String = collapsed.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < collapsed.len() {
        cut.push('…');
    }
    format!(": {cut}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_without_http_is_refused() {
        let config = SourceConfig::with_base_url("ftp://example.com", 5);
        let err = SourceClient::new(Source::Jira, &config).unwrap_err();
        assert!(matches!(err, SourceError::InvalidBaseUrl { .. }), "{err}");
        assert!(err.to_string().contains("ftp://example.com"), "{err}");
    }

    #[test]
    fn an_unreadable_token_file_is_refused_at_start() {
        let mut config = SourceConfig::with_base_url("https://api.github.com", 5);
        config.token_file = Some("/nonexistent/dorafleet-token".into());
        let err = SourceClient::new(Source::Github, &config).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/dorafleet-token"),
            "{err}"
        );
    }

    #[test]
    fn the_client_debug_output_never_shows_the_token() {
        let mut config = SourceConfig::with_base_url("https://api.github.com", 5);
        config.token = Some(dorafleet_core::Secret::new("ghp_verysecret"));
        let client = SourceClient::new(Source::Github, &config).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("verysecret"), "{shown}");
        assert!(shown.contains("api.github.com"), "{shown}");
    }

    #[test]
    fn long_bodies_are_cut_in_error_messages() {
        let body = "x ".repeat(500);
        let shown = excerpt(&body);
        assert!(shown.chars().count() < 210, "{}", shown.len());
        assert!(shown.ends_with('…'));
        assert_eq!(excerpt("  \n"), "");
    }
}
