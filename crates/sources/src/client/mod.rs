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

use crate::credentials::CredentialPool;
use crate::link::next_link;
use crate::page::{FetchedPage, PageRequest, Validators};
use crate::server_limits::RateLimitHeaders;
use crate::urls::resolve;
use chrono::Utc;
use dorafleet_core::{Source, TaskError};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tracing::Instrument;

mod build;
mod refusal;
mod response;
mod slots;
pub use build::SourceError;
use refusal::Refused;
use response::{Secrets, read_at_most, transport_error};

const USER_AGENT: &str = concat!("dorafleet/", env!("CARGO_PKG_VERSION"));

/// Most of an error answer's body that is read (only an excerpt is quoted).
const REFUSAL_BODY_BYTES: u64 = 64 * 1024;

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
    /// Requests sent, by the name of the credential they went out with.
    pub by_credential: BTreeMap<String, u64>,
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
    /// The credentials, each with its own rate gate and fleet schedule.
    pool: CredentialPool,
    /// `sources.<source>.max_pages_per_task`, for the crawl to read.
    max_pages_per_task: u32,
    /// `sources.<source>.requests_in_flight_per_task`, for the crawl to read.
    requests_in_flight_per_task: u32,
    /// `sources.<source>.max_response_bytes`, enforced while bodies stream in.
    max_response_bytes: u64,
    /// `sources.<source>.conditional_requests`, for the crawl to read.
    conditional_requests: bool,
    /// The fleet's shared schedule, when this process is one worker of many.
    fleet: std::sync::OnceLock<Arc<dyn crate::FleetBudget>>,
    stats: Mutex<ClientStats>,
}

impl std::fmt::Debug for SourceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credentials: Vec<String> = self
            .inner
            .pool
            .members()
            .iter()
            .map(|c| c.describe())
            .collect();
        f.debug_struct("SourceClient")
            .field("source", &self.inner.source)
            .field("base_url", &self.inner.base_url.as_str())
            .field("credentials", &credentials)
            .finish()
    }
}

impl SourceClient {
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

    /// Requests one extract task keeps in flight
    /// (`sources.<source>.requests_in_flight_per_task`).
    pub fn requests_in_flight_per_task(&self) -> u32 {
        self.inner.requests_in_flight_per_task
    }

    /// The largest response body this client reads
    /// (`sources.<source>.max_response_bytes`).
    pub fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// Whether stored pages are revalidated rather than fetched again
    /// (`sources.<source>.conditional_requests`).
    pub fn conditional_requests(&self) -> bool {
        self.inner.conditional_requests
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
        self.get_conditional(request, &Validators::default()).await
    }

    /// [`get`](Self::get), made conditional on `validators` (the ETag or
    /// `Last-Modified` of the page stored for the same request): a server
    /// that still has that page answers `304 Not Modified`, returned as a
    /// page with status 304 and no body, for the caller to reuse what it
    /// stored.
    pub async fn get_conditional(
        &self,
        request: &PageRequest,
        validators: &Validators,
    ) -> Result<FetchedPage, TaskError> {
        let span = tracing::info_span!(
            "api request",
            otel.name = %format!("{} {} {}", request.method(), self.inner.source, request.endpoint),
            otel.kind = "client",
            source = %self.inner.source,
            http.request.method = request.method(),
            http.route = %request.endpoint,
            page_no = request.page_no,
            credential = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            rate_limit_wait_ms = tracing::field::Empty,
            error.class = tracing::field::Empty,
        );
        let result = self
            .send(request, validators, &span)
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            span.record("error.class", tracing::field::display(e.class()));
        }
        result
    }

    /// Sends `request` with the credential whose turn comes first; sends it
    /// once more when an App installation's token was refused (401, minted
    /// anew), and with another credential when one was rate limited and
    /// another is left.
    async fn send(
        &self,
        request: &PageRequest,
        validators: &Validators,
        span: &tracing::Span,
    ) -> Result<FetchedPage, TaskError> {
        let pool = &self.inner.pool;
        let mut refused_by: Vec<usize> = Vec::new();
        let mut minted_again = false;
        loop {
            let index = pool.choose(&refused_by);
            match self.send_with(index, request, validators, span).await {
                Err(Refused::Unauthorized { error, used })
                    if !minted_again && pool.get(index).refused(used.as_ref()) =>
                {
                    tracing::info!(source = %self.inner.source, credential = %pool.get(index).name,
                        "token refused (401); minting a new installation token");
                    minted_again = true;
                    drop(error);
                }
                Err(Refused::Unauthorized { error, .. }) => return Err(error),
                Err(Refused::Other(error)) => {
                    let other_left = refused_by.len() + 1 < pool.members().len();
                    if matches!(error, TaskError::RetryAfter { .. }) && other_left {
                        refused_by.push(index);
                        continue;
                    }
                    return Err(error);
                }
                Ok(page) => return Ok(page),
            }
        }
    }

    async fn send_with(
        &self,
        index: usize,
        request: &PageRequest,
        validators: &Validators,
        span: &tracing::Span,
    ) -> Result<FetchedPage, Refused> {
        let inner = &*self.inner;
        let credential = inner.pool.get(index);
        let url = resolve(&inner.base_url, &request.url).map_err(|e| {
            TaskError::permanent_from(format!("{} {}", inner.source, request.method()), e)
        })?;
        let what = format!("{} {} {}", inner.source, request.method(), url.path());

        let (turn, mut waited) = credential.gate.wait_turn().await;
        let started = tokio::time::Instant::now();
        let fleet_slot = self.wait_for_slot(index).await?;
        waited += started.elapsed();
        span.record(
            "rate_limit_wait_ms",
            u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        );
        span.record("credential", credential.name.as_str());
        inner.lock_stats().rate_limit_wait_ms +=
            u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);

        let token = credential.current(&inner.http, &inner.base_url).await?;
        let mut builder = match &request.json_body {
            None => inner.http.get(url.clone()),
            Some(body) => inner
                .http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone()),
        };
        if let Some((name, value)) = validators.header() {
            builder = builder.header(name, value);
        }
        if let Some(token) = &token {
            builder = match &credential.user {
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

        {
            let mut stats = inner.lock_stats();
            stats.api_calls += 1;
            *stats
                .by_credential
                .entry(credential.name.clone())
                .or_default() += 1;
        }
        // Leaving late moves a request towards the fleet's next ones; past
        // the schedule's margin it takes a later slot instead (see `slots`).
        let (fleet_slot, reslotting) = self.keep_to_slot(index, fleet_slot).await?;
        waited += reslotting;
        turn.sent(
            fleet_slot
                .map(|slot| slot.late_for_margin())
                .unwrap_or_default(),
        );
        let response = match inner.http.execute(http_request).await {
            Ok(response) => response,
            Err(e) => {
                dorafleet_telemetry::metrics::api_request(inner.source.as_str(), "error", waited);
                inner.lock_stats().transport_errors += 1;
                return Err(transport_error(&what, e, &inner.base_url).into());
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
        turn.answered(&limits);
        let header_text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let link_next = header_text("link").and_then(|v| next_link(&v));
        let etag = header_text("etag");
        let last_modified = header_text("last-modified");
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
            return Err(
                too_large(format!("Content-Length {declared}; none of it was read")).into(),
            );
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
                return Err(
                    transport_error(&format!("{what}: HTTP {status}"), e, &inner.base_url).into(),
                );
            }
        };
        // Dropping the response mid-body closes the connection: the rest is
        // never read.
        drop(response);
        if is_page && cut {
            return Err(too_large(format!("reading stopped after {} bytes", body.len())).into());
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
                let pause = credential.gate.pause_for(wait);
                tracing::warn!(source = %inner.source, credential = %credential.name,
                        pause_ms = pause.as_millis() as u64,
                        "rate-limit quota of this credential used up; pausing it until it resets");
                self.pause_fleet(credential, pause).await;
            }
            return Ok(FetchedPage {
                request: request.clone(),
                status: status.as_u16(),
                body,
                fetched_at,
                link_next,
                etag,
                last_modified,
                rate_limit_wait: waited,
            });
        }
        let body = secrets.redact(&body);
        let refusal = self.refusal(credential, &what, status, &limits, fetched_at, &body);
        if let Some(after) = refusal.retry_after() {
            self.pause_fleet(credential, after).await;
        }
        Err(if status == StatusCode::UNAUTHORIZED {
            Refused::Unauthorized {
                error: refusal,
                used: token,
            }
        } else {
            Refused::Other(refusal)
        })
    }
}

impl Inner {
    fn lock_stats(&self) -> std::sync::MutexGuard<'_, ClientStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_debug_output_never_shows_the_token() {
        let mut config = dorafleet_core::SourceConfig::with_base_url("https://api.github.com", 5);
        config.token = Some(dorafleet_core::Secret::new("ghp_verysecret"));
        let client = SourceClient::new(Source::Github, &config).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("verysecret"), "{shown}");
        assert!(shown.contains("api.github.com"), "{shown}");
    }
}
