//! The state one running simulator shares between its request handlers: the
//! generated history (immutable), the simulated clock with the view of the
//! history as of it, the active faults, the request log, the GitHub
//! hourly budget of each credential and the GitHub App installation tokens.
//!
//! The clock is simulated, not real: it stands still until a test or an
//! operator sets or advances it, so what the APIs answer is deterministic.
//! Only the GitHub hourly budgets and installation token expiry run on real
//! time, as a client's pacing does.

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
use std::sync::{Arc, Mutex, MutexGuard};

/// Everything one running simulator's handlers share; see the module docs.
#[derive(Debug)]
pub struct SimState {
    history: Organisation,
    clock: Mutex<DateTime<Utc>>,
    view: Mutex<Option<Stamped<Organisation>>>,
    truth: Mutex<Option<Stamped<Vec<TruthRecord>>>>,
    faults: Mutex<FaultBook>,
    log: Mutex<RequestLog>,
    /// GitHub's hourly budgets, one per credential (key: its
    /// [`credential_id`](crate::credential_id), `anonymous` without one).
    github_budgets: Mutex<BTreeMap<String, HourlyBudget>>,
    /// The GitHub App installation tokens minted, with their expiry.
    installation_tokens: Mutex<BTreeMap<String, DateTime<Utc>>>,
    /// The options it was started with (flavours, for the HTTP face).
    options: SimOptions,
}

/// A value computed for one clock reading.
#[derive(Debug)]
struct Stamped<T> {
    at: DateTime<Utc>,
    value: Arc<T>,
}

/// The cached value for `at`, or a freshly computed one (then cached).
fn cached<T>(
    cache: &Mutex<Option<Stamped<T>>>,
    at: DateTime<Utc>,
    compute: impl FnOnce() -> T,
) -> Arc<T> {
    let mut slot = lock(cache);
    match &*slot {
        Some(stamped) if stamped.at == at => stamped.value.clone(),
        _ => {
            let value = Arc::new(compute());
            *slot = Some(Stamped {
                at,
                value: value.clone(),
            });
            value
        }
    }
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
    /// Generates the history described by `opts`, with the clock at
    /// `opts.clock` (default: the end of the range), `opts.faults` active, an
    /// empty log and a fresh GitHub hourly budget.
    pub fn new(opts: &SimOptions) -> SimState {
        let history = generate(opts);
        let now = opts.clock.unwrap_or(history.end);
        SimState {
            history,
            clock: Mutex::new(now),
            view: Mutex::new(None),
            truth: Mutex::new(None),
            faults: Mutex::new(FaultBook::new(opts.seed, opts.faults.clone())),
            log: Mutex::new(RequestLog::default()),
            github_budgets: Mutex::new(BTreeMap::new()),
            installation_tokens: Mutex::new(BTreeMap::new()),
            options: opts.clone(),
        }
    }

    /// The options this simulator was started with.
    pub fn options(&self) -> &SimOptions {
        &self.options
    }

    /// The simulated instant the APIs answer as of.
    pub fn now(&self) -> DateTime<Utc> {
        *lock(&self.clock)
    }

    /// Moves the clock to `t` (backwards too).
    pub fn set_now(&self, t: DateTime<Utc>) {
        *lock(&self.clock) = t;
    }

    /// Moves the clock by `d`, stopping at the latest (or earliest)
    /// representable instant rather than overflowing.
    pub fn advance(&self, d: Duration) {
        let mut now = lock(&self.clock);
        *now = now
            .checked_add_signed(d)
            .unwrap_or(if d > Duration::zero() {
                DateTime::<Utc>::MAX_UTC
            } else {
                DateTime::<Utc>::MIN_UTC
            });
    }

    /// The organisation as the APIs show it now ([`Organisation::as_of`] the
    /// clock), computed once per clock reading.
    pub fn organisation(&self) -> Arc<Organisation> {
        self.organisation_at(self.now())
    }

    /// The whole generated history, including what happens after the clock.
    pub fn history(&self) -> &Organisation {
        &self.history
    }

    /// The ground truth as of the clock: the truth of the current view on the
    /// days of the range that are over (before the clock's date), computed
    /// once per clock reading.
    pub fn ground_truth(&self) -> Arc<Vec<TruthRecord>> {
        let now = self.now();
        cached(&self.truth, now, || {
            self.organisation_at(now).days_over_truth(now)
        })
    }

    /// The ground truth as the clock at `t` would give it (not cached).
    pub fn ground_truth_at(&self, t: DateTime<Utc>) -> Vec<TruthRecord> {
        self.history.ground_truth_as_of(t)
    }

    /// The view at `now`, from the cache when the clock still reads `now`.
    fn organisation_at(&self, now: DateTime<Utc>) -> Arc<Organisation> {
        cached(&self.view, now, || self.history.as_of(now))
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

    /// Every list page (a 200 `GET`, by path and query) served more than
    /// once since the log was cleared, with how often: what a resumed or
    /// repeated extract must not do. The questions a Jira task asks once
    /// before its search (who the API user is, which API the server speaks)
    /// are not pages and are left out.
    pub fn pages_served_more_than_once(&self) -> Vec<(String, usize)> {
        let mut per_url: BTreeMap<String, usize> = BTreeMap::new();
        for e in self.request_log().iter().filter(|e| {
            e.status == 200
                && e.method == "GET"
                && !e.path.ends_with("/myself")
                && !e.path.ends_with("/serverInfo")
        }) {
            let url = format!("{}?{}", e.path, e.query.as_deref().unwrap_or_default());
            *per_url.entry(url).or_default() += 1;
        }
        per_url.into_iter().filter(|(_, n)| *n > 1).collect()
    }

    /// Records in 200 responses of `endpoint` since the server started, the
    /// detail endpoints (a Jira issue's changelog) included.
    pub fn served_records_of(&self, endpoint: Endpoint) -> u64 {
        lock(&self.log)
            .stats()
            .served_records_by_endpoint
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
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

    /// The budget of `credential` as of `now` (real time), after spending
    /// one request if `spend`. A credential's first request opens its
    /// hourly window.
    pub(crate) fn github_budget(
        &self,
        credential: &str,
        now: DateTime<Utc>,
        spend: bool,
    ) -> HourlyBudget {
        let mut budgets = lock(&self.github_budgets);
        let budget = budgets
            .entry(credential.to_owned())
            .or_insert_with(|| HourlyBudget {
                limit: self.options.github_hourly_limit,
                used: 0,
                window_end: now + Duration::hours(1),
            });
        budget.roll(now);
        if spend {
            budget.used = budget.used.saturating_add(1);
        }
        *budget
    }
}

impl SimState {
    /// Remembers a minted installation token until `expires_at`.
    pub(crate) fn mint_installation_token(&self, token: String, expires_at: DateTime<Utc>) {
        let mut tokens = lock(&self.installation_tokens);
        let now = Utc::now();
        tokens.retain(|_, expiry| *expiry > now - Duration::hours(1));
        tokens.insert(token, expires_at);
    }

    /// When `token` was minted by the App endpoint: whether it is still valid at `now`.
    pub(crate) fn installation_token_valid(&self, token: &str, now: DateTime<Utc>) -> bool {
        lock(&self.installation_tokens)
            .get(token)
            .is_some_and(|expiry| *expiry > now)
    }

    /// How many installation tokens the App endpoint has minted.
    pub fn installation_tokens_minted(&self) -> usize {
        lock(&self.installation_tokens).len()
    }
}
