//! Holds: a data-quality sensor's verdict that a team's days must not reach
//! gold until an operator accepts the data (release) or it is re-extracted
//! and passes again (cleared by a rerun).
//!
//! A hold is stored with its evidence, so `runs show` can say why, and it is
//! never deleted: releasing or clearing it is recorded with who, when and why.
//! Aggregation reads the open holds of a team and writes no gold for their
//! days, whichever run or backfill asks for it.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Where a hold stands: open until released or cleared, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// The days are held: no gold for them.
    Open,
    /// An operator accepted the data as real.
    Released,
    /// A later run re-extracted the scope and its sensors passed.
    Cleared,
}

impl HoldStatus {
    /// The snake_case name, as serialized, stored and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Open => "open",
            HoldStatus::Released => "released",
            HoldStatus::Cleared => "cleared",
        }
    }
}

impl fmt::Display for HoldStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HoldStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(HoldStatus::Open),
            "released" => Ok(HoldStatus::Released),
            "cleared" => Ok(HoldStatus::Cleared),
            other => Err(format!(
                "unknown hold status `{other}`: expected open, released or cleared"
            )),
        }
    }
}

/// What a sensor saw: the figures an operator needs to judge the hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldEvidence {
    /// What was measured, e.g. `github acme/api records 2026-09-01..2026-09-08`.
    pub measure: String,
    /// The value measured (in the measure's unit, e.g. records or skipped pages).
    pub observed: f64,
    /// The value the sensor expected, in the same unit.
    pub expected: f64,
    /// The rule that was broken, e.g. `observed < 50% of expected and 3.0σ below`.
    pub threshold: String,
    /// Anything else worth reading (baseline weeks, peer factor, pages).
    pub detail: String,
}

/// How a hold was resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldResolution {
    /// When the hold was resolved (UTC).
    pub at: DateTime<Utc>,
    /// Who: the operator for a release, `run <id>` for a clearing rerun.
    pub by: String,
    /// Why it was resolved, as given by the operator or the rerun.
    pub reason: String,
}

/// A data-quality sensor's hold on some of a team's days, with its evidence
/// and, once resolved, its resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    /// Derived from the verdict by [`Hold::id_for`], so a retry stores it once.
    pub hold_id: Uuid,
    /// The run whose sensor placed it.
    pub run_id: Uuid,
    /// The team whose days are held.
    pub team_id: String,
    /// `volume` or `pagination`.
    pub sensor: String,
    /// The scope it concerns as `source:target`, or `None` for the team's
    /// gold inputs as a whole.
    pub scope: Option<String>,
    /// The first held day (inclusive): the held days are `[from, to)`.
    pub from: NaiveDate,
    /// The day after the last held day (exclusive).
    pub to: NaiveDate,
    /// What the sensor saw.
    pub evidence: HoldEvidence,
    /// Open, released or cleared.
    pub status: HoldStatus,
    /// When the sensor placed the hold (UTC).
    pub created_at: DateTime<Utc>,
    /// Who resolved it, when and why; `None` while it is open.
    pub resolution: Option<HoldResolution>,
}

impl Hold {
    /// The id a sensor's verdict gets: the same run, team, sensor, scope and
    /// days always make the same hold, so a retried task stores it once.
    pub fn id_for(
        run_id: Uuid,
        team: &str,
        sensor: &str,
        scope: Option<&str>,
        from: NaiveDate,
    ) -> Uuid {
        let name = format!("{run_id}/{team}/{sensor}/{}/{from}", scope.unwrap_or("-"));
        Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
    }

    /// Whether the hold keeps `day` out of gold: it is open and `day` is
    /// in `[from, to)`.
    pub fn holds_day(&self, day: NaiveDate) -> bool {
        self.status == HoldStatus::Open && day >= self.from && day < self.to
    }

    /// The source of the scope it concerns (`source:target`), `None` for a
    /// hold on the team's inputs as a whole.
    pub fn source(&self) -> Option<dorafleet_core::Source> {
        let scope = self.scope.as_deref()?;
        let (source, _) = scope.split_once(':')?;
        source.parse().ok()
    }

    /// Whether it holds `day` for a metric computed from `inputs`: a hold on
    /// one scope holds only the metrics that read its source (a Jira hold
    /// keeps the incident metrics out, not deployment frequency); a hold on
    /// the team as a whole, or on a scope whose source cannot be read, holds
    /// every metric.
    pub fn holds_day_for(&self, day: NaiveDate, inputs: &[dorafleet_core::Source]) -> bool {
        self.holds_day(day) && self.source().is_none_or(|s| inputs.contains(&s))
    }
}

/// Which holds to read or resolve; every field narrows the selection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HoldFilter {
    /// Only holds placed by this run.
    pub run_id: Option<Uuid>,
    /// Only holds on this team's days.
    pub team_id: Option<String>,
    /// Only holds with this status.
    pub status: Option<HoldStatus>,
    /// Only holds created before this instant.
    pub created_before: Option<DateTime<Utc>>,
}

impl HoldFilter {
    /// Whether `hold` passes every field that is set.
    pub fn matches(&self, hold: &Hold) -> bool {
        self.run_id.is_none_or(|r| r == hold.run_id)
            && self.team_id.as_deref().is_none_or(|t| t == hold.team_id)
            && self.status.is_none_or(|s| s == hold.status)
            && self.created_before.is_none_or(|b| hold.created_at < b)
    }
}

/// The data-quality sensors' holds and their resolutions.
#[async_trait]
pub trait HoldStore: Send + Sync + std::fmt::Debug {
    /// Store a sensor's hold. Storing the same `hold_id` again changes
    /// nothing (a retried task), whatever its status meanwhile.
    async fn save_hold(&self, hold: &Hold) -> Result<()>;

    /// The holds `filter` selects, oldest first.
    async fn holds(&self, filter: &HoldFilter) -> Result<Vec<Hold>>;

    /// Resolve every *open* hold `filter` selects as `status` (released or
    /// cleared) with who and why, in one transaction; returns the holds
    /// resolved. Holds already resolved keep their first resolution.
    async fn resolve_holds(
        &self,
        filter: &HoldFilter,
        status: HoldStatus,
        resolution: &HoldResolution,
    ) -> Result<Vec<Hold>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use dorafleet_core::Source;

    fn hold(scope: Option<&str>) -> Hold {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        Hold {
            hold_id: Uuid::nil(),
            run_id: Uuid::nil(),
            team_id: "payments".into(),
            sensor: "pagination".into(),
            scope: scope.map(str::to_owned),
            from: day,
            to: day + chrono::Duration::days(1),
            evidence: HoldEvidence {
                measure: String::new(),
                observed: 0.0,
                expected: 0.0,
                threshold: String::new(),
                detail: String::new(),
            },
            status: HoldStatus::Open,
            created_at: Utc::now(),
            resolution: None,
        }
    }

    #[test]
    fn a_hold_on_a_jira_scope_holds_only_the_metrics_that_read_jira() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let jira = hold(Some("jira:PAY"));
        assert_eq!(jira.source(), Some(Source::Jira));
        assert!(jira.holds_day_for(day, &[Source::Github, Source::Jira]));
        assert!(!jira.holds_day_for(day, &[Source::Github, Source::Jenkins]));
        assert!(!jira.holds_day_for(day + chrono::Duration::days(1), &[Source::Jira]));
    }

    #[test]
    fn a_hold_on_the_whole_team_or_an_unreadable_scope_holds_every_metric() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        for h in [hold(None), hold(Some("something else"))] {
            assert!(h.holds_day_for(day, &[Source::Github]), "{:?}", h.scope);
        }
        let mut released = hold(None);
        released.status = HoldStatus::Released;
        assert!(!released.holds_day_for(day, &[Source::Github]));
    }
}
