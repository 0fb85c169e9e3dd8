//! What the benchmarks that start `dorafleet` processes share: knobs from
//! the environment, the local RabbitMQ, a role's command line, waiting for a
//! log line, reading a process's memory, and children that never outlive a
//! failed benchmark.

#![allow(dead_code)]

use anyhow::{Context, bail};
use dorafleet_broker::{Broker, RabbitBroker, RabbitConfig, rabbitmq::default_wait_tiers};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULT_AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A knob from the environment, or its default.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The broker the benchmarks use (`DORAFLEET_BENCH_AMQP`, or the local one).
pub fn amqp() -> String {
    std::env::var("DORAFLEET_BENCH_AMQP").unwrap_or_else(|_| DEFAULT_AMQP.to_owned())
}

/// The fleet's defaults under `prefix`: queue arguments must match the
/// workers', or declaring the topology fails.
pub fn rabbit_config(prefix: &str) -> RabbitConfig {
    RabbitConfig {
        url: amqp(),
        prefix: prefix.to_owned(),
        delivery_limit: 5,
        wait_tiers: default_wait_tiers(),
        confirm_timeout: Duration::from_secs(10),
        ..RabbitConfig::default()
    }
}

/// The 1-minute load average: other work on the machine moves every figure.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The machine's CPU time so far, in clock ticks: (busy, total) over every
/// core, from the first line of /proc/stat. Two readings give the share of
/// the machine a run kept busy, whoever used it (the broker included).
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = ticks.iter().sum();
    // idle and iowait are the 4th and 5th numbers.
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The share of the machine kept busy between two [`machine_ticks`] readings.
pub fn busy_share(before: (u64, u64), after: (u64, u64)) -> f64 {
    let total = after.1.saturating_sub(before.1);
    if total == 0 {
        return 0.0;
    }
    after.0.saturating_sub(before.0) as f64 / total as f64
}

/// `binary --config config args…`, logging at `rust_log`; only the config
/// file speaks: no stray `DORAFLEET_*` from the caller's environment.
pub fn command(binary: &Path, config: &Path, args: &[&str], rust_log: &str) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", rust_log);
    for (key, _) in std::env::vars() {
        if key.starts_with("DORAFLEET_") {
            cmd.env_remove(key);
        }
    }
    match malloc_arena_max() {
        Some(arenas) => cmd.env("MALLOC_ARENA_MAX", arenas),
        None => cmd.env_remove("MALLOC_ARENA_MAX"),
    };
    cmd
}

/// The `MALLOC_ARENA_MAX` the roles run with: 2, as the project's image sets
/// for every role, so figures (resident sets above all) are those of a
/// deployment; `DORAFLEET_BENCH_MALLOC_ARENA_MAX` sets another, `default`
/// leaves glibc's own (8 per core).
pub fn malloc_arena_max() -> Option<String> {
    match std::env::var("DORAFLEET_BENCH_MALLOC_ARENA_MAX") {
        Ok(v) if v == "default" => None,
        Ok(v) => Some(v),
        Err(_) => Some("2".into()),
    }
}

/// Waits until the log at `path` holds `needle`, failing with the log after
/// `within`.
pub fn wait_for_log(path: &Path, needle: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if std::fs::read_to_string(path).is_ok_and(|log| log.contains(needle)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(path).unwrap_or_default();
            bail!(
                "no {needle:?} in {} within {within:?}:\n{log}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A field of a live process's `/proc/<pid>/status` in kB (`VmHWM`: peak
/// resident set; `VmRSS`: current).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak resident set (`VmHWM`) of a live process, in kB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM")
}

/// Child processes killed if still running when dropped (on an error path).
pub struct Children(pub Vec<Child>);

impl Children {
    /// Waits for every child to exit, killing those still running at `limit`.
    pub fn wait(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for child in &mut self.0 {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// `k` worker processes named `bench-1` … `bench-k`, each logging to
/// `dir/worker-<name>.log`, started with `worker --name <name>` and `extra`
/// arguments; returns once every one says it consumes.
pub fn start_workers(
    binary: &Path,
    config: &Path,
    dir: &Path,
    k: usize,
    extra: &[&str],
    rust_log: &str,
) -> anyhow::Result<(Children, Vec<PathBuf>)> {
    let mut workers = Children(Vec::new());
    let mut logs = Vec::new();
    for i in 1..=k {
        let name = format!("bench-{i}");
        let log_path = dir.join(format!("worker-{name}.log"));
        let mut args = vec!["worker", "--name", name.as_str()];
        args.extend_from_slice(extra);
        let child = command(binary, config, &args, rust_log)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path)?)
            .spawn()
            .context("spawning a worker")?;
        workers.0.push(child);
        logs.push(log_path);
    }
    // Time the run, not the workers' start-up.
    for log in &logs {
        wait_for_log(log, "worker consuming", Duration::from_secs(60))?;
    }
    Ok((workers, logs))
}

/// Deletes the queues a benchmark made under `prefix`, whatever happened.
pub async fn delete_queues(prefix: &str) -> anyhow::Result<()> {
    let broker = RabbitBroker::connect(rabbit_config(prefix))
        .await
        .context("connecting to RabbitMQ to delete the benchmark's queues")?;
    broker.delete_topology().await?;
    broker.close().await?;
    Ok(())
}
