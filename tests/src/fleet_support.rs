//! A fleet on one machine for tests: the simulator in-process, worker and
//! coordinator processes of the real binary, the local RabbitMQ under a
//! unique prefix, and a shared SQLite warehouse in a temp dir. Everything it
//! starts is killed when it is dropped.

use chrono::NaiveDate;
use dorafleet_broker::{RabbitBroker, RabbitConfig};
use dorafleet_core::Source;
use dorafleet_sim::{RequestLogEntry, RunningSim, SimOptions, TruthRecord};
use dorafleet_warehouse::{GoldFilter, Warehouse, sqlite::SqliteWarehouse};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const DAYS: u32 = 21;
pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

pub fn from() -> NaiveDate {
    end() - chrono::Duration::days(i64::from(DAYS))
}

#[derive(Debug)]
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub sim: RunningSim,
    pub prefix: String,
    pub config: PathBuf,
    pub db: PathBuf,
    pub workers: Vec<Child>,
    pub env: Vec<(String, String)>,
}

impl Fleet {
    pub async fn start(teams: usize, faults: &[&str], github_rps: u32) -> Fleet {
        let options = SimOptions {
            seed: 5,
            days: DAYS,
            teams,
            end_date: end(),
            faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
            ..SimOptions::default()
        };
        let sim = RunningSim::start(options, "127.0.0.1:0").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("dorafleet.toml");
        let text = sim
            .state()
            .organisation()
            .config_toml(&format!("http://{}", sim.addr()));
        std::fs::write(&config, text).unwrap();
        let db = dir.path().join("warehouse.db");
        let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
        let env = vec![
            ("DORAFLEET_CONFIG", config.display().to_string()),
            (
                "DORAFLEET_WAREHOUSE__URL",
                format!("sqlite:{}", db.display()),
            ),
            ("DORAFLEET_BROKER__URL", AMQP.to_owned()),
            ("DORAFLEET_BROKER__PREFIX", prefix.clone()),
            (
                "DORAFLEET_BROKER__WAIT_TIERS_MS",
                "[100,400,1500]".to_owned(),
            ),
            ("DORAFLEET_RETRY__BASE_MS", "100".to_owned()),
            ("DORAFLEET_RETRY__CAP_MS", "1000".to_owned()),
            ("DORAFLEET_RETRY__MAX_ATTEMPTS", "6".to_owned()),
            (
                "DORAFLEET_SOURCES__GITHUB__REQUESTS_PER_SECOND",
                github_rps.to_string(),
            ),
            (
                "DORAFLEET_SOURCES__JIRA__REQUESTS_PER_SECOND",
                "50".to_owned(),
            ),
            (
                "DORAFLEET_SOURCES__JENKINS__REQUESTS_PER_SECOND",
                "50".to_owned(),
            ),
            ("DORAFLEET_SOURCES__GITHUB__PAGE_SIZE", "30".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Fleet {
            dir,
            sim,
            prefix,
            config,
            db,
            workers: Vec::new(),
            env,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::dorafleet_bin());
        cmd.args(args)
            .env_remove("DORAFLEET_CONFIG")
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run one command to its end (no stdin, output captured), within `limit`.
    pub async fn cli(&self, args: &[&str], limit: Duration) -> Output {
        let child = self
            .command(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        finish(child, limit).await
    }

    /// Start a worker process; its log goes to `worker-NAME.log` in the temp dir.
    pub fn spawn_worker(&mut self, name: &str) -> u32 {
        self.spawn_worker_with(name, &[])
    }

    /// A worker process with extra command-line arguments.
    pub fn spawn_worker_with(&mut self, name: &str, extra: &[&str]) -> u32 {
        let log =
            std::fs::File::create(self.dir.path().join(format!("worker-{name}.log"))).unwrap();
        let mut args = vec![
            "worker",
            "--name",
            name,
            "--concurrency",
            "4",
            "--drain-timeout-secs",
            "5",
        ];
        args.extend_from_slice(extra);
        let child = self
            .command(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.workers.push(child);
        pid
    }

    pub fn spawn_coordinator(&self, args: &[&str]) -> Child {
        // A short lease unless the test names its own.
        let mut all = vec!["coordinator"];
        if !args.contains(&"--lease-ttl-secs") {
            all.extend(["--lease-ttl-secs", "3"]);
        }
        all.extend_from_slice(args);
        self.command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// A coordinator extracting the simulator's whole history, then exiting.
    pub fn spawn_range_coordinator(&self) -> Child {
        let range = self.range_args();
        let args: Vec<&str> = range.iter().map(String::as_str).collect();
        self.spawn_coordinator(&args)
    }

    pub fn range_args(&self) -> Vec<String> {
        vec![
            "--from".into(),
            from().to_string(),
            "--to".into(),
            end().to_string(),
        ]
    }

    pub fn warehouse(&self) -> Arc<dyn Warehouse> {
        Arc::new(SqliteWarehouse::open(&self.db).unwrap())
    }

    pub async fn broker(&self) -> RabbitBroker {
        RabbitBroker::connect(RabbitConfig {
            url: AMQP.into(),
            prefix: self.prefix.clone(),
            prefetch: 16,
            delivery_limit: 5,
            wait_tiers: vec![
                Duration::from_millis(100),
                Duration::from_millis(400),
                Duration::from_millis(1500),
            ],
            confirm_timeout: Duration::from_secs(10),
        })
        .await
        .expect("RabbitMQ must run at 127.0.0.1:5672 (scripts/test.sh starts it)")
    }

    /// Gold, as truth-shaped records.
    pub async fn gold(&self) -> Vec<TruthRecord> {
        self.warehouse()
            .gold(&GoldFilter::default())
            .await
            .unwrap()
            .iter()
            .map(truth_shaped)
            .collect()
    }

    /// Run a range coordinator to its end; it must exit 0 and say the run
    /// completed. Its stdout.
    pub async fn range_run_completes(&self, limit: Duration) -> String {
        self.range_run_completes_with(&[], limit).await
    }

    /// [`Fleet::range_run_completes`] with more coordinator arguments.
    pub async fn range_run_completes_with(&self, extra: &[&str], limit: Duration) -> String {
        let mut args = self.range_args();
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = finish(self.spawn_coordinator(&args), limit).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.worker_logs()
        );
        assert!(stdout.contains("completed"), "{stdout}");
        stdout
    }

    pub fn worker_logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                all.push_str(&format!("--- {}\n", path.display()));
                all.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
        all
    }

    /// Stop workers (SIGTERM), wait for them, and remove the test's queues.
    pub async fn stop(mut self) -> Vec<std::process::ExitStatus> {
        let mut statuses = Vec::new();
        for child in &mut self.workers {
            terminate(child.id());
        }
        for child in &mut self.workers {
            statuses.push(wait_with_deadline(child, Duration::from_secs(20)));
        }
        self.workers.clear();
        let _ = self.broker().await.delete_topology().await;
        statuses
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.workers {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

pub fn wait_with_deadline(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait for a coordinator to exit and return its output (without blocking
/// the runtime that serves the simulator).
pub async fn finish(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let waited = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    match waited {
        Ok(out) => out.unwrap().unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("coordinator {pid} did not finish within {limit:?}");
        }
    }
}

/// A gold record as the simulator's truth is shaped, for comparing them.
pub fn truth_shaped(g: &dorafleet_warehouse::GoldRecord) -> TruthRecord {
    TruthRecord {
        team: g.team_id.clone(),
        date: g.date,
        metric: g.metric.as_str().to_owned(),
        value: g.value,
        sample_size: g.sample_size,
    }
}

/// Poll `check` until it holds or the deadline passes.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Most requests any one-second window of the simulator's log holds, per source.
pub fn busiest_second(log: &[RequestLogEntry]) -> BTreeMap<Source, usize> {
    Source::ALL
        .into_iter()
        .map(|source| (source, busiest_window(log, source).len()))
        .collect()
}

/// The requests to `source` in its busiest second (the first such window
/// `[t, t + 1 s)` in arrival order): what a budget failure shows.
pub fn busiest_window(log: &[RequestLogEntry], source: Source) -> Vec<&RequestLogEntry> {
    let arrivals: Vec<_> = log.iter().filter(|e| e.source == source).collect();
    let mut busiest: &[&RequestLogEntry] = &[];
    for i in 0..arrivals.len() {
        let end = arrivals[i].at + chrono::Duration::seconds(1);
        let n = arrivals[i..].iter().take_while(|e| e.at < end).count();
        if n > busiest.len() {
            busiest = &arrivals[i..i + n];
        }
    }
    busiest.to_vec()
}

/// Each task's (run, task, state, published, worker, attempts, updated_at)
/// and each run's (id, status, updated_at): everything a coordinator writes.
pub async fn ledger_snapshot(w: &dyn dorafleet_warehouse::RunLedger) -> Vec<String> {
    let mut rows = Vec::new();
    for run in w.runs(100).await.unwrap() {
        rows.push(format!(
            "run {} {} {}",
            run.run_id, run.status, run.updated_at
        ));
        for t in w.run_tasks(run.run_id).await.unwrap() {
            rows.push(format!(
                "task {} {} {:?} {} {:?} {} {}",
                t.envelope.run_id,
                t.envelope.task_id,
                t.state,
                t.published,
                t.worker,
                t.attempts,
                t.updated_at
            ));
        }
    }
    rows
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.0 GET: (status code, body); `None` when nothing answers.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Some((status, body))
}

/// The value of one sample line (`name{labels} value`) of a Prometheus text page.
pub fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// Stdout then stderr of a finished command, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
