//! Alerts fire for regressions injected into the simulator's organisation:
//! its ground-truth DORA values are written as gold, then one team's next day
//! regresses on three metrics, and exactly the expected alerts reach a webhook.

mod support;

use chrono::{Days, NaiveDate};
use dorafleet_alerts::receiver::TestReceiver;
use dorafleet_core::{AlertRuleName, Metric};
use dorafleet_sim::{SimOptions, generate};
use dorafleet_warehouse::GoldRecord;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::{gold, monitor_config, start_monitor, wait_until_caught_up, warehouse};

fn simulator_gold() -> Vec<GoldRecord> {
    let org = generate(&SimOptions::default());
    org.ground_truth()
        .into_iter()
        .map(|t| {
            let mut g = gold(&t.team, t.date, t.metric.parse().unwrap(), t.value);
            g.sample_size = t.sample_size;
            g
        })
        .collect()
}

/// The alerts the documented rules raise over `records`, worked out here
/// directly: CFR above 0.5, recovery above 72 h, deployments below half the
/// mean of the team's previous 28 days (with at least 7 of them).
fn expected_keys(records: &[GoldRecord]) -> BTreeSet<String> {
    let mut deployments: BTreeMap<(&str, NaiveDate), f64> = BTreeMap::new();
    for r in records {
        if let (Metric::DeploymentFrequency, Some(v)) = (r.metric, r.value) {
            deployments.insert((r.team_id.as_str(), r.date), v);
        }
    }
    let key = |rule: &str, r: &GoldRecord| format!("{rule}:{}:{}:v1", r.team_id, r.date);
    let mut keys = BTreeSet::new();
    for r in records {
        let Some(v) = r.value else { continue };
        match r.metric {
            Metric::ChangeFailureRate if v > 0.5 => {
                keys.insert(key("change_failure_rate", r));
            }
            Metric::FailedDeploymentRecoveryTime if v > 72.0 => {
                keys.insert(key("recovery_time", r));
            }
            Metric::DeploymentFrequency => {
                let before: Vec<f64> = (1..=28)
                    .filter_map(|back| {
                        let day = r.date.checked_sub_days(Days::new(back))?;
                        deployments.get(&(r.team_id.as_str(), day)).copied()
                    })
                    .collect();
                let mean = before.iter().sum::<f64>() / before.len().max(1) as f64;
                if before.len() >= 7 && mean > 0.0 && v < mean * 0.5 {
                    keys.insert(key("deploy_frequency_drop", r));
                }
            }
            _ => {}
        }
    }
    keys
}

#[tokio::test]
async fn injected_regressions_in_simulator_data_raise_exactly_the_expected_alerts() {
    let w = warehouse();
    let receiver = TestReceiver::start(0).await.unwrap();
    let config = monitor_config(
        receiver.url(),
        &[
            AlertRuleName::ChangeFailureRate,
            AlertRuleName::RecoveryTime,
            AlertRuleName::DeployFrequencyDrop,
        ],
    );
    let history = simulator_gold();
    let history_keys = expected_keys(&history);
    w.warehouse.upsert_gold(&history).await.unwrap();
    let monitor = start_monitor(&w.path, config.clone());
    let got = receiver
        .wait_for(history_keys.len(), Duration::from_secs(60))
        .await;
    wait_until_caught_up(w.warehouse.as_ref(), &config.name, Duration::from_secs(30)).await;

    // The regression: the day after the simulated range, one team ships
    // nothing, fails every change and takes days to recover.
    let team = history[0].team_id.clone();
    let day = history
        .iter()
        .map(|g| g.date)
        .max()
        .unwrap()
        .succ_opt()
        .unwrap();
    let regression = vec![
        gold(&team, day, Metric::DeploymentFrequency, Some(0.0)),
        gold(&team, day, Metric::ChangeFailureRate, Some(1.0)),
        gold(
            &team,
            day,
            Metric::FailedDeploymentRecoveryTime,
            Some(120.0),
        ),
    ];
    let mut all = history.clone();
    all.extend(regression.clone());
    let all_keys = expected_keys(&all);
    let injected: BTreeSet<_> = all_keys.difference(&history_keys).cloned().collect();
    assert_eq!(
        injected,
        [
            "change_failure_rate",
            "deploy_frequency_drop",
            "recovery_time"
        ]
        .iter()
        .map(|rule| format!("{rule}:{team}:{day}:v1"))
        .collect(),
        "the regression must trip all three rules"
    );
    w.warehouse.upsert_gold(&regression).await.unwrap();
    receiver
        .wait_for(all_keys.len(), Duration::from_secs(30))
        .await;
    wait_until_caught_up(w.warehouse.as_ref(), &config.name, Duration::from_secs(30)).await;
    let stats = monitor.stop().await;

    let received: Vec<String> = receiver
        .received()
        .into_iter()
        .map(|r| r.alert_id)
        .collect();
    let unique: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(received.len(), unique.len(), "no alert twice: {received:?}");
    assert_eq!(unique, all_keys);
    assert!(got.len() >= history_keys.len());
    assert_eq!(stats.alerts_delivered as usize, all_keys.len());
    assert!(
        !history_keys.is_empty(),
        "the simulated history has regressions of its own"
    );
}
