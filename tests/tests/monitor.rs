//! `dorafleet monitor` as a process against a SQLite warehouse file: killed
//! mid-stream and restarted, it delivers every alert exactly once; it serves
//! its ops endpoints and stops cleanly on SIGTERM.

use dorafleet_system_tests::fleet_support;

use chrono::{Days, NaiveDate};
use dorafleet_alerts::receiver::TestReceiver;
use dorafleet_core::Metric;
use dorafleet_warehouse::contract::gold_record;
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use dorafleet_warehouse::{GoldRecord, Warehouse};
use fleet_support::{eventually, free_port, http_get, sample, terminate, wait_with_deadline};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// `days` failing days (change failure rate 0.75) of `team` from `first`.
fn failing_days(team: &str, first: NaiveDate, days: u64) -> Vec<GoldRecord> {
    (0..days)
        .map(|d| GoldRecord {
            samples: vec![1.0, 1.0, 1.0, 0.0],
            ..gold_record(
                team,
                first + Days::new(d),
                Metric::ChangeFailureRate,
                Some(0.75),
            )
        })
        .collect()
}

fn keys(records: &[GoldRecord]) -> BTreeSet<String> {
    records
        .iter()
        .map(|g| format!("change_failure_rate:{}:{}:v1", g.team_id, g.date))
        .collect()
}

fn write_config(dir: &Path, db: &Path, webhook: &str) -> PathBuf {
    let path = dir.join("dorafleet.toml");
    std::fs::write(
        &path,
        format!(
            "[warehouse]\nurl = \"sqlite:{}\"\n\n[monitor]\nwebhook_url = \"{webhook}\"\n\
             rules = [\"change_failure_rate\"]\nchange_failure_rate_above = 0.5\n\
             poll_interval_ms = 20\nretry_base_ms = 20\nretry_cap_ms = 200\n",
            db.display()
        ),
    )
    .unwrap();
    path
}

/// A monitor process, and a thread collecting its stdout (a pipe nobody
/// reads would fill up and stall the process).
fn spawn_monitor(config: &Path, metrics_port: u16) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = Command::new(dorafleet_system_tests::dorafleet_bin())
        .args(["monitor", "--config"])
        .arg(config)
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    (child, reader)
}

async fn delivered(w: &dyn Warehouse) -> usize {
    w.delivered_alerts(100_000).await.unwrap().len()
}

/// A warehouse file, a webhook receiver and a config pointing the monitor at both.
struct Setup {
    _dir: tempfile::TempDir,
    w: Arc<dyn Warehouse>,
    receiver: TestReceiver,
    config: PathBuf,
}

impl Setup {
    async fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("warehouse.db");
        let w: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open(&db).unwrap());
        let receiver = TestReceiver::start(0).await.unwrap();
        let config = write_config(dir.path(), &db, receiver.url());
        Setup {
            _dir: dir,
            w,
            receiver,
            config,
        }
    }
}

async fn all_recorded(w: &Arc<dyn Warehouse>, n: usize) {
    eventually(LIMIT, "every alert recorded as delivered", || {
        let w = Arc::clone(w);
        async move { delivered(w.as_ref()).await == n }
    })
    .await;
}

/// Every alert id the receiver got, in order, and the distinct ones.
fn received_ids(receiver: &TestReceiver) -> (Vec<String>, BTreeSet<String>) {
    let ids: Vec<String> = receiver
        .received()
        .into_iter()
        .map(|r| r.alert_id)
        .collect();
    let unique = ids.iter().cloned().collect();
    (ids, unique)
}

#[tokio::test]
async fn a_monitor_killed_mid_stream_and_restarted_delivers_every_alert_exactly_once() {
    let Setup {
        _dir,
        w,
        receiver,
        config,
    } = Setup::new().await;
    let day0 = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let mut written = failing_days("payments", day0, 100);
    written.extend(failing_days("search", day0, 100));
    w.upsert_gold(&written).await.unwrap();

    // Stop the first monitor at a known point mid-stream: 80 alerts accepted
    // and recorded, the 81st in flight (held unanswered by the receiver).
    receiver.hold_after(80);
    let (mut first, _) = spawn_monitor(&config, free_port());
    eventually(
        LIMIT,
        "80 alerts delivered and the next one in flight",
        || {
            let (w, receiver) = (Arc::clone(&w), receiver.clone());
            async move { delivered(w.as_ref()).await == 80 && receiver.held() >= 1 }
        },
    )
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(receiver.received().len(), 80);

    // Gold keeps changing while no monitor runs.
    let more = failing_days("identity", day0, 100);
    w.upsert_gold(&more).await.unwrap();
    written.extend(more);
    receiver.release();

    let port = free_port();
    let (mut second, stdout) = spawn_monitor(&config, port);
    receiver.wait_for(written.len(), LIMIT).await;
    all_recorded(&w, 300).await;
    let (status, ready) = http_get(port, "/readyz").await.unwrap();
    assert_eq!((status, ready.as_str()), (200, "ready"));
    let (_, page) = http_get(port, "/metrics").await.unwrap();
    assert_eq!(
        sample(
            &page,
            r#"dorafleet_alerts_delivered_total{rule="change_failure_rate"}"#
        ),
        220.0,
        "{page}"
    );
    terminate(second.id());
    let status = wait_with_deadline(&mut second, LIMIT);
    assert!(status.success(), "monitor exits 0 on SIGTERM: {status:?}");
    let stdout = stdout.join().unwrap();
    assert_eq!(
        stdout.lines().count(),
        220,
        "one JSON line per alert on stdout"
    );

    let (ids, unique) = received_ids(&receiver);
    assert_eq!(ids.len(), unique.len(), "an alert arrived twice");
    assert_eq!(unique, keys(&written), "every alert arrived");
}

#[tokio::test]
async fn a_monitor_killed_at_arbitrary_moments_misses_no_alert_and_repeats_at_most_one_per_kill() {
    let Setup {
        _dir,
        w,
        receiver,
        config,
    } = Setup::new().await;
    let day0 = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let written: Vec<GoldRecord> = ["payments", "search", "identity"]
        .iter()
        .flat_map(|team| failing_days(team, day0, 100))
        .collect();
    w.upsert_gold(&written).await.unwrap();

    // Killed with no warning while alerts stream out: the only repeat a kill
    // can cause is the alert sent but not yet recorded at that instant.
    let kills = [50, 150];
    for received_before_kill in kills {
        let (mut monitor, _) = spawn_monitor(&config, free_port());
        receiver.wait_for(received_before_kill, LIMIT).await;
        monitor.kill().unwrap();
        monitor.wait().unwrap();
    }
    let at_last_kill = receiver.received().len();
    assert!(
        at_last_kill < written.len(),
        "killed before the end of the stream"
    );

    let (mut last, _) = spawn_monitor(&config, free_port());
    all_recorded(&w, 300).await;
    terminate(last.id());
    assert!(wait_with_deadline(&mut last, LIMIT).success());

    let (ids, unique) = received_ids(&receiver);
    assert_eq!(unique, keys(&written), "no alert missed");
    assert!(
        ids.len() - unique.len() <= kills.len(),
        "{} repeats for {} kills",
        ids.len() - unique.len(),
        kills.len()
    );
}
