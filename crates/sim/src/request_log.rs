//! What clients asked and what they got: every data request, in arrival
//! order, with the fault that fired. Tests measure rate-limit compliance and
//! retry behaviour from it; the counters behind `served_records` say how many
//! records a complete extraction should have stored.

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
