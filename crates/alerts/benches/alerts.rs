//! Alert latency benchmark: from the gold write to the webhook receiving the
//! alert, over a steady stream of gold changes that each raise one alert.
//! Prints figures; asserts nothing about speed.
//!
//! A writer upserts one failing day (change failure rate 0.75) at a time,
//! at a steady rate, into a SQLite warehouse file; a monitor with its own
//! connection (as a separate process would have) follows the outbox with
//! the default poll interval and posts each alert to a local webhook
//! receiver. Latency is the receiver's arrival instant minus the instant
//! the writer started the upsert, matched by `alert_id`.
//!
//! Run with `scripts/bench.sh alerts`. Knobs (environment):
//! `DORAFLEET_BENCH_ALERTS` (1000), `DORAFLEET_BENCH_ALERTS_PER_SECOND` (100),
//! `DORAFLEET_BENCH_POLL_MS` (the default `monitor.poll_interval_ms`, 100).

use chrono::{Days, NaiveDate};
use dorafleet_alerts::receiver::TestReceiver;
use dorafleet_alerts::{AlertSink, Monitor, OutboxFeed, WebhookSink};
use dorafleet_core::{AlertRuleName, Config, Metric, MonitorConfig, Secret};
use dorafleet_warehouse::contract::gold_record;
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use dorafleet_warehouse::{GoldRecord, Warehouse};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn failing_day(i: usize) -> GoldRecord {
    let day0 = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    GoldRecord {
        samples: vec![1.0, 1.0, 1.0, 0.0],
        ..gold_record(
            &format!("team-{}", i % 10),
            day0 + Days::new((i / 10) as u64),
            Metric::ChangeFailureRate,
            Some(0.75),
        )
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let n: usize = env_or("DORAFLEET_BENCH_ALERTS", 1000);
    let rate: f64 = env_or("DORAFLEET_BENCH_ALERTS_PER_SECOND", 100.0);
    let poll_ms: u64 = env_or(
        "DORAFLEET_BENCH_POLL_MS",
        MonitorConfig::default().poll_interval_ms,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let writer: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open(&path).expect("warehouse"));
    let receiver = TestReceiver::start(0).await.expect("receiver");

    let monitor_config = MonitorConfig {
        webhook_url: Some(Secret::new(receiver.url())),
        poll_interval_ms: poll_ms,
        rules: vec![AlertRuleName::ChangeFailureRate],
        ..MonitorConfig::default()
    };
    let reader: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open(&path).expect("warehouse"));
    let feed = OutboxFeed::new(reader.clone(), Duration::from_millis(poll_ms));
    let sink: Arc<dyn AlertSink> = Arc::new(
        WebhookSink::new(
            monitor_config.webhook_url.clone().unwrap(),
            Duration::from_secs(5),
        )
        .expect("webhook client"),
    );
    let config = Arc::new(Config {
        monitor: monitor_config,
        ..Config::default()
    });
    let stop = CancellationToken::new();
    let monitor = Monitor::new(reader, Box::new(feed), vec![sink], config);
    let monitor = tokio::spawn(monitor.run(stop.clone()));

    println!("alerts: {n} gold changes at {rate}/s, monitor polling every {poll_ms} ms");
    let mut written_at: HashMap<String, Instant> = HashMap::with_capacity(n);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    for i in 0..n {
        tick.tick().await;
        let g = failing_day(i);
        let key = format!("change_failure_rate:{}:{}:v1", g.team_id, g.date);
        written_at.insert(key, Instant::now());
        writer.upsert_gold(&[g]).await.expect("gold upsert");
    }
    let write_secs = started.elapsed().as_secs_f64();
    let received = receiver.wait_for(n, Duration::from_secs(120)).await;
    stop.cancel();
    let stats = monitor.await.expect("monitor task").expect("monitor run");

    let mut latencies: Vec<Duration> = received
        .iter()
        .filter_map(|r| written_at.get(&r.alert_id).map(|w| r.at.duration_since(*w)))
        .collect();
    latencies.sort();
    if latencies.is_empty() {
        println!("no alert arrived");
        std::process::exit(1);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "written in {write_secs:.1} s ({:.0}/s); received {} of {n} alerts ({} delivered by the monitor)",
        n as f64 / write_secs,
        latencies.len(),
        stats.alerts_delivered
    );
    println!(
        "gold write -> webhook received: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, min {:.1} ms",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().unwrap()),
        ms(latencies[0]),
    );
}
