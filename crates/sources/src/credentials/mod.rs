//! The credentials of one source and which one a request goes out with.
//!
//! A server counts its quota per credential (GitHub: 5,000 requests an hour
//! per token or App installation), so an organisation larger than one
//! quota needs several. Each credential therefore carries everything a
//! budget is made of: its own rate gate (its `requests_per_second`, the
//! quota the server reports for it, the pauses it asks for), and its own
//! fleet-wide schedule, named [`schedule_name`]. A 429 on one credential
//! pauses that one; the others go on.
//!
//! Which credential a request takes is chosen per request: the one whose
//! next slot is expected earliest (it is free, not paused, its quota not
//! spent), ties taken in turn. Per request rather than by a stable
//! assignment of repositories to credentials, because only that gives k
//! credentials k times the throughput whatever the number and size of the
//! scopes (a hash of a handful of repositories onto two tokens is rarely
//! even, and one large repository would bind one token), and because a
//! paused credential then costs nothing while another is free. Conditional
//! requests do not depend on it: the stored validator is an ETag of the
//! page's content (the simulator's hashes body and `Link`; GitHub's does not
//! name the token), and were a server's ETags per token, the cost would be a
//! full `200` in place of a `304`, never a wrong page.
//!
//! The expected next slot is this process's estimate: the slot the fleet
//! schedule last gave this credential plus its interval. Other workers'
//! reservations show up in the next slot it is given.

mod app;
mod jwt;

pub(crate) use app::AppInstallation;
pub use app::AppTokenError;

use crate::limiter::RateGate;
use crate::token::TokenSource;
use dorafleet_core::config::DEFAULT_CREDENTIAL;
use dorafleet_core::{Secret, Source, TaskError};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The fleet-wide schedule of a source's credential: `<source>` for the
/// credential named `default` (the schedule a single token always used), else
/// `<source>/<name>`.
pub fn schedule_name(source: Source, credential: &str) -> String {
    if credential == DEFAULT_CREDENTIAL {
        source.as_str().to_owned()
    } else {
        format!("{source}/{credential}")
    }
}

/// Where one credential's secret comes from.
#[derive(Debug)]
pub(crate) enum SecretSource {
    Token(TokenSource),
    App(Box<AppInstallation>),
}

/// One credential with its own budget.
#[derive(Debug)]
pub(crate) struct Credential {
    pub(crate) name: String,
    /// Its fleet-wide schedule (see [`schedule_name`]).
    pub(crate) schedule: String,
    pub(crate) secret: SecretSource,
    /// The basic-auth user; `None`: the secret is a bearer token.
    pub(crate) user: Option<String>,
    pub(crate) gate: RateGate,
}

impl Credential {
    /// The secret to send now; `Ok(None)` when unauthenticated. An App
    /// installation mints a token when it has none or it is about to expire.
    pub(crate) async fn current(
        &self,
        http: &reqwest::Client,
        base_url: &reqwest::Url,
    ) -> Result<Option<Secret>, TaskError> {
        match &self.secret {
            SecretSource::Token(token) => token.current().map_err(|e| {
                TaskError::transient_from(
                    format!("credential `{}`: cannot read the token file", self.name),
                    e,
                )
            }),
            SecretSource::App(app) => Ok(Some(app.token(http, base_url).await?)),
        }
    }

    /// The server refused `used` (401): an App installation forgets it, so
    /// the next request mints a new one. Returns whether anything can
    /// change by asking again.
    pub(crate) fn refused(&self, used: Option<&Secret>) -> bool {
        match (&self.secret, used) {
            (SecretSource::App(app), Some(used)) => app.forget(used),
            _ => false,
        }
    }

    /// How the configuration shows it (never the secret).
    pub(crate) fn describe(&self) -> String {
        let what = match &self.secret {
            SecretSource::Token(TokenSource::None) => "none".to_owned(),
            SecretSource::Token(TokenSource::Fixed(_)) => "token".to_owned(),
            SecretSource::Token(TokenSource::File(file)) => {
                format!("token file {}", file.path().display())
            }
            SecretSource::App(app) => app.describe(),
        };
        match &self.user {
            Some(user) => format!("{} ({what}, user {user})", self.name),
            None => format!("{} ({what})", self.name),
        }
    }
}

/// A source's credentials and the per-request choice between them.
#[derive(Debug)]
pub(crate) struct CredentialPool {
    members: Vec<Credential>,
    /// Per member, when its next slot is expected (see the module docs).
    expected: Mutex<Vec<Instant>>,
    /// Where the next tie starts, so equal credentials take turns.
    rotation: AtomicUsize,
}

impl CredentialPool {
    /// A pool of at least one credential.
    pub(crate) fn new(members: Vec<Credential>) -> CredentialPool {
        assert!(!members.is_empty(), "a source has at least one credential");
        let now = Instant::now();
        CredentialPool {
            expected: Mutex::new(vec![now; members.len()]),
            members,
            rotation: AtomicUsize::new(0),
        }
    }

    pub(crate) fn members(&self) -> &[Credential] {
        &self.members
    }

    pub(crate) fn get(&self, index: usize) -> &Credential {
        &self.members[index]
    }

    /// The credential the next request goes out with, among those not in
    /// `excluded` (all of them when every one is): the earliest expected
    /// slot, ties in turn. Its expected slot moves one interval on, so
    /// requests choosing at the same moment spread over the credentials.
    pub(crate) fn choose(&self, excluded: &[usize]) -> usize {
        let now = Instant::now();
        let start = self.rotation.fetch_add(1, Ordering::Relaxed);
        let n = self.members.len();
        let mut expected = self.lock_expected();
        let allowed = |i: &usize| !excluded.contains(i) || excluded.len() >= n;
        let ready_at = |i: usize| {
            let held = self.members[i].gate.held_until().unwrap_or(now);
            expected[i].max(held).max(now)
        };
        let chosen = (0..n)
            .map(|k| (start + k) % n)
            .filter(allowed)
            .min_by_key(|&i| ready_at(i))
            .unwrap_or(0);
        let interval = self.members[chosen].gate.interval();
        expected[chosen] = expected[chosen].max(now) + interval;
        chosen
    }

    /// The fleet's schedule gave member `index` a slot `until_slot` from
    /// now: its next one is an interval after that.
    pub(crate) fn slot_taken(&self, index: usize, until_slot: Duration) {
        let interval = self.members[index].gate.interval();
        let mut expected = self.lock_expected();
        expected[index] = expected[index].max(Instant::now() + until_slot + interval);
    }

    fn lock_expected(&self) -> std::sync::MutexGuard<'_, Vec<Instant>> {
        self.expected.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests;
