//! Alert rules over gold changes: plain functions of a gold record (and, for
//! the deployment-frequency drop, the team's recent history), so each rule
//! is tested without a warehouse.
//!
//! Only complete gold speaks: a record whose inputs were incomplete is not a
//! number dorafleet vouches for, so it never alerts.

use crate::alert::Alert;
use chrono::{Days, NaiveDate};
use dorafleet_core::{AlertRuleName, Metric, MonitorConfig};
use dorafleet_warehouse::GoldRecord;

/// The rules that look at gold, with their thresholds.
#[derive(Debug, Clone)]
pub struct GoldRules {
    config: MonitorConfig,
}

impl GoldRules {
    /// The rules as `config` enables them, with its thresholds.
    pub fn new(config: &MonitorConfig) -> Self {
        GoldRules {
            config: config.clone(),
        }
    }

    /// The days of history `evaluate` needs for this record, `[from, to)`:
    /// the baseline window before a deployment-frequency day, or `None`.
    pub fn history_needed(&self, record: &GoldRecord) -> Option<(NaiveDate, NaiveDate)> {
        (record.metric == Metric::DeploymentFrequency
            && self.config.enabled(AlertRuleName::DeployFrequencyDrop))
        .then(|| {
            let from = record
                .date
                .checked_sub_days(Days::new(u64::from(self.config.baseline_days)))
                .unwrap_or(NaiveDate::MIN);
            (from, record.date)
        })
    }

    /// The alerts one changed gold record raises. `history` holds the team's
    /// deployment-frequency gold over [`Self::history_needed`] (ignored otherwise).
    pub fn evaluate(&self, record: &GoldRecord, history: &[GoldRecord]) -> Vec<Alert> {
        let (Some(value), true) = (record.value, record.complete) else {
            return Vec::new();
        };
        let c = &self.config;
        let alert = |rule, threshold: f64, message: String| Alert {
            rule,
            subject: None,
            team: record.team_id.clone(),
            day: record.date,
            definition_version: record.definition_version,
            metric: Some(record.metric),
            value: Some(value),
            threshold: Some(threshold),
            message,
        };
        let fired = match record.metric {
            Metric::ChangeFailureRate
                if c.enabled(AlertRuleName::ChangeFailureRate)
                    && value > c.change_failure_rate_above =>
            {
                Some(alert(
                    AlertRuleName::ChangeFailureRate,
                    c.change_failure_rate_above,
                    format!(
                        "change failure rate {:.0} % (above {:.0} %, {} deployments)",
                        value * 100.0,
                        c.change_failure_rate_above * 100.0,
                        record.sample_size
                    ),
                ))
            }
            Metric::FailedDeploymentRecoveryTime
                if c.enabled(AlertRuleName::RecoveryTime) && value > c.recovery_hours_above =>
            {
                Some(alert(
                    AlertRuleName::RecoveryTime,
                    c.recovery_hours_above,
                    format!(
                        "median recovery time {value:.1} h (above {:.1} h, {} incidents)",
                        c.recovery_hours_above, record.sample_size
                    ),
                ))
            }
            Metric::DeploymentFrequency if self.history_needed(record).is_some() => {
                deployment_baseline(record, history, c.baseline_min_days).and_then(|baseline| {
                    let floor = baseline * (1.0 - c.deploy_frequency_drop);
                    (value < floor).then(|| {
                        alert(
                            AlertRuleName::DeployFrequencyDrop,
                            floor,
                            format!(
                                "{value} deployments, against a baseline of {baseline:.1} a day \
                                 (alert below {floor:.1})"
                            ),
                        )
                    })
                })
            }
            _ => None,
        };
        fired.into_iter().collect()
    }
}

/// Mean deployments per day of the team's complete gold before `record`'s
/// day, under the same definition version; `None` with fewer than
/// `min_days` days of it or a zero mean (nothing to drop from).
pub fn deployment_baseline(
    record: &GoldRecord,
    history: &[GoldRecord],
    min_days: u32,
) -> Option<f64> {
    let values: Vec<f64> = history
        .iter()
        .filter(|h| {
            h.team_id == record.team_id
                && h.metric == Metric::DeploymentFrequency
                && h.date < record.date
                && h.complete
                && h.definition_version == record.definition_version
        })
        .filter_map(|h| h.value)
        .collect();
    if values.len() < min_days as usize {
        return None;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (mean > 0.0).then_some(mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gold(metric: Metric, day: u32, value: Option<f64>) -> GoldRecord {
        let date = NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
        dorafleet_warehouse::contract::gold_record("payments", date, metric, value)
    }

    fn rules() -> GoldRules {
        GoldRules::new(&MonitorConfig {
            change_failure_rate_above: 0.3,
            recovery_hours_above: 24.0,
            deploy_frequency_drop: 0.5,
            baseline_days: 7,
            baseline_min_days: 3,
            ..MonitorConfig::default()
        })
    }

    #[test]
    fn a_change_failure_rate_above_the_threshold_alerts_and_one_at_it_does_not() {
        let high = gold(Metric::ChangeFailureRate, 5, Some(0.5));
        let alerts = rules().evaluate(&high, &[]);
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            alerts[0].key(),
            "change_failure_rate:payments:2026-03-05:v1"
        );
        assert_eq!(alerts[0].threshold, Some(0.3));
        assert!(
            rules()
                .evaluate(&gold(Metric::ChangeFailureRate, 5, Some(0.3)), &[])
                .is_empty()
        );
    }

    #[test]
    fn a_slow_recovery_alerts_but_undefined_or_incomplete_gold_never_does() {
        let slow = gold(Metric::FailedDeploymentRecoveryTime, 2, Some(30.0));
        assert_eq!(
            rules().evaluate(&slow, &[])[0].rule,
            AlertRuleName::RecoveryTime
        );
        let undefined = gold(Metric::FailedDeploymentRecoveryTime, 2, None);
        assert!(rules().evaluate(&undefined, &[]).is_empty());
        let mut incomplete = slow.clone();
        incomplete.complete = false;
        assert!(rules().evaluate(&incomplete, &[]).is_empty());
    }

    #[test]
    fn deployments_below_half_the_baseline_alert_once_the_baseline_has_enough_days() {
        let history: Vec<_> = (1..=4)
            .map(|d| gold(Metric::DeploymentFrequency, d, Some(4.0)))
            .collect();
        let today = gold(Metric::DeploymentFrequency, 5, Some(1.0));
        assert_eq!(
            rules().history_needed(&today),
            Some((
                NaiveDate::from_ymd_opt(2026, 2, 26).unwrap(),
                NaiveDate::from_ymd_opt(2026, 3, 5).unwrap()
            ))
        );
        let alerts = rules().evaluate(&today, &history);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule, AlertRuleName::DeployFrequencyDrop);
        assert_eq!(alerts[0].threshold, Some(2.0));
        // Exactly at half the baseline is not below it.
        let half = gold(Metric::DeploymentFrequency, 5, Some(2.0));
        assert!(rules().evaluate(&half, &history).is_empty());
        // Two days of history are not a baseline.
        assert!(rules().evaluate(&today, &history[..2]).is_empty());
    }

    #[test]
    fn the_baseline_ignores_other_versions_incomplete_days_and_later_days() {
        let today = gold(Metric::DeploymentFrequency, 5, Some(1.0));
        let mut other_version = gold(Metric::DeploymentFrequency, 1, Some(100.0));
        other_version.definition_version = 2;
        let mut incomplete = gold(Metric::DeploymentFrequency, 2, Some(100.0));
        incomplete.complete = false;
        let history = vec![
            other_version,
            incomplete,
            gold(Metric::DeploymentFrequency, 3, Some(3.0)),
            gold(Metric::DeploymentFrequency, 4, Some(5.0)),
            gold(Metric::DeploymentFrequency, 6, Some(100.0)),
        ];
        assert_eq!(deployment_baseline(&today, &history, 2), Some(4.0));
        assert_eq!(deployment_baseline(&today, &history, 3), None);
    }

    #[test]
    fn a_rule_left_out_of_the_config_stays_silent() {
        let config = MonitorConfig {
            rules: vec![AlertRuleName::RecoveryTime],
            ..MonitorConfig::default()
        };
        let high = gold(Metric::ChangeFailureRate, 5, Some(1.0));
        assert!(GoldRules::new(&config).evaluate(&high, &[]).is_empty());
        assert_eq!(
            GoldRules::new(&config).history_needed(&gold(Metric::DeploymentFrequency, 5, None)),
            None
        );
    }
}
