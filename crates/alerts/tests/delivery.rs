//! Delivery guarantees of the monitor in one process: a failing webhook is
//! retried until every alert arrives once, and neither a recomputed day nor
//! a restarted monitor repeats an alert.

mod support;

use chrono::NaiveDate;
use dorafleet_alerts::receiver::TestReceiver;
use dorafleet_core::{AlertRuleName, Metric};
use std::collections::BTreeSet;
use std::time::Duration;
use support::{gold, monitor_config, start_monitor, wait_until_caught_up, warehouse};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn failing_days(
    team: &str,
    days: std::ops::RangeInclusive<u32>,
) -> Vec<dorafleet_warehouse::GoldRecord> {
    days.map(|d| gold(team, day(d), Metric::ChangeFailureRate, Some(0.75)))
        .collect()
}

#[tokio::test]
async fn a_webhook_failing_its_first_requests_is_retried_and_gets_every_alert_once() {
    let w = warehouse();
    let receiver = TestReceiver::start(5).await.unwrap();
    let config = monitor_config(receiver.url(), &[AlertRuleName::ChangeFailureRate]);
    let monitor = start_monitor(&w.path, config.clone());
    w.warehouse
        .upsert_gold(&failing_days("payments", 1..=3))
        .await
        .unwrap();
    let got = receiver.wait_for(3, Duration::from_secs(30)).await;
    wait_until_caught_up(w.warehouse.as_ref(), &config.name, Duration::from_secs(30)).await;
    monitor.stop().await;

    assert_eq!(receiver.refused(), 5);
    let ids: Vec<_> = receiver
        .received()
        .into_iter()
        .map(|r| r.alert_id)
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(
        ids,
        (1..=3)
            .map(|d| format!("change_failure_rate:payments:{}:v1", day(d)))
            .collect::<Vec<_>>(),
        "every alert once, in gold order"
    );
    let recorded = w.warehouse.delivered_alerts(100).await.unwrap();
    assert_eq!(recorded.len(), 3);
}

#[tokio::test]
async fn while_the_webhook_is_down_the_checkpoint_stays_before_the_undelivered_alert() {
    let w = warehouse();
    let receiver = TestReceiver::start(usize::MAX).await.unwrap();
    let config = monitor_config(receiver.url(), &[AlertRuleName::ChangeFailureRate]);
    let monitor = start_monitor(&w.path, config.clone());
    w.warehouse
        .upsert_gold(&failing_days("payments", 1..=2))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while receiver.refused() < 3 {
        assert!(std::time::Instant::now() < deadline, "no retries seen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    monitor.stop().await;
    assert_eq!(
        w.warehouse.monitor_checkpoint(&config.name).await.unwrap(),
        None
    );
    assert!(w.warehouse.delivered_alerts(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn neither_a_recomputed_day_nor_a_restarted_monitor_repeats_an_alert() {
    let w = warehouse();
    let receiver = TestReceiver::start(0).await.unwrap();
    let config = monitor_config(receiver.url(), &[AlertRuleName::ChangeFailureRate]);
    let first = start_monitor(&w.path, config.clone());
    w.warehouse
        .upsert_gold(&failing_days("payments", 1..=2))
        .await
        .unwrap();
    receiver.wait_for(2, Duration::from_secs(30)).await;
    wait_until_caught_up(w.warehouse.as_ref(), &config.name, Duration::from_secs(30)).await;
    first.stop().await;

    // A replay writes the same numbers (no feed entry); a recomputation
    // changes day 1 but it still trips the same rule on the same day.
    w.warehouse
        .upsert_gold(&failing_days("payments", 1..=2))
        .await
        .unwrap();
    let mut worse = gold("payments", day(1), Metric::ChangeFailureRate, Some(0.9));
    worse.sample_size = 10;
    w.warehouse.upsert_gold(&[worse]).await.unwrap();
    // A new day after the restart still alerts.
    let second = start_monitor(&w.path, config.clone());
    w.warehouse
        .upsert_gold(&failing_days("payments", 3..=3))
        .await
        .unwrap();
    receiver.wait_for(3, Duration::from_secs(30)).await;
    wait_until_caught_up(w.warehouse.as_ref(), &config.name, Duration::from_secs(30)).await;
    let stats = second.stop().await;

    let ids: Vec<_> = receiver
        .received()
        .into_iter()
        .map(|r| r.alert_id)
        .collect();
    let unique: BTreeSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(unique.len(), 3);
    assert_eq!((stats.alerts_delivered, stats.alerts_skipped), (1, 1));
}

#[tokio::test]
async fn handled_gold_changes_past_their_retention_are_purged_and_later_ones_still_alert() {
    let w = warehouse();
    let receiver = TestReceiver::start(0).await.unwrap();
    let mut config = monitor_config(receiver.url(), &[AlertRuleName::ChangeFailureRate]);
    config.check_interval_secs = 1;
    config.outbox_retention_hours = 1e-6;
    let monitor = start_monitor(&w.path, config.clone());
    w.warehouse
        .upsert_gold(&failing_days("payments", 1..=3))
        .await
        .unwrap();
    receiver.wait_for(3, Duration::from_secs(30)).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !w
        .warehouse
        .gold_changes_after(0, 10)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the handled changes were never purged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.warehouse
        .upsert_gold(&failing_days("search", 1..=2))
        .await
        .unwrap();
    let got = receiver.wait_for(5, Duration::from_secs(30)).await;
    monitor.stop().await;

    let ids: BTreeSet<_> = got.into_iter().map(|r| r.alert_id).collect();
    assert_eq!(ids.len(), 5, "every alert once: {ids:?}");
    assert!(ids.contains(&format!("change_failure_rate:search:{}:v1", day(2))));
    assert_eq!(w.warehouse.delivered_alerts(100).await.unwrap().len(), 5);
}
