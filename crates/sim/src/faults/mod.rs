//! Injectable faults: the ways real APIs misbehave that dorafleet must
//! survive (rate limits, server errors, latency) or detect (a page silently
//! missing, a renamed field). A fault targets a source and optionally one
//! endpoint, and fires on a seeded share of requests or on the next N.

mod engine;
mod spec;

pub(crate) use engine::FaultBook;
pub use spec::FaultSpecError;

use crate::endpoint::Endpoint;
use dorafleet_core::Source;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One fault: what (`kind`), where (`source`, `endpoint`), when (`trigger`).
///
/// Serialized flat, e.g.
/// `{"source":"github","endpoint":"pulls","kind":"rate_limit","retry_after_secs":2,"trigger":{"rate":0.05}}`;
/// parsed from spec strings by [`FromStr`](std::str::FromStr) (see there for the grammar).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FaultRule {
    /// The tool whose requests the fault hits.
    pub source: Source,
    /// `None`: every data endpoint of the source.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// `None`: every scope. Otherwise one repo (`owner/repo`), Jira project
    /// key or Jenkins job: the fault hits only requests about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// What the fault does.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// When it fires; every matching request by default.
    #[serde(default = "Trigger::always")]
    pub trigger: Trigger,
}

/// What a fault does to a request it fires on; serialized with a `kind` tag.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with `Retry-After: retry_after_secs`.
    RateLimit {
        /// Seconds the client is told to wait.
        retry_after_secs: u64,
    },
    /// GitHub's secondary rate limit: 403 with "You have exceeded a
    /// secondary rate limit…" and `Retry-After: retry_after_secs` when set
    /// (without it, a client is to wait a minute, as GitHub advises).
    SecondaryRateLimit {
        /// Seconds the client is told to wait; `None`: no `Retry-After`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// That error status (a 5xx, or a 4xx such as 404 for an endpoint the
    /// server does not offer) with a JSON error body.
    #[serde(alias = "server_error")]
    ErrorStatus {
        /// The HTTP status to answer with.
        status: u16,
    },
    /// Wait, then answer normally.
    Latency {
        /// How long to wait, in milliseconds.
        ms: u64,
    },
    /// A normal-looking page whose next-page pointer skips a page (the Phantom Zero).
    TruncatedPagination,
    /// Rename the JSON key `from` to `to` in a `share` of the records of the
    /// response (all of them by default); which records is decided by
    /// [`drift_selects`], so the same records drift on every request.
    SchemaDrift {
        /// The key as the API names it.
        from: String,
        /// The name it is renamed to.
        to: String,
        /// Share of the records renamed, 0.0–1.0.
        #[serde(default = "whole_share", skip_serializing_if = "is_whole_share")]
        share: f64,
    },
}

/// When a matching fault fires.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Fires with this probability on each matching request (seeded RNG).
    Rate(f64),
    /// Fires on the next N matching requests; the count goes down as it fires.
    Count(u32),
}

fn whole_share() -> f64 {
    1.0
}

fn is_whole_share(share: &f64) -> bool {
    *share >= 1.0
}

/// Whether schema drift at `share` (0.0–1.0) hits the record numbered
/// `ordinal`. Records are spread evenly: record `n` is hit when
/// ⌊n·share⌋ > ⌊(n−1)·share⌋ (in millionths, so exactly), so among the records
/// numbered 1..=N exactly ⌊N·share⌋ are hit — a test can count them.
pub fn drift_selects(ordinal: u64, share: f64) -> bool {
    const MILLION: u128 = 1_000_000;
    let ppm = (share.clamp(0.0, 1.0) * MILLION as f64).round() as u128;
    if ordinal == 0 {
        return false;
    }
    let n = u128::from(ordinal);
    n * ppm / MILLION > (n - 1) * ppm / MILLION
}

impl Trigger {
    /// Fires on every matching request (`Rate(1.0)`), the default.
    pub fn always() -> Trigger {
        Trigger::Rate(1.0)
    }
}

impl FaultRule {
    /// Whether the rule targets this request: same source, same endpoint (if
    /// the rule names one) and, if the rule has a scope, a request about it
    /// (the repo or job in the path, the project in the JQL query). Says
    /// nothing about whether the trigger fires.
    pub fn matches(
        &self,
        source: Source,
        endpoint: Endpoint,
        path: &str,
        query: Option<&str>,
    ) -> bool {
        self.source == source
            && self.endpoint.is_none_or(|e| e == endpoint)
            && self
                .scope
                .as_deref()
                .is_none_or(|scope| mentions(source, scope, path, query))
    }
}

/// The label recorded in the request log when the fault fires, e.g.
/// `rate_limit retry_after=2`.
impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::RateLimit { retry_after_secs } => {
                write!(f, "rate_limit retry_after={retry_after_secs}")
            }
            FaultKind::SecondaryRateLimit {
                retry_after_secs: Some(secs),
            } => write!(f, "secondary_rate_limit retry_after={secs}"),
            FaultKind::SecondaryRateLimit {
                retry_after_secs: None,
            } => f.write_str("secondary_rate_limit"),
            FaultKind::ErrorStatus { status } => write!(f, "error_status status={status}"),
            FaultKind::Latency { ms } => write!(f, "latency ms={ms}"),
            FaultKind::TruncatedPagination => f.write_str("truncated_pagination"),
            FaultKind::SchemaDrift { from, to, share } if *share < 1.0 => {
                write!(f, "schema_drift {from}->{to}*{share}")
            }
            FaultKind::SchemaDrift { from, to, .. } => write!(f, "schema_drift {from}->{to}"),
        }
    }
}

/// The rule in spec-string form (`github/pulls:429=2@0.05`), which parses back to itself.
impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(e) = self.endpoint {
            write!(f, "/{e}")?;
        }
        if let Some(scope) = &self.scope {
            write!(f, "~{scope}")?;
        }
        match &self.kind {
            FaultKind::RateLimit { retry_after_secs } => write!(f, ":429={retry_after_secs}")?,
            FaultKind::SecondaryRateLimit {
                retry_after_secs: Some(secs),
            } => write!(f, ":secondary={secs}")?,
            FaultKind::SecondaryRateLimit {
                retry_after_secs: None,
            } => write!(f, ":secondary")?,
            FaultKind::ErrorStatus { status } => write!(f, ":{status}")?,
            FaultKind::Latency { ms } => write!(f, ":latency={ms}")?,
            FaultKind::TruncatedPagination => write!(f, ":truncate")?,
            FaultKind::SchemaDrift { from, to, share } if *share < 1.0 => {
                write!(f, ":drift={from}->{to}*{share}")?
            }
            FaultKind::SchemaDrift { from, to, .. } => write!(f, ":drift={from}->{to}")?,
        }
        match self.trigger {
            Trigger::Rate(p) => write!(f, "@{p}"),
            Trigger::Count(n) => write!(f, "#{n}"),
        }
    }
}

/// Whether a request is about `scope`: the repo in a GitHub path, the job in
/// a Jenkins path, the project named in a Jira JQL query.
fn mentions(source: Source, scope: &str, path: &str, query: Option<&str>) -> bool {
    match source {
        Source::Github => {
            let wanted = format!("/repos/{scope}/");
            format!("{path}/").contains(&wanted)
        }
        Source::Jenkins => path.split('/').any(|segment| segment == scope),
        Source::Jira => {
            let jql = percent_decode(query.unwrap_or(""));
            jql.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .any(|word| word == scope)
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn a_scoped_fault_hits_only_requests_about_its_scope() {
        let rule: FaultRule = "jira~PAY:503@1".parse().unwrap();
        let pay = Some("jql=project%20%3D%20%22PAY%22%20AND%20updated%20%3E%3D%20%222026-01-01%22");
        let srch = Some("jql=project+%3D+%22SRCH%22");
        assert!(rule.matches(
            Source::Jira,
            Endpoint::JiraSearch,
            "/jira/rest/api/3/search/jql",
            pay
        ));
        assert!(!rule.matches(
            Source::Jira,
            Endpoint::JiraSearch,
            "/jira/rest/api/3/search/jql",
            srch
        ));

        let rule: FaultRule = "github/pulls~acme/payments-api:truncate#1".parse().unwrap();
        assert_eq!(rule.scope.as_deref(), Some("acme/payments-api"));
        assert!(rule.matches(
            Source::Github,
            Endpoint::Pulls,
            "/github/repos/acme/payments-api/pulls",
            None
        ));
        assert!(!rule.matches(
            Source::Github,
            Endpoint::Pulls,
            "/github/repos/acme/payments-apix/pulls",
            None
        ));
        assert_eq!(rule.to_string().parse::<FaultRule>().unwrap(), rule);

        let rule: FaultRule = "jenkins~payments-web-deploy:500@1".parse().unwrap();
        assert!(rule.matches(
            Source::Jenkins,
            Endpoint::JenkinsBuilds,
            "/jenkins/job/payments-web-deploy/api/json",
            None
        ));
        assert!(!rule.matches(
            Source::Jenkins,
            Endpoint::JenkinsBuilds,
            "/jenkins/job/payments-web-ci/api/json",
            None
        ));
    }
}
