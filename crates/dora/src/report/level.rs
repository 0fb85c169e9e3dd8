//! DORA performance levels of range values, from the table of one DORA
//! report year ([`LevelThresholds`], `[levels] year` or `dorafleet metrics
//! --levels-year`).
//!
//! The rule: a value earns **the best level whose bound it meets** — elite,
//! then high, then medium — and low when it meets none. A year whose table
//! is not monotone never gives the worse level of an inverted pair: under
//! 2024, medium's 10 % failure rate lies inside high's 20 %, so a failure
//! rate of 8 % is high and medium is never given (nor is medium recovery,
//! equal to high's "< 1 day"); under 2021 high, medium and low share the
//! 16–30 % failure rate, so medium is never given and low only above 30 %.
//!
//! Deployment frequency is rated by deploy days per week ([`deploy_days`]),
//! not by deployments per day: one busy day does not lift a quiet month.
//! The deployment rework rate has no level (no report gives clusters for it).

use dorafleet_core::config::DAYS_PER_MONTH;
use dorafleet_core::{LevelThresholds, Metric};
use serde::Serialize;
use std::fmt;

/// A DORA performance level, ordered from worst (`Low`) to best (`Elite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Meets none of the bounds.
    Low,
    /// Meets the medium bound.
    Medium,
    /// Meets the high bound.
    High,
    /// Meets the elite bound.
    Elite,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Elite => "elite",
            Level::High => "high",
            Level::Medium => "medium",
            Level::Low => "low",
        })
    }
}

/// The level a range value earns under `t`: the best level whose bound it
/// meets, else low. For deployment frequency `value` is deploy days per
/// week. `None` for a metric without levels (the deployment rework rate).
pub fn level(metric: Metric, value: f64, t: &LevelThresholds) -> Option<Level> {
    let bounds = t.bounds(metric)?;
    Some(
        [Level::Elite, Level::High, Level::Medium]
            .into_iter()
            .zip(bounds)
            .find(|(_, b)| b.meets(value))
            .map_or(Level::Low, |(l, _)| l),
    )
}

/// Deploy days over a range's known days, as the DORA survey asks about
/// frequency: how many days had at least one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeployDays {
    /// Known days with at least one deployment.
    pub days: u64,
    /// Per 7 known days.
    pub per_week: f64,
    /// Per 30.44 known days (a month on average).
    pub per_month: f64,
}

/// Deploy days among `known` days, `None` without a known day.
pub fn deploy_days(deploy_days: u64, known: usize) -> Option<DeployDays> {
    (known > 0).then(|| {
        let rate = deploy_days as f64 / known as f64;
        DeployDays {
            days: deploy_days,
            per_week: rate * 7.0,
            per_month: rate * DAYS_PER_MONTH,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: u16, metric: Metric, value: f64) -> Level {
        let t = LevelThresholds::for_year(year).unwrap();
        level(metric, value, &t).unwrap()
    }

    const DAY: f64 = 24.0;
    const WEEK: f64 = 7.0 * DAY;
    const MONTH: f64 = DAYS_PER_MONTH * DAY;

    #[test]
    fn deploy_days_per_week_rate_frequency_on_its_boundaries() {
        use Metric::DeploymentFrequency as F;
        for year in [2023, 2024] {
            assert_eq!(at(year, F, 5.0), Level::Elite, "5 of 7 days: on demand");
            assert_eq!(at(year, F, 4.99), Level::High);
            assert_eq!(at(year, F, 1.0), Level::High, "once a week");
            assert_eq!(at(year, F, 0.99), Level::Medium);
            assert_eq!(at(year, F, 7.0 / DAYS_PER_MONTH), Level::Medium, "monthly");
            assert_eq!(at(year, F, 0.2), Level::Low);
        }
        // 2021: high is weekly to monthly, medium monthly to half-yearly.
        assert_eq!(at(2021, F, 1.0), Level::High);
        assert_eq!(at(2021, F, 7.0 / DAYS_PER_MONTH), Level::High);
        assert_eq!(at(2021, F, 0.2), Level::Medium);
        assert_eq!(at(2021, F, 0.01), Level::Low);
    }

    #[test]
    fn lead_time_levels_per_year_on_their_boundaries() {
        use Metric::LeadTimeForChanges as L;
        assert_eq!(at(2021, L, 0.99), Level::Elite);
        assert_eq!(at(2021, L, 1.0), Level::High, "< 1 hour is strict");
        assert_eq!(at(2021, L, WEEK), Level::High, "a week is in 1 day–1 week");
        assert_eq!(at(2021, L, WEEK + 1.0), Level::Medium);
        assert_eq!(at(2021, L, 6.0 * MONTH + 1.0), Level::Low);
        for year in [2023, 2024] {
            assert_eq!(at(year, L, DAY - 0.01), Level::Elite);
            assert_eq!(at(year, L, DAY), Level::High);
            assert_eq!(at(year, L, WEEK), Level::High);
            assert_eq!(at(year, L, MONTH), Level::Medium);
            assert_eq!(at(year, L, MONTH + 1.0), Level::Low);
        }
    }

    #[test]
    fn failure_rate_levels_and_the_non_monotone_rule() {
        use Metric::ChangeFailureRate as C;
        assert_eq!(at(2021, C, 0.15), Level::Elite);
        assert_eq!(at(2021, C, 0.16), Level::High);
        assert_eq!(
            at(2021, C, 0.30),
            Level::High,
            "high, medium, low share 16–30 %"
        );
        assert_eq!(at(2021, C, 0.31), Level::Low);
        assert_eq!(at(2023, C, 0.05), Level::Elite);
        assert_eq!(at(2023, C, 0.10), Level::High);
        assert_eq!(at(2023, C, 0.15), Level::Medium);
        assert_eq!(at(2023, C, 0.16), Level::Low);
        // 2024: medium's 10 % lies inside high's 20 %: better wins, so
        // medium is never given.
        assert_eq!(at(2024, C, 0.05), Level::Elite);
        assert_eq!(at(2024, C, 0.08), Level::High);
        assert_eq!(at(2024, C, 0.10), Level::High);
        assert_eq!(at(2024, C, 0.20), Level::High);
        assert_eq!(at(2024, C, 0.21), Level::Low);
        for pct in 0..=100 {
            assert_ne!(
                at(2024, C, f64::from(pct) / 100.0),
                Level::Medium,
                "{pct} %"
            );
            assert_ne!(
                at(2021, C, f64::from(pct) / 100.0),
                Level::Medium,
                "{pct} %"
            );
        }
    }

    #[test]
    fn recovery_levels_apply_to_both_recovery_metrics() {
        for metric in [
            Metric::FailedDeploymentRecoveryTime,
            Metric::TimeToRestoreService,
        ] {
            assert_eq!(at(2021, metric, 0.5), Level::Elite);
            assert_eq!(at(2021, metric, 1.0), Level::High);
            assert_eq!(at(2021, metric, DAY), Level::Medium, "2021: 1 day–1 week");
            assert_eq!(at(2021, metric, WEEK + 1.0), Level::Low);
            assert_eq!(at(2023, metric, DAY), Level::Medium);
            assert_eq!(at(2023, metric, WEEK), Level::Medium);
            assert_eq!(at(2023, metric, WEEK + 1.0), Level::Low);
            // 2024: medium's "< 1 day" equals high's: never given.
            assert_eq!(at(2024, metric, 23.0), Level::High);
            assert_eq!(at(2024, metric, DAY), Level::Low);
        }
    }

    #[test]
    fn the_rework_rate_has_no_level() {
        let t = LevelThresholds::default();
        assert_eq!(level(Metric::DeploymentReworkRate, 0.0, &t), None);
    }

    #[test]
    fn a_burst_month_counts_its_deploy_days_not_its_deployments() {
        // 8 deployments on one day and 1 on another, over 30 known days.
        let d = deploy_days(2, 30).unwrap();
        assert!((d.per_week - 2.0 * 7.0 / 30.0).abs() < 1e-9);
        assert!((d.per_month - 2.0 * DAYS_PER_MONTH / 30.0).abs() < 1e-9);
        let t = LevelThresholds::default();
        let l = level(Metric::DeploymentFrequency, d.per_week, &t).unwrap();
        assert_eq!(l, Level::Medium, "9 deployments, but not weekly: not high");
        assert_eq!(deploy_days(0, 0), None);
    }
}
