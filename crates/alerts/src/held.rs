//! The held-run rule: a run whose data-quality sensor held a team's days
//! back (their gold is not written until an operator looks).
//!
//! [`held_runs`] reads the open holds from the warehouse. A hold alerts once,
//! on the first day it holds (a 90-day backfill held for one scope is one
//! alert, not ninety); the message gives its whole span and evidence.

use crate::alert::Alert;
use crate::error::MonitorError;
use chrono::NaiveDate;
use dorafleet_core::AlertRuleName;
use dorafleet_warehouse::{HoldFilter, HoldStatus, HoldStore};
use uuid::Uuid;

/// A run's hold on a team's days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRun {
    /// Id of the held team.
    pub team: String,
    /// The days to alert on ([`held_runs`] gives only the first held day).
    pub days: Vec<NaiveDate>,
    /// The run that holds them.
    pub run_id: Uuid,
    /// Why, for humans: the sensor, the held span, its evidence and the
    /// command that shows the run.
    pub reason: String,
}

/// The open holds, each as the run, team and first held day it alerts on.
pub async fn held_runs(warehouse: &dyn HoldStore) -> Result<Vec<HeldRun>, MonitorError> {
    let open = HoldFilter {
        status: Some(HoldStatus::Open),
        ..HoldFilter::default()
    };
    Ok(warehouse
        .holds(&open)
        .await?
        .into_iter()
        .map(|h| HeldRun {
            team: h.team_id,
            days: vec![h.from],
            run_id: h.run_id,
            reason: format!(
                "{} sensor holds {}..{}: {} observed {}, expected {:.1} ({}); `dorafleet runs show {}`",
                h.sensor,
                h.from,
                h.to,
                h.evidence.measure,
                h.evidence.observed,
                h.evidence.expected,
                h.evidence.threshold,
                h.run_id
            ),
        })
        .collect())
}

/// One alert per team and held day. A day held by several runs alerts once
/// (same key); the alert names the first run.
pub fn held_run_alerts(holds: &[HeldRun]) -> Vec<Alert> {
    holds
        .iter()
        .flat_map(|hold| {
            hold.days.iter().map(move |day| Alert {
                rule: AlertRuleName::HeldRun,
                subject: None,
                team: hold.team.clone(),
                day: *day,
                definition_version: 0,
                metric: None,
                value: None,
                threshold: None,
                message: format!("run {} is held: {}", hold.run_id, hold.reason),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dorafleet_warehouse::HoldStore;

    #[test]
    fn each_held_day_of_each_team_is_one_alert_naming_run_and_reason() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        let run = Uuid::now_v7();
        let holds = vec![
            HeldRun {
                team: "payments".into(),
                days: vec![day(1), day(2)],
                run_id: run,
                reason: "deployments 80 % below their 28-day volume".into(),
            },
            HeldRun {
                team: "search".into(),
                days: vec![day(2)],
                run_id: run,
                reason: "jira returned no issues".into(),
            },
        ];
        let alerts = held_run_alerts(&holds);
        let keys: Vec<_> = alerts.iter().map(Alert::key).collect();
        assert_eq!(
            keys,
            vec![
                "held_run:payments:2026-03-01:v0",
                "held_run:payments:2026-03-02:v0",
                "held_run:search:2026-03-02:v0",
            ]
        );
        assert!(alerts[0].message.contains(&run.to_string()));
        assert!(alerts[2].message.contains("jira returned no issues"));
    }

    #[tokio::test]
    async fn an_open_hold_in_the_warehouse_alerts_once_on_its_first_day_and_a_released_one_not_at_all()
     {
        use dorafleet_warehouse::{Hold, HoldEvidence, HoldResolution, sqlite::SqliteWarehouse};
        let warehouse = SqliteWarehouse::open_in_memory().unwrap();
        let (run, from) = (Uuid::now_v7(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        let hold = Hold {
            hold_id: Hold::id_for(run, "payments", "pagination", Some("jenkins:deploy"), from),
            run_id: run,
            team_id: "payments".into(),
            sensor: "pagination".into(),
            scope: Some("jenkins:deploy".into()),
            from,
            to: from + chrono::Duration::days(90),
            evidence: HoldEvidence {
                measure: "jenkins:deploy page chain".into(),
                observed: 1.0,
                expected: 0.0,
                threshold: "no page skipped".into(),
                detail: "a short page hid builds".into(),
            },
            status: HoldStatus::Open,
            created_at: chrono::Utc::now(),
            resolution: None,
        };
        warehouse.save_hold(&hold).await.unwrap();
        let alerts = held_run_alerts(&held_runs(&warehouse).await.unwrap());
        let keys: Vec<_> = alerts.iter().map(Alert::key).collect();
        assert_eq!(keys, vec!["held_run:payments:2026-03-01:v0"]);
        assert!(
            alerts[0]
                .message
                .contains(&format!("dorafleet runs show {run}"))
        );

        let release = HoldResolution {
            at: chrono::Utc::now(),
            by: "olga".into(),
            reason: "real".into(),
        };
        warehouse
            .resolve_holds(&HoldFilter::default(), HoldStatus::Released, &release)
            .await
            .unwrap();
        assert!(held_runs(&warehouse).await.unwrap().is_empty());
    }
}
