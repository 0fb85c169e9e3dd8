//! What the monitor tests share: a warehouse file, a configured monitor
//! running in the test's runtime, gold records, and polling with a deadline.

#![allow(dead_code)]

use dorafleet_alerts::{AlertSink, Monitor, MonitorStats, OutboxFeed, WebhookSink};
use dorafleet_core::{AlertRuleName, Config, MonitorConfig, Secret};
use dorafleet_warehouse::Warehouse;
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct TempWarehouse {
    pub warehouse: Arc<dyn Warehouse>,
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub fn warehouse() -> TempWarehouse {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    TempWarehouse {
        warehouse: Arc::new(SqliteWarehouse::open(&path).unwrap()),
        path,
        _dir: dir,
    }
}

/// Monitor settings for tests: fast polling and retries, the given rules.
pub fn monitor_config(webhook: &str, rules: &[AlertRuleName]) -> MonitorConfig {
    MonitorConfig {
        webhook_url: Some(Secret::new(webhook)),
        poll_interval_ms: 10,
        rules: rules.to_vec(),
        change_failure_rate_above: 0.5,
        recovery_hours_above: 72.0,
        deploy_frequency_drop: 0.5,
        baseline_days: 28,
        baseline_min_days: 7,
        retry_base_ms: 10,
        retry_cap_ms: 100,
        ..MonitorConfig::default()
    }
}

pub struct RunningMonitor {
    pub stop: CancellationToken,
    pub task: JoinHandle<MonitorStats>,
}

impl RunningMonitor {
    pub async fn stop(self) -> MonitorStats {
        self.stop.cancel();
        self.task.await.unwrap()
    }
}

/// A monitor over `warehouse` sending to the configured webhook, running
/// until stopped. Each start opens its own connection, like a new process.
pub fn start_monitor(path: &std::path::Path, monitor: MonitorConfig) -> RunningMonitor {
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open(path).unwrap());
    let url = monitor.webhook_url.clone().unwrap();
    let feed = OutboxFeed::new(
        warehouse.clone(),
        Duration::from_millis(monitor.poll_interval_ms),
    );
    let sink: Arc<dyn AlertSink> = Arc::new(WebhookSink::new(url, Duration::from_secs(5)).unwrap());
    let config = Arc::new(Config {
        monitor,
        ..Config::default()
    });
    let stop = CancellationToken::new();
    let m = Monitor::new(warehouse, Box::new(feed), vec![sink], config);
    let token = stop.clone();
    let task = tokio::spawn(async move { m.run(token).await.unwrap() });
    RunningMonitor { stop, task }
}

pub use dorafleet_warehouse::contract::gold_record as gold;

/// Wait until the monitor's checkpoint reaches the newest gold change.
pub async fn wait_until_caught_up(w: &dyn Warehouse, name: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let mut last = 0;
        loop {
            let batch = w.gold_changes_after(last, 10_000).await.unwrap();
            match batch.last() {
                Some(c) => last = c.seq,
                None => break,
            }
        }
        let at = w.monitor_checkpoint(name).await.unwrap();
        if at == Some(last.to_string()) || (last == 0 && at.is_none()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "monitor stuck at {at:?}, feed ends at {last}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
