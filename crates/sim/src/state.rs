//! The state one running simulator shares between its request handlers: the
//! organisation (immutable), the active faults, the request log and the
//! GitHub hourly budget.

use crate::endpoint::Endpoint;
use crate::faults::{FaultBook, FaultKind, FaultRule};
use crate::generate::generate;
use crate::model::Organisation;
use crate::options::SimOptions;
use crate::request_log::{RequestLog, RequestLogEntry, Stats};
use crate::truth::TruthRecord;
use chrono::{DateTime, Duration, Utc};
use dorafleet_core::Source;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Everything one running simulator's handlers share; see the module docs.
#[derive(Debug)]
pub struct SimState {
    organisation: Organisation,
    truth: OnceLock<Vec<TruthRecord>>,
    faults: Mutex<FaultBook>,
    log: Mutex<RequestLog>,
    github_budget: Mutex<HourlyBudget>,
}

/// GitHub's primary rate limit: a fixed number of requests per hourly window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HourlyBudget {
    pub limit: u32,
    pub used: u32,
    pub window_end: DateTime<Utc>,
}

impl HourlyBudget {
    fn roll(&mut self, now: DateTime<Utc>) {
        while now >= self.window_end {
            self.window_end += Duration::hours(1);
            self.used = 0;
        }
    }

    pub(crate) fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }
}

/// Locks even if a handler panicked while holding the lock: the data behind
/// these mutexes stays consistent between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    /// Generates the organisation described by `opts`, with `opts.faults`
    /// active, an empty log and a fresh GitHub hourly budget.
    pub fn new(opts: &SimOptions) -> SimState {
        SimState {
            organisation: generate(opts),
            truth: OnceLock::new(),
            faults: Mutex::new(FaultBook::new(opts.seed, opts.faults.clone())),
            log: Mutex::new(RequestLog::default()),
            github_budget: Mutex::new(HourlyBudget {
                limit: opts.github_hourly_limit,
                used: 0,
                window_end: Utc::now() + Duration::hours(1),
            }),
        }
    }

    /// The generated organisation being served.
    pub fn organisation(&self) -> &Organisation {
        &self.organisation
    }

    /// The organisation's ground truth, computed once.
    pub fn ground_truth(&self) -> &[TruthRecord] {
        self.truth.get_or_init(|| self.organisation.ground_truth())
    }

    /// The request log in arrival order (at most the most recent 200,000 entries).
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        lock(&self.log).entries()
    }

    /// Empties the log; `served_records` and the statistics keep counting.
    pub fn clear_request_log(&self) {
        lock(&self.log).clear();
    }

    /// Records in 200 responses of the list endpoints since the server started,
    /// per source (Jira changelog entries are not included; see `/_admin/stats`).
    pub fn served_records(&self) -> BTreeMap<Source, u64> {
        lock(&self.log).stats().served_records
    }

    pub(crate) fn stats(&self) -> Stats {
        lock(&self.log).stats()
    }

    /// Replaces the active faults with `rules`.
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        lock(&self.faults).replace(rules);
    }

    /// Adds `rule` after the active ones (the first matching rule that fires wins).
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.faults).add(rule);
    }

    /// The active rules, with the remaining counts of count triggers.
    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.faults).rules()
    }

    /// Removes every active fault.
    pub fn clear_faults(&self) {
        lock(&self.faults).replace(Vec::new());
    }

    pub(crate) fn fire_fault(
        &self,
        source: Source,
        endpoint: Endpoint,
        path: &str,
        query: Option<&str>,
    ) -> Option<FaultKind> {
        lock(&self.faults).fire(source, endpoint, path, query)
    }

    pub(crate) fn next_seq(&self) -> u64 {
        lock(&self.log).next_seq()
    }

    pub(crate) fn record(&self, entry: RequestLogEntry) {
        lock(&self.log).record(entry);
    }

    /// The budget as of `now`, after spending one request if `spend`.
    pub(crate) fn github_budget(&self, now: DateTime<Utc>, spend: bool) -> HourlyBudget {
        let mut budget = lock(&self.github_budget);
        budget.roll(now);
        if spend {
            budget.used = budget.used.saturating_add(1);
        }
        *budget
    }
}
