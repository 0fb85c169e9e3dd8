//! An alert, its dedup key and its Slack-compatible payload.
//!
//! The key is (rule, team, day, definition version): one alert per rule,
//! team and day, repeated only when the metric's definition changes (the
//! numbers then mean something else). It travels in the payload as
//! `alert_id`, so a receiver can deduplicate too.

use chrono::NaiveDate;
use dorafleet_core::{AlertRuleName, Metric};
use serde_json::{Value, json};

/// One alert: which rule fired for which team and day, with the numbers
/// behind it and a sentence for humans.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The rule that fired.
    pub rule: AlertRuleName,
    /// Narrows the rule when one team can trip it several times a day for
    /// different things (the source of a stale-source alert).
    pub subject: Option<String>,
    /// Id of the team the alert is about.
    pub team: String,
    /// The day the alert is about: the gold record's date, the first held
    /// day, or (stale source) the UTC day the staleness was seen.
    pub day: NaiveDate,
    /// The definition version of the metric behind the alert (0 when none).
    pub definition_version: u32,
    /// The metric behind the alert; `None` for rules not about one metric.
    pub metric: Option<Metric>,
    /// The observed value and the threshold it crossed, when the rule has them.
    pub value: Option<f64>,
    /// The threshold `value` crossed, in the same unit.
    pub threshold: Option<f64>,
    /// One human sentence.
    pub message: String,
}

impl Alert {
    /// The dedup key, e.g. `change_failure_rate:payments:2026-03-01:v1`.
    pub fn key(&self) -> String {
        let rule = match &self.subject {
            Some(s) => format!("{}.{s}", self.rule),
            None => self.rule.to_string(),
        };
        format!(
            "{rule}:{}:{}:v{}",
            self.team, self.day, self.definition_version
        )
    }

    /// Slack-compatible JSON: `text` and `blocks` for Slack, the structured
    /// fields beside them for any other receiver.
    pub fn payload(&self) -> Value {
        let text = format!(
            ":rotating_light: *{}* — team `{}`, {}: {}",
            self.rule, self.team, self.day, self.message
        );
        json!({
            "text": text,
            "blocks": [
                { "type": "section", "text": { "type": "mrkdwn", "text": text } },
                { "type": "context", "elements": [
                    { "type": "mrkdwn", "text": format!("alert_id `{}`", self.key()) }
                ] }
            ],
            "alert_id": self.key(),
            "rule": self.rule.as_str(),
            "subject": self.subject,
            "team": self.team,
            "day": self.day.to_string(),
            "definition_version": self.definition_version,
            "metric": self.metric.map(Metric::as_str),
            "value": self.value,
            "threshold": self.threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_names_rule_subject_team_day_and_version_and_travels_in_the_payload() {
        let mut alert = Alert {
            rule: AlertRuleName::StaleSource,
            subject: Some("jira".into()),
            team: "payments".into(),
            day: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            definition_version: 0,
            metric: None,
            value: Some(50.0),
            threshold: Some(48.0),
            message: "jira data is 50 h old".into(),
        };
        assert_eq!(alert.key(), "stale_source.jira:payments:2026-03-01:v0");
        alert.subject = None;
        alert.definition_version = 3;
        assert_eq!(alert.key(), "stale_source:payments:2026-03-01:v3");
        let payload = alert.payload();
        assert_eq!(payload["alert_id"], "stale_source:payments:2026-03-01:v3");
        assert!(payload["text"].as_str().unwrap().contains("payments"));
        assert_eq!(payload["blocks"][0]["type"], "section");
    }
}
