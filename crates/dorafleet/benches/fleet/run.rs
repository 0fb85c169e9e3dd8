//! dorafleet end to end: T teams with one GitHub repo each, K worker
//! processes of a `dorafleet` binary in `--noop` mode, and
//! `dorafleet coordinator --from --to` timed from spawn to exit. It plans T
//! extract tasks, its DAG then publishes T normalize and T aggregate tasks
//! (3T in all), follows every completion event and exits when the run
//! completed. The binary is a parameter, so a build from before a change
//! runs beside the current one in the same run.

use super::processes::{amqp, command as role_command, delete_queues, peak_rss_kb, start_workers};
use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use dorafleet_system_tests::otlp_receiver;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The run window: with `--noop` nothing reads it.
pub const FROM: &str = "2026-01-01";
pub const TO: &str = "2026-01-02";

pub struct FleetRun {
    /// Which build ran ("current", or "before" for the baseline binary).
    pub label: String,
    pub workers: usize,
    pub tasks: usize,
    pub elapsed: Duration,
    /// "planned run" -> "run finished" in the coordinator's log.
    pub in_run: Option<Duration>,
    pub worker_rss_kb: Vec<u64>,
    pub coordinator_rss_kb: u64,
    pub by_worker: Vec<String>,
    /// Spans the receiver got, when export was on.
    pub exported_spans: Option<usize>,
}

impl FleetRun {
    pub fn per_sec(&self) -> f64 {
        self.tasks as f64 / self.elapsed.as_secs_f64()
    }

    pub fn in_run_per_sec(&self) -> Option<f64> {
        self.in_run.map(|d| self.tasks as f64 / d.as_secs_f64())
    }

    pub fn print(&self) {
        println!(
            "  {} tasks in {:.2} s (coordinator spawn -> exit) -> {:.0} tasks/s",
            self.tasks,
            self.elapsed.as_secs_f64(),
            self.per_sec()
        );
        if let Some(in_run) = self.in_run {
            println!(
                "  in-run (planned -> finished): {:.2} s -> {:.0} tasks/s",
                in_run.as_secs_f64(),
                self.tasks as f64 / in_run.as_secs_f64()
            );
        }
        for line in &self.by_worker {
            println!("  {line}");
        }
        for (i, kb) in self.worker_rss_kb.iter().enumerate() {
            println!(
                "  worker bench-{} peak RSS (VmHWM): {:.1} MB",
                i + 1,
                *kb as f64 / 1024.0
            );
        }
        println!(
            "  coordinator peak RSS (VmHWM, last sample): {:.1} MB",
            self.coordinator_rss_kb as f64 / 1024.0
        );
        if let Some(spans) = self.exported_spans {
            println!("  spans exported: {spans}");
        }
    }
}

/// A role's command line, logging at `info`.
pub(super) fn command(binary: &Path, config: &Path, args: &[&str]) -> Command {
    role_command(binary, config, args, "info")
}

pub(super) fn config_toml(teams: usize, db: &Path, prefix: &str, otlp: Option<&str>) -> String {
    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "[warehouse]\nurl = \"sqlite:{}\"\n\n[broker]\nurl = \"{}\"\nprefix = \"{prefix}\"\n",
        db.display(),
        amqp()
    );
    if let Some(endpoint) = otlp {
        let _ = writeln!(
            toml,
            "[observability]\notlp_endpoint = \"{endpoint}\"\notlp_protocol = \"http\"\n"
        );
    }
    // Never called with --noop; any valid URL does.
    for source in ["github", "jira", "jenkins"] {
        let _ = writeln!(
            toml,
            "[sources.{source}]\nbase_url = \"http://127.0.0.1:9\"\n"
        );
    }
    for i in 0..teams {
        let _ = writeln!(
            toml,
            "[[teams]]\nid = \"team-{i:04}\"\ngithub_repos = [\"bench/repo-{i:04}\"]\n"
        );
    }
    toml
}

/// SIGTERM, then wait (the worker drains and exits 0); SIGKILL after 20 s.
fn stop(child: &mut Child) -> anyhow::Result<()> {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                println!("  (worker {pid} exited with {status})");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            println!("  (worker {pid} did not stop within 20 s of SIGTERM; killing it)");
            child.kill()?;
            child.wait()?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// "planned run" -> "run finished", from the coordinator's JSON log.
fn in_run_time(log: &str) -> Option<Duration> {
    let at = |message: &str| {
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["fields"]["message"] == message)
            .and_then(|v| {
                v["timestamp"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            })
            .map(|t| t.with_timezone(&Utc))
    };
    let (planned, finished) = (at("planned run")?, at("run finished")?);
    (finished - planned).to_std().ok()
}

/// One fleet run of `binary`, labelled `label` in the figures.
pub async fn fleet(
    binary: &Path,
    label: &str,
    teams: usize,
    workers: usize,
    export: bool,
) -> anyhow::Result<FleetRun> {
    ensure!(teams > 0, "no teams");
    let dir = tempfile::tempdir()?;
    let db: PathBuf = dir.path().join("w.db");
    let prefix = format!("bench-{}", Uuid::now_v7().simple());
    let config = dir.path().join("dorafleet.toml");
    let receiver = match export {
        true => Some(otlp_receiver::OtlpReceiver::start().await),
        false => None,
    };
    let endpoint = receiver.as_ref().map(|r| r.endpoint());
    std::fs::write(
        &config,
        config_toml(teams, &db, &prefix, endpoint.as_deref()),
    )?;

    let mut result = fleet_in(binary, dir.path(), &config, teams, workers).await;
    if let Ok(run) = &mut result {
        run.label = label.to_owned();
    }
    if let (Ok(run), Some(receiver)) = (&mut result, &receiver) {
        // Every process has exited, flushing its spans on the way out.
        run.exported_spans = Some(receiver.span_count());
    }
    // Whatever happened, leave no queues behind.
    delete_queues(&prefix).await?;
    result
}

async fn fleet_in(
    binary: &Path,
    dir: &Path,
    config: &Path,
    teams: usize,
    k: usize,
) -> anyhow::Result<FleetRun> {
    // The workers' concurrency (and so their prefetch): `DORAFLEET_BENCH_CONCURRENCY`,
    // or the configured default when unset.
    let concurrency = std::env::var("DORAFLEET_BENCH_CONCURRENCY").ok();
    let mut args = vec!["--noop"];
    if let Some(c) = &concurrency {
        args.extend(["--concurrency", c.as_str()]);
    }
    let (mut workers, _) = start_workers(binary, config, dir, k, &args, "info")?;

    let coordinator_log = dir.join("coordinator.log");
    let start = Instant::now();
    let mut coordinator = command(
        binary,
        config,
        &[
            "--log-format",
            "json",
            "coordinator",
            "--from",
            FROM,
            "--to",
            TO,
            "--lease-ttl-secs",
            "5",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(std::fs::File::create(&coordinator_log)?)
    .spawn()
    .context("spawning the coordinator")?;
    let pid = coordinator.id();
    let mut coordinator_rss_kb = 0;
    let deadline = start + Duration::from_secs(600);
    let status = loop {
        if let Some(kb) = peak_rss_kb(pid) {
            coordinator_rss_kb = coordinator_rss_kb.max(kb);
        }
        if let Some(status) = coordinator.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            coordinator.kill()?;
            bail!("the coordinator did not finish within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let elapsed = start.elapsed();
    let mut stdout = String::new();
    if let Some(mut out) = coordinator.stdout.take() {
        use std::io::Read;
        out.read_to_string(&mut stdout)?;
    }
    let log = std::fs::read_to_string(&coordinator_log).unwrap_or_default();
    ensure!(
        status.success(),
        "the coordinator failed ({status}):\n{stdout}\n{log}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("run "))
        .unwrap_or_default();
    let expected = 3 * teams;
    ensure!(
        summary.contains(&format!(
            "completed: {expected} tasks, {expected} done, 0 dead"
        )),
        "expected a completed run of {expected} tasks, the coordinator said:\n{stdout}"
    );
    let by_worker = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("worker "))
        .map(|l| l.trim().to_owned())
        .collect();

    let worker_rss_kb = workers
        .0
        .iter()
        .map(|w| peak_rss_kb(w.id()).unwrap_or(0))
        .collect();
    for w in &mut workers.0 {
        stop(w)?;
    }
    Ok(FleetRun {
        label: String::new(),
        workers: k,
        tasks: expected,
        elapsed,
        in_run: in_run_time(&log),
        worker_rss_kb,
        coordinator_rss_kb,
        by_worker,
        exported_spans: None,
    })
}
