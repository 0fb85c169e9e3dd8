//! `[levels]`: the DORA performance levels (elite, high, medium, low), from
//! the table of one DORA report year.
//!
//! DORA's levels are not set in advance: each year's survey answers fall
//! into clusters, and the report describes each cluster by the answer
//! ranges of its members. dorafleet turns a year's description into bounds,
//! one per level and metric, and gives a value **the best level whose bound
//! it meets** (elite, then high, then medium; low when it meets none). Where
//! a year's table is not monotone — a worse level described by a tighter
//! range than a better one — the better level always wins, so the worse
//! level is never given (2024's change failure rate: medium's 10 % lies
//! inside high's 20 %, so medium is never given; the other cases are listed
//! at each table). A value in a gap between two described ranges earns the
//! level whose bound it still meets, and low past every bound.
//!
//! Bounds in hours; a month is 30.44 days (365.25 / 12), six months 182.62
//! days. "Less than" bounds are strict; the upper end of a "between" range
//! is included. Deployment frequency is rated by **deploy days** (days with
//! at least one deployment) per week, as the survey asks it:
//!
//! | survey answer | deploy days per week |
//! |---|---|
//! | on demand (multiple deploys per day) | ≥ 5 (deploys on 5 of 7 days: every working day) |
//! | between once per day and once per week | ≥ 1 |
//! | between once per week and once per month | ≥ 1 per month (7 / 30.44 ≈ 0.23) |
//! | between once per month and once every six months | ≥ 1 per six months (7 / 182.62 ≈ 0.038) |
//!
//! The 2025 report (*State of AI-assisted Software Development*, DORA 2025)
//! replaced the four clusters with seven team profiles, so it gives no
//! levels: asking for 2025 is refused with that explanation.

use crate::model::Metric;
use serde::{Deserialize, Serialize};

/// Days in a month, on average (365.25 / 12).
pub const DAYS_PER_MONTH: f64 = 30.44;
const HOUR: f64 = 1.0;
const DAY: f64 = 24.0;
const WEEK: f64 = 7.0 * DAY;
const MONTH: f64 = DAYS_PER_MONTH * DAY;
const SIX_MONTHS: f64 = 6.0 * MONTH;
/// Deploy days per week of "on demand": deployments on 5 of 7 days.
const ON_DEMAND: f64 = 5.0;
/// Deploy days per week of "once per week".
const WEEKLY: f64 = 1.0;
/// Deploy days per week of "once per month".
const MONTHLY: f64 = 7.0 / DAYS_PER_MONTH;
/// Deploy days per week of "once every six months".
const HALF_YEARLY: f64 = 7.0 / (6.0 * DAYS_PER_MONTH);

/// The report years with a built-in table.
pub const LEVEL_YEARS: [u16; 3] = [2021, 2023, 2024];

/// The year used when `[levels] year` is not set.
pub const DEFAULT_LEVELS_YEAR: u16 = 2024;

/// One level's bound on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "bound")]
pub enum Bound {
    /// Met by a value at or above it (deploy days per week).
    AtLeast(f64),
    /// Met by a value strictly below it ("less than one hour").
    Below(f64),
    /// Met by a value at or below it (the upper end of a "between" range,
    /// a failure rate).
    AtMost(f64),
}

impl Bound {
    /// Whether `value` meets the bound.
    pub fn meets(self, value: f64) -> bool {
        match self {
            Bound::AtLeast(b) => value >= b,
            Bound::Below(b) => value < b,
            Bound::AtMost(b) => value <= b,
        }
    }
}

/// The bounds of elite, high and medium for each metric that has levels,
/// from one DORA report (and any `[levels]` overrides).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelThresholds {
    /// The report year of the table.
    pub year: u16,
    /// The report the table comes from.
    pub source: &'static str,
    /// Deploy days per week (deployment frequency).
    pub deploy_days_per_week: [Bound; 3],
    /// Lead time for changes, hours.
    pub lead_time_hours: [Bound; 3],
    /// Change failure rate, a share (0.05 = 5 %).
    pub change_failure_rate: [Bound; 3],
    /// Failed deployment recovery time (and time to restore service), hours.
    pub recovery_hours: [Bound; 3],
    /// Whether `[levels]` overrides replaced rows of the report's table.
    pub overridden: bool,
}

impl Default for LevelThresholds {
    fn default() -> Self {
        Self::for_year(DEFAULT_LEVELS_YEAR).expect("the default year has a table")
    }
}

/// Why no levels can be given for a year.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LevelsError {
    /// The 2025 report has no clusters.
    #[error(
        "the 2025 DORA report (State of AI-assisted Software Development) replaced the \
         elite/high/medium/low clusters with seven team profiles, so it defines no \
         performance levels; choose 2021, 2023 or 2024"
    )]
    NoClusters2025,
    /// No built-in table for the year.
    #[error("no DORA performance levels for {0}: the built-in tables are 2021, 2023 and 2024")]
    UnknownYear(u16),
}

impl LevelThresholds {
    /// The built-in table of a DORA report year.
    pub fn for_year(year: u16) -> Result<Self, LevelsError> {
        use Bound::{AtLeast, AtMost, Below};
        let t = |source, freq, lead, cfr, recovery| LevelThresholds {
            year,
            source,
            deploy_days_per_week: freq,
            lead_time_hours: lead,
            change_failure_rate: cfr,
            recovery_hours: recovery,
            overridden: false,
        };
        Ok(match year {
            // Accelerate State of DevOps Report 2021 (DORA, Google Cloud).
            // Frequency: on demand (multiple deploys per day) / between once
            // per week and once per month / between once per month and once
            // every six months / fewer than once per six months. Lead time:
            // < 1 hour / 1 day–1 week / 1–6 months / > 6 months. Time to
            // restore service (the recovery row): < 1 hour / < 1 day / 1 day–
            // 1 week / > 6 months. Failure rate: 0–15 % / 16–30 % for high,
            // medium and low alike: medium is never given (high's range is
            // the same and better wins), low only above 30 %.
            2021 => t(
                "Accelerate State of DevOps Report 2021 (DORA, Google Cloud)",
                [AtLeast(ON_DEMAND), AtLeast(MONTHLY), AtLeast(HALF_YEARLY)],
                [Below(HOUR), AtMost(WEEK), AtMost(SIX_MONTHS)],
                [AtMost(0.15), AtMost(0.30), AtMost(0.30)],
                [Below(HOUR), Below(DAY), AtMost(WEEK)],
            ),
            // Accelerate State of DevOps Report 2023 (DORA, Google Cloud).
            // Elite: on demand, < 1 day, 5 %, < 1 hour; high: once per day–
            // once per week, 1 day–1 week, 10 %, < 1 day; medium: once per
            // week–once per month, 1 week–1 month, 15 %, 1 day–1 week; low:
            // once per week–once per month, 1 week–1 month, 64 %, 1–6 months.
            // Low's frequency and lead time ranges equal medium's: such a
            // value earns medium, and low is given only past them.
            2023 => t(
                "Accelerate State of DevOps Report 2023 (DORA, Google Cloud)",
                [AtLeast(ON_DEMAND), AtLeast(WEEKLY), AtLeast(MONTHLY)],
                [Below(DAY), AtMost(WEEK), AtMost(MONTH)],
                [AtMost(0.05), AtMost(0.10), AtMost(0.15)],
                [Below(HOUR), Below(DAY), AtMost(WEEK)],
            ),
            // Accelerate State of DevOps Report 2024 (DORA, Google Cloud).
            // Elite: on demand, < 1 day, 5 %, < 1 hour; high: once per day–
            // once per week, 1 day–1 week, 20 %, < 1 day; medium: once per
            // week–once per month, 1 week–1 month, 10 %, < 1 day; low: once
            // per month–once every six months, 1–6 months, 40 %, 1 week–
            // 1 month. Not monotone: medium's 10 % failure rate lies inside
            // high's 20 %, and medium's recovery (< 1 day) equals high's, so
            // medium is never given for either; a failure rate above 20 % and
            // a recovery of a day or more are low.
            2024 => t(
                "Accelerate State of DevOps Report 2024 (DORA, Google Cloud)",
                [AtLeast(ON_DEMAND), AtLeast(WEEKLY), AtLeast(MONTHLY)],
                [Below(DAY), AtMost(WEEK), AtMost(MONTH)],
                [AtMost(0.05), AtMost(0.20), AtMost(0.10)],
                [Below(HOUR), Below(DAY), Below(DAY)],
            ),
            2025 => return Err(LevelsError::NoClusters2025),
            other => return Err(LevelsError::UnknownYear(other)),
        })
    }

    /// The bounds of elite, high and medium for `metric`; `None` for the
    /// deployment rework rate, for which no DORA report gives clusters.
    /// Time to restore service is rated by the recovery row: 2021's row is
    /// "time to restore service" itself, and from 2023 the reports measure
    /// recovery as failed deployment recovery time, its successor.
    pub fn bounds(&self, metric: Metric) -> Option<&[Bound; 3]> {
        match metric {
            Metric::DeploymentFrequency => Some(&self.deploy_days_per_week),
            Metric::LeadTimeForChanges => Some(&self.lead_time_hours),
            Metric::ChangeFailureRate => Some(&self.change_failure_rate),
            Metric::FailedDeploymentRecoveryTime | Metric::TimeToRestoreService => {
                Some(&self.recovery_hours)
            }
            Metric::DeploymentReworkRate => None,
        }
    }
}

/// Why a metric has no level whatever its value, if it has none.
pub fn no_level_reason(metric: Metric) -> Option<&'static str> {
    (metric == Metric::DeploymentReworkRate)
        .then_some("no DORA report gives performance levels for the deployment rework rate")
}

/// `[levels]`: which DORA report year's table rates the metrics, and
/// optional bounds that replace rows of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelsConfig {
    /// The report year: 2021, 2023 or 2024 (default 2024).
    pub year: u16,
    /// Replaces the frequency row: the least deploy days per week of elite,
    /// high and medium.
    pub deploy_days_per_week: Option<[f64; 3]>,
    /// Replaces the lead time row: elite, high and medium are met below
    /// these hours.
    pub lead_time_hours: Option<[f64; 3]>,
    /// Replaces the failure rate row: met at or below these shares.
    pub change_failure_rate: Option<[f64; 3]>,
    /// Replaces the recovery row: met below these hours.
    pub recovery_hours: Option<[f64; 3]>,
}

impl Default for LevelsConfig {
    fn default() -> Self {
        LevelsConfig {
            year: DEFAULT_LEVELS_YEAR,
            deploy_days_per_week: None,
            lead_time_hours: None,
            change_failure_rate: None,
            recovery_hours: None,
        }
    }
}

impl LevelsConfig {
    /// The table of `year` (the flag's; else `self.year`) with the
    /// configured overrides applied.
    pub fn thresholds(&self, year: Option<u16>) -> Result<LevelThresholds, LevelsError> {
        let mut t = LevelThresholds::for_year(year.unwrap_or(self.year))?;
        let row = |v: [f64; 3], bound: fn(f64) -> Bound| v.map(bound);
        if let Some(v) = self.deploy_days_per_week {
            t.deploy_days_per_week = row(v, Bound::AtLeast);
        }
        if let Some(v) = self.lead_time_hours {
            t.lead_time_hours = row(v, Bound::Below);
        }
        if let Some(v) = self.change_failure_rate {
            t.change_failure_rate = row(v, Bound::AtMost);
        }
        if let Some(v) = self.recovery_hours {
            t.recovery_hours = row(v, Bound::Below);
        }
        t.overridden = [
            self.deploy_days_per_week,
            self.lead_time_hours,
            self.change_failure_rate,
            self.recovery_hours,
        ]
        .iter()
        .any(Option::is_some);
        Ok(t)
    }

    /// Checks serde cannot express, each naming its key.
    pub fn validate(&self) -> Result<(), String> {
        if let Err(e) = LevelThresholds::for_year(self.year) {
            return Err(format!("`levels.year` = {}: {e}", self.year));
        }
        for (key, row) in [
            ("deploy_days_per_week", self.deploy_days_per_week),
            ("lead_time_hours", self.lead_time_hours),
            ("change_failure_rate", self.change_failure_rate),
            ("recovery_hours", self.recovery_hours),
        ] {
            if row.is_some_and(|r| r.iter().any(|b| !b.is_finite() || *b < 0.0)) {
                return Err(format!(
                    "`levels.{key}` must be three finite numbers, none negative"
                ));
            }
        }
        if self
            .deploy_days_per_week
            .is_some_and(|r| r.iter().any(|b| *b > 7.0))
        {
            return Err("`levels.deploy_days_per_week` must not exceed 7".into());
        }
        if self
            .change_failure_rate
            .is_some_and(|r| r.iter().any(|b| *b > 1.0))
        {
            return Err("`levels.change_failure_rate` must be shares between 0.0 and 1.0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_year_has_a_table_naming_its_report() {
        for year in LEVEL_YEARS {
            let t = LevelThresholds::for_year(year).unwrap();
            assert_eq!(t.year, year);
            assert!(t.source.contains(&year.to_string()), "{}", t.source);
            assert!(t.source.contains("State of DevOps"), "{}", t.source);
        }
        assert_eq!(LevelThresholds::default().year, 2024);
        assert_eq!(LevelsConfig::default().year, DEFAULT_LEVELS_YEAR);
    }

    #[test]
    fn the_2025_report_is_refused_with_why_and_unknown_years_list_the_choices() {
        let e = LevelThresholds::for_year(2025).unwrap_err().to_string();
        assert!(e.contains("team profiles"), "{e}");
        assert!(e.contains("2021, 2023 or 2024"), "{e}");
        let e = LevelThresholds::for_year(2019).unwrap_err().to_string();
        assert!(
            e.contains("2019") && e.contains("2021, 2023 and 2024"),
            "{e}"
        );
        let c = LevelsConfig {
            year: 2025,
            ..LevelsConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("levels.year"));
    }

    #[test]
    fn the_rework_rate_has_no_bounds_and_time_to_restore_uses_recovery() {
        let t = LevelThresholds::default();
        assert!(t.bounds(Metric::DeploymentReworkRate).is_none());
        assert!(no_level_reason(Metric::DeploymentReworkRate).is_some());
        assert_eq!(
            t.bounds(Metric::TimeToRestoreService),
            t.bounds(Metric::FailedDeploymentRecoveryTime)
        );
        for metric in Metric::ALL {
            assert_eq!(
                t.bounds(metric).is_none(),
                no_level_reason(metric).is_some(),
                "{metric}"
            );
        }
    }

    #[test]
    fn overrides_replace_rows_and_the_flag_year_wins_over_the_configured_one() {
        let c = LevelsConfig {
            year: 2021,
            change_failure_rate: Some([0.01, 0.02, 0.03]),
            ..LevelsConfig::default()
        };
        let t = c.thresholds(None).unwrap();
        assert_eq!((t.year, t.overridden), (2021, true));
        assert_eq!(t.change_failure_rate[0], Bound::AtMost(0.01));
        assert_eq!(t.lead_time_hours[0], Bound::Below(1.0));
        assert_eq!(c.thresholds(Some(2023)).unwrap().year, 2023);
        assert!(c.thresholds(Some(2025)).is_err());
        let bad = LevelsConfig {
            change_failure_rate: Some([0.1, 2.0, 0.3]),
            ..LevelsConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("levels.change_failure_rate")
        );
    }

    #[test]
    fn the_year_is_read_from_the_file_and_checked_when_loading() {
        use crate::config::Config;
        let c = Config::from_toml("[levels]\nyear = 2023").unwrap();
        assert_eq!(c.levels.thresholds(None).unwrap().year, 2023);
        assert_eq!(Config::from_toml("").unwrap().levels.year, 2024);
        let e = Config::from_toml("[levels]\nyear = 2025")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("levels.year") && e.contains("team profiles"),
            "{e}"
        );
        let e = Config::from_toml("[levels]\nyear = 2022")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2021, 2023 and 2024"), "{e}");
        // The old per-day frequency row is gone: its key is named as unknown.
        let e = Config::from_toml("[levels]\ndeployments_per_day = [1.0, 0.2, 0.03]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("deployments_per_day"), "{e}");
    }

    #[test]
    fn bounds_are_strict_below_and_inclusive_at_most() {
        assert!(!Bound::Below(1.0).meets(1.0));
        assert!(Bound::AtMost(1.0).meets(1.0));
        assert!(Bound::AtLeast(1.0).meets(1.0));
        assert!(!Bound::AtLeast(1.0).meets(0.99));
    }
}
