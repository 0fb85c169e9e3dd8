//! The HTTP face of the simulator. Every data request goes through one
//! [`exchange`]: GitHub's hourly budget, then the faults, then the source's
//! own handler, then ETags and rate-limit headers, then the request log. The
//! per-source modules only turn the organisation into each tool's JSON.

pub(crate) mod admin;
pub(crate) mod github;
pub(crate) mod github_app;
pub(crate) mod github_history;
pub(crate) mod jenkins;
pub(crate) mod jira;
mod jql;

use crate::endpoint::Endpoint;
use crate::faults::{FaultKind, drift_selects};
use crate::request_log::RequestLogEntry;
use crate::state::SimState;
use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use dorafleet_core::Source;
use serde_json::{Value, json};
use std::time::Duration;

/// The request as the exchange and the handlers need it.
#[derive(Debug, Clone)]
pub(crate) struct RequestMeta {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub source: Source,
    pub endpoint: Endpoint,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    /// `host:port` the client addressed, for absolute URLs in links and `self`.
    pub host: String,
    pub headers: HeaderMap,
}

impl RequestMeta {
    pub(crate) fn new(
        state: &SimState,
        endpoint: Endpoint,
        method: Method,
        uri: &Uri,
        headers: HeaderMap,
    ) -> RequestMeta {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        RequestMeta {
            seq: state.next_seq(),
            at: Utc::now(),
            source: endpoint.source(),
            endpoint,
            method,
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            host,
            headers,
        }
    }

    /// Query parameters in order, percent-decoded.
    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        let uri: Uri = match &self.query {
            Some(q) => format!("/?{q}").parse().unwrap_or_default(),
            None => return Vec::new(),
        };
        Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map(|q| q.0)
            .unwrap_or_default()
    }

    pub(crate) fn param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Absolute URL of this path on this server with the given query.
    pub(crate) fn url_with_query(&self, query: &str) -> String {
        if query.is_empty() {
            format!("http://{}{}", self.host, self.path)
        } else {
            format!("http://{}{}?{query}", self.host, self.path)
        }
    }
}

/// How the active fault asks the handler to bend an otherwise normal answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shaping {
    /// Make the next-page pointer skip a page.
    pub truncate: bool,
    /// Rename a key in some or all records.
    pub drift: Option<Drift>,
}

/// Schema drift: rename `from` to `to` in the records [`drift_selects`] picks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Drift {
    pub from: String,
    pub to: String,
    pub share: f64,
}

impl Shaping {
    /// Applies schema drift to one record, if it is one of the drifted share:
    /// its top level and Jira's `fields`.
    pub(crate) fn reshape(&self, mut record: Value) -> Value {
        if let Some(drift) = &self.drift
            && (drift.share >= 1.0 || drift_selects(record_ordinal(&record), drift.share))
        {
            rename_key(&mut record, &drift.from, &drift.to);
            if let Some(fields) = record.get_mut("fields") {
                rename_key(fields, &drift.from, &drift.to);
            }
        }
        record
    }
}

/// The number drift selection goes by: a Jira key's number, a PR's or
/// build's `number`, a numeric `id`; otherwise (commits) a hash of `sha`.
fn record_ordinal(record: &Value) -> u64 {
    if let Some(n) = record
        .get("key")
        .and_then(Value::as_str)
        .and_then(|key| key.rsplit_once('-'))
        .and_then(|(_, n)| n.parse().ok())
    {
        return n;
    }
    if let Some(n) = record.get("number").and_then(Value::as_u64) {
        return n;
    }
    match record.get("id") {
        Some(Value::Number(n)) if n.as_u64().is_some() => return n.as_u64().unwrap_or(0),
        Some(Value::String(s)) if s.parse::<u64>().is_ok() => return s.parse().unwrap_or(0),
        _ => {}
    }
    let identity = record
        .get("sha")
        .and_then(Value::as_str)
        .map_or_else(|| record.to_string(), str::to_owned);
    u64::from_str_radix(&fnv_hex(identity.as_bytes()), 16).unwrap_or(0)
}

fn rename_key(value: &mut Value, from: &str, to: &str) {
    if let Some(object) = value.as_object_mut()
        && let Some(v) = object.remove(from)
    {
        object.insert(to.to_owned(), v);
    }
}

/// A response before it is logged and sent.
#[derive(Debug)]
pub(crate) struct Served {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Records in the body, counted when the status is 200.
    pub records: u64,
}

impl Served {
    pub(crate) fn json(status: StatusCode, body: &Value, records: u64) -> Served {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        Served {
            status,
            headers,
            body: serde_json::to_vec(body).expect("JSON values serialize"),
            records,
        }
    }

    /// An error in the source's own error format.
    pub(crate) fn error(source: Source, status: StatusCode, message: &str) -> Served {
        let body = match source {
            Source::Github => json!({
                "message": message,
                "documentation_url": "https://docs.github.com/rest",
                "status": status.as_u16().to_string(),
            }),
            Source::Jira => json!({"errorMessages": [message], "errors": {}}),
            Source::Jenkins => json!({"status": status.as_u16(), "message": message}),
        };
        Served::json(status, &body, 0)
    }

    pub(crate) fn header(&mut self, name: &'static str, value: impl ToString) {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
    }

    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

/// Serves one data request: budget, faults, `build`, ETag, log.
pub(crate) async fn exchange(
    state: &SimState,
    meta: RequestMeta,
    build: impl FnOnce(&RequestMeta, &Shaping) -> Served,
) -> Response {
    if meta.source == Source::Github
        && let Some(refused) = github::budget_exhausted(state, &meta)
    {
        return finish(state, &meta, refused, None, None);
    }
    let fault = state.fire_fault(
        meta.source,
        meta.endpoint,
        &meta.path,
        meta.query.as_deref(),
    );
    let mut retry_after = None;
    let mut shaping = Shaping::default();
    let refusal = match &fault {
        Some(FaultKind::RateLimit { retry_after_secs }) => {
            retry_after = Some(*retry_after_secs);
            Some(rate_limited(&meta, *retry_after_secs))
        }
        Some(FaultKind::SecondaryRateLimit { retry_after_secs }) => {
            retry_after = *retry_after_secs;
            Some(github::secondary_rate_limited(*retry_after_secs))
        }
        Some(FaultKind::ErrorStatus { status }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let reason = status.canonical_reason().unwrap_or("Server Error");
            Some(Served::error(meta.source, status, reason))
        }
        Some(FaultKind::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            None
        }
        Some(FaultKind::TruncatedPagination) => {
            shaping.truncate = true;
            None
        }
        Some(FaultKind::SchemaDrift { from, to, share }) => {
            shaping.drift = Some(Drift {
                from: from.clone(),
                to: to.clone(),
                share: *share,
            });
            None
        }
        None => None,
    };
    let mut served = refusal.unwrap_or_else(|| build(&meta, &shaping));
    if meta.source == Source::Github {
        served = github::finish_response(state, &meta, served);
    }
    finish(state, &meta, served, fault, retry_after)
}

fn rate_limited(meta: &RequestMeta, retry_after_secs: u64) -> Served {
    let message = match meta.source {
        Source::Github => {
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        }
        Source::Jira => "Rate limit exceeded.",
        Source::Jenkins => "Too many requests.",
    };
    let mut served = Served::error(meta.source, StatusCode::TOO_MANY_REQUESTS, message);
    served.header("retry-after", retry_after_secs);
    if meta.source == Source::Jira {
        let reset = meta.at + chrono::Duration::seconds(retry_after_secs as i64);
        served.header("x-ratelimit-reset", reset.format("%Y-%m-%dT%H:%M:%SZ"));
    }
    served
}

fn finish(
    state: &SimState,
    meta: &RequestMeta,
    served: Served,
    fault: Option<FaultKind>,
    retry_after_secs: Option<u64>,
) -> Response {
    state.record(RequestLogEntry {
        seq: meta.seq,
        at: meta.at,
        source: meta.source,
        endpoint: meta.endpoint,
        method: meta.method.to_string(),
        path: meta.path.clone(),
        query: meta.query.clone(),
        status: served.status.as_u16(),
        records: if served.status == StatusCode::OK {
            served.records
        } else {
            0
        },
        fault: fault.map(|f| f.to_string()),
        retry_after_secs,
        credential: crate::request_log::presented_token(&meta.headers)
            .map(|t| crate::request_log::credential_id(&t)),
    });
    tracing::debug!(
        seq = meta.seq,
        source = %meta.source,
        endpoint = %meta.endpoint,
        status = served.status.as_u16(),
        "sim request"
    );
    served.into_response()
}

/// A 64-bit FNV-1a hash, hex: stable across runs and platforms, enough for ETags.
pub(crate) fn fnv_hex(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Parses a positive integer parameter, falling back to `default`.
pub(crate) fn positive(value: Option<String>, default: usize) -> usize {
    value
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

pub(crate) fn github_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn jira_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_drift_renames_top_level_and_jira_fields_keys_only() {
        let shaping = Shaping {
            truncate: false,
            drift: Some(Drift {
                from: "created".into(),
                to: "createdDate".into(),
                share: 1.0,
            }),
        };
        let out =
            shaping.reshape(json!({"created": 1, "fields": {"created": 2, "x": {"created": 3}}}));
        assert_eq!(
            out,
            json!({"createdDate": 1, "fields": {"createdDate": 2, "x": {"created": 3}}})
        );
    }

    #[test]
    fn schema_drift_with_a_share_hits_exactly_that_share_of_numbered_records() {
        let shaping = Shaping {
            truncate: false,
            drift: Some(Drift {
                from: "created".into(),
                to: "createdDate".into(),
                share: 0.1,
            }),
        };
        let drifted: Vec<u64> = (1..=95u64)
            .filter(|n| {
                let issue =
                    json!({"id": "10000", "key": format!("PAY-{n}"), "fields": {"created": 1}});
                shaping.reshape(issue)["fields"]
                    .get("createdDate")
                    .is_some()
            })
            .collect();
        assert_eq!(drifted, vec![10, 20, 30, 40, 50, 60, 70, 80, 90]);
        // By `number` (PRs, builds) and numeric `id` (deployments) alike.
        assert!(shaping.reshape(json!({"number": 30, "created": 1}))["createdDate"] == 1);
        assert!(shaping.reshape(json!({"id": 31, "created": 1}))["created"] == 1);
        // The same record drifts on every request.
        let commit = json!({"sha": "977560f205a84449522988b52e196f4bf502f79a", "created": 1});
        assert_eq!(shaping.reshape(commit.clone()), shaping.reshape(commit));
    }

    #[test]
    fn drift_shares_are_exact_over_consecutive_numbers() {
        for (share, n, expected) in [
            (0.03, 100, 3),
            (0.03, 33, 0),
            (0.03, 34, 1),
            (0.1, 19, 1),
            (1.0, 7, 7),
            (0.0, 50, 0),
        ] {
            let hits = (1..=n).filter(|&i| drift_selects(i, share)).count();
            assert_eq!(hits, expected, "share {share} over 1..={n}");
        }
    }

    #[test]
    fn jira_timestamps_have_millis_and_a_plus_zero_offset() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T12:34:56.789Z")
            .unwrap()
            .to_utc();
        assert_eq!(jira_time(t), "2026-03-01T12:34:56.789+0000");
        assert_eq!(github_time(t), "2026-03-01T12:34:56Z");
    }
}
