//! `[monitor]`: where alerts go and when gold is worth an alert.
//!
//! Each rule is a threshold an operator tunes for their organisation; a rule
//! left out of `rules` is off. Alerts are deduplicated per rule, team, day
//! and definition version, so tuning a threshold never repeats an alert
//! already sent for the same day.

use crate::secret::Secret;
use serde::Deserialize;
use std::fmt;

/// The alert rules the monitor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRuleName {
    /// A day's change failure rate above `change_failure_rate_above`.
    ChangeFailureRate,
    /// A day's deployments below the team's baseline by `deploy_frequency_drop`.
    DeployFrequencyDrop,
    /// A day's median recovery time above `recovery_hours_above`.
    RecoveryTime,
    /// A run held a team's days back (a data-quality sensor failed).
    HeldRun,
    /// A source's newest extracted record older than `stale_source_after_hours`.
    StaleSource,
}

impl AlertRuleName {
    /// Every rule (all are on by default).
    pub const ALL: [AlertRuleName; 5] = [
        AlertRuleName::ChangeFailureRate,
        AlertRuleName::DeployFrequencyDrop,
        AlertRuleName::RecoveryTime,
        AlertRuleName::HeldRun,
        AlertRuleName::StaleSource,
    ];

    /// The snake_case name, as written in `rules`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRuleName::ChangeFailureRate => "change_failure_rate",
            AlertRuleName::DeployFrequencyDrop => "deploy_frequency_drop",
            AlertRuleName::RecoveryTime => "recovery_time",
            AlertRuleName::HeldRun => "held_run",
            AlertRuleName::StaleSource => "stale_source",
        }
    }
}

impl fmt::Display for AlertRuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `[monitor]` section: where alerts go and each rule's threshold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Slack-compatible incoming webhook; its URL carries a token, so it is a
    /// secret. Unset: alerts are printed on stdout only.
    pub webhook_url: Option<Secret>,
    /// Name of the monitor's checkpoint in the warehouse; two monitors with
    /// different names each see every change.
    pub name: String,
    /// How often the SQLite gold feed is polled (bounds alert latency).
    pub poll_interval_ms: u64,
    /// How often the checks not driven by gold changes run (stale sources,
    /// held runs) and the handled gold changes are purged.
    pub check_interval_secs: u64,
    /// Gold changes this monitor has handled are purged from the warehouse's
    /// change feed once they are older than this. A second monitor (another
    /// `name`) lagging further behind would miss the purged ones.
    pub outbox_retention_hours: f64,
    /// Rules that are on.
    pub rules: Vec<AlertRuleName>,
    /// Alert when a day's change failure rate (0.0–1.0) is above this.
    pub change_failure_rate_above: f64,
    /// Alert when a day's median recovery time is above this many hours.
    pub recovery_hours_above: f64,
    /// Alert when a day's deployments fall below the baseline by this share
    /// (0.5: fewer than half the baseline).
    pub deploy_frequency_drop: f64,
    /// The baseline is the mean deployments per day over this many days before.
    pub baseline_days: u32,
    /// Days of gold the baseline needs before the drop rule speaks.
    pub baseline_min_days: u32,
    /// Alert when a source's newest extracted record is older than this.
    pub stale_source_after_hours: f64,
    /// Per-request timeout of the webhook.
    pub webhook_timeout_ms: u64,
    /// First retry delay of a failing webhook; doubles up to `retry_cap_ms`,
    /// and retries never stop (an alert is never dropped).
    pub retry_base_ms: u64,
    /// Largest retry delay of a failing webhook, in ms.
    pub retry_cap_ms: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            webhook_url: None,
            name: "monitor".into(),
            poll_interval_ms: 100,
            check_interval_secs: 60,
            outbox_retention_hours: 168.0,
            rules: AlertRuleName::ALL.to_vec(),
            change_failure_rate_above: 0.3,
            recovery_hours_above: 24.0,
            deploy_frequency_drop: 0.5,
            baseline_days: 28,
            baseline_min_days: 7,
            stale_source_after_hours: 48.0,
            webhook_timeout_ms: 5_000,
            retry_base_ms: 200,
            retry_cap_ms: 30_000,
        }
    }
}

impl MonitorConfig {
    /// Whether `rule` is listed in `rules`.
    pub fn enabled(&self, rule: AlertRuleName) -> bool {
        self.rules.contains(&rule)
    }

    /// Checks serde cannot express; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, why: &str| Err(format!("`monitor.{key}` {why}"));
        if self.name.trim().is_empty() {
            return bad("name", "is empty");
        }
        if let Some(url) = &self.webhook_url {
            let url = url.expose();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return bad("webhook_url", "must start with http:// or https://");
            }
        }
        if self.poll_interval_ms == 0 || self.check_interval_secs == 0 {
            return bad(
                "poll_interval_ms / check_interval_secs",
                "must be at least 1",
            );
        }
        if !(0.0..=1.0).contains(&self.change_failure_rate_above) {
            return bad("change_failure_rate_above", "must be between 0.0 and 1.0");
        }
        if !(self.deploy_frequency_drop > 0.0 && self.deploy_frequency_drop <= 1.0) {
            return bad("deploy_frequency_drop", "must be above 0.0 and at most 1.0");
        }
        if self.recovery_hours_above <= 0.0
            || self.stale_source_after_hours <= 0.0
            || self.outbox_retention_hours <= 0.0
        {
            return bad(
                "recovery_hours_above / stale_source_after_hours / outbox_retention_hours",
                "must be above 0",
            );
        }
        if self.baseline_min_days == 0 || self.baseline_min_days > self.baseline_days {
            return bad("baseline_min_days", "must be between 1 and baseline_days");
        }
        if self.webhook_timeout_ms == 0 || self.retry_base_ms == 0 {
            return bad("webhook_timeout_ms / retry_base_ms", "must be at least 1");
        }
        if self.retry_cap_ms < self.retry_base_ms {
            return bad("retry_cap_ms", "must be at least retry_base_ms");
        }
        Ok(())
    }
}
