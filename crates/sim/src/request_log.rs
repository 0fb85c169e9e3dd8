//! What clients asked and what they got: every data request, in arrival
//! order, with the fault that fired. Tests measure rate-limit compliance and
//! retry behaviour from it; the counters behind `served_records` say how many
//! records a complete extraction should have stored. Each entry names the
//! credential it came with (a hash prefix, never the token), so a
//! credential's own budget can be read from the log.

use crate::endpoint::Endpoint;
use chrono::{DateTime, Utc};
use dorafleet_core::Source;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Entries kept in memory; older ones are dropped (the counters keep counting).
pub(crate) const MAX_LOG_ENTRIES: usize = 200_000;

/// One data request the simulator answered, with what it answered.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RequestLogEntry {
    /// 1-based arrival order since the server started.
    pub seq: u64,
    /// Arrival time, full precision.
    pub at: DateTime<Utc>,
    /// The tool the request was addressed to.
    pub source: Source,
    /// The endpoint it hit.
    pub endpoint: Endpoint,
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Request path, including the source prefix (`/github/repos/...`).
    pub path: String,
    /// Raw query string without the `?`; `None` if there was none.
    pub query: Option<String>,
    /// HTTP status of the response.
    pub status: u16,
    /// Records in the response body (0 unless 200).
    pub records: u64,
    /// The fault that fired, e.g. `rate_limit retry_after=2`.
    pub fault: Option<String>,
    /// The `Retry-After` the response carried, in seconds, if any.
    pub retry_after_secs: Option<u64>,
    /// Which credential the request came with, as [`credential_id`] names it
    /// (never the secret); `None` when it had none.
    #[serde(default)]
    pub credential: Option<String>,
}

/// A name for the credential a request came with that says which one it is
/// without saying what it is: `tok-` and the first 12 hex digits of the
/// SHA-256 of the token (a bearer token, or basic auth's base64 `user:token`
/// as sent). Tests name their tokens the same way to read a credential's share
/// of the log.
pub fn credential_id(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("tok-{hex}")
}

/// The token a request carries (`Authorization: Bearer`/`token`, or basic
/// auth's base64 `user:token` as sent), if any.
pub(crate) fn presented_token(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, rest) = value.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" | "basic" => Some(rest.trim().to_owned()),
        _ => None,
    }
}

/// Counts since the server started; clearing the log does not reset them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Stats {
    pub served_records: BTreeMap<Source, u64>,
    pub served_records_by_endpoint: BTreeMap<Endpoint, u64>,
    pub requests: BTreeMap<Source, BTreeMap<u16, u64>>,
    pub faults_fired: u64,
}

#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    next_seq: u64,
    entries: VecDeque<RequestLogEntry>,
    stats: Stats,
}

impl RequestLog {
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub(crate) fn record(&mut self, entry: RequestLogEntry) {
        *self
            .stats
            .requests
            .entry(entry.source)
            .or_default()
            .entry(entry.status)
            .or_default() += 1;
        if entry.fault.is_some() {
            self.stats.faults_fired += 1;
        }
        if entry.status == 200 {
            *self
                .stats
                .served_records_by_endpoint
                .entry(entry.endpoint)
                .or_default() += entry.records;
            if entry.endpoint.counts_as_served_records() {
                *self.stats.served_records.entry(entry.source).or_default() += entry.records;
            }
        }
        if self.entries.len() == MAX_LOG_ENTRIES {
            self.entries.pop_front();
        }
        // Concurrent requests finish out of order; keep the log in arrival order.
        let position = self.entries.partition_point(|e| e.seq < entry.seq);
        self.entries.insert(position, entry);
    }

    pub(crate) fn entries(&self) -> Vec<RequestLogEntry> {
        self.entries.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats.clone()
    }
}
