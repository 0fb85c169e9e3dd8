//! Workers benchmark: real work — extract from the simulator, normalize,
//! aggregate — by 1 and 2 worker processes sharing one SQLite warehouse, with
//! every source's request budget set far above what the workers can use, so
//! the figures show what the workers themselves (and the warehouse they
//! share) cost, not the budget. Prints figures; asserts nothing about speed.
//!
//! Each fleet gets a fresh simulator (in this process, the same seed every
//! time), a fresh SQLite file and queues under a unique prefix; the
//! coordinator extracts the simulator's whole history (`--from --to`) and is
//! timed from its spawn to its exit, after the workers said they consume.
//! With `DORAFLEET_BENCH_BASELINE=/path/to/dorafleet`, an earlier build runs
//! the same fleets in the same run, so before and after are ratios.
//!
//! Run with `scripts/bench.sh workers`. Knobs (environment):
//! `DORAFLEET_BENCH_TEAMS` (8), `DORAFLEET_BENCH_DAYS` (60),
//! `DORAFLEET_BENCH_WORKERS` (`1,2`), `DORAFLEET_BENCH_CONCURRENCY` (each
//! worker's `--concurrency`; unset, the configured default), `DORAFLEET_BENCH_REPEAT` (1, rounds of
//! every fleet, interleaved), `DORAFLEET_BENCH_RPS` (10000, every source's
//! requests_per_second; the summary shows each source's busiest second, to
//! check it stays below), `DORAFLEET_BENCH_BASELINE`, `DORAFLEET_BENCH_PERF`
//! (a directory: each worker is recorded with `perf record` and DWARF call
//! graphs into it),
//! `DORAFLEET_BENCH_IN_FLIGHT` (every source's
//! `requests_in_flight_per_task`; unset, the default),
//! `DORAFLEET_BENCH_AMQP` (the local RabbitMQ, guest/guest),
//! `DORAFLEET_BENCH_MALLOC_ARENA_MAX` (2, as the image sets; `default`:
//! glibc's own).

#[path = "processes/mod.rs"]
mod processes;

use anyhow::{Context, ensure};
use chrono::NaiveDate;
use dorafleet_sim::{RunningSim, SimOptions};
use dorafleet_system_tests::fleet_support::busiest_second;
use processes::{
    Children, amqp, busy_share, command, delete_queues, env_or, load_average, machine_ticks,
    malloc_arena_max, peak_rss_kb, start_workers,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The last day of the simulated history (exclusive), fixed so every run
/// serves the same world.
/// The roles log their progress; the rest only warnings.
const RUST_LOG: &str = "warn,dorafleet=info,dorafleet_worker=info";

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).expect("a valid date")
}

struct Knobs {
    teams: usize,
    days: u32,
    rps: u32,
    /// Each worker's `--concurrency`; `None`: the configured default.
    concurrency: Option<usize>,
    /// Every source's `requests_in_flight_per_task`; `None`: the default.
    in_flight: Option<u32>,
    perf: Option<PathBuf>,
}

struct Run {
    label: &'static str,
    workers: usize,
    tasks: usize,
    elapsed: Duration,
    /// CPU seconds (user, system) each worker spent, from /proc at its exit.
    worker_cpu: Vec<(f64, f64)>,
    /// Each worker's peak resident set (VmHWM), in MB.
    worker_peak_rss_mb: Vec<f64>,
    /// The share of the whole machine (every core) busy during the run.
    machine_busy: f64,
    /// CPU seconds this process (the simulator) spent during the run.
    sim_cpu: f64,
    /// API requests the simulator served.
    requests: usize,
    /// The most requests one source got in one second of the simulator's clock.
    busiest_second: usize,
}

impl Run {
    fn tasks_per_sec(&self) -> f64 {
        self.tasks as f64 / self.elapsed.as_secs_f64()
    }

    fn cpu_per_task_ms(&self) -> f64 {
        let total: f64 = self.worker_cpu.iter().map(|(u, s)| u + s).sum();
        1000.0 * total / self.tasks as f64
    }

    fn system_share(&self) -> f64 {
        let user: f64 = self.worker_cpu.iter().map(|(u, _)| u).sum();
        let system: f64 = self.worker_cpu.iter().map(|(_, s)| s).sum();
        system / (user + system)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let knobs = Knobs {
        teams: env_or("DORAFLEET_BENCH_TEAMS", 8),
        days: env_or("DORAFLEET_BENCH_DAYS", 60),
        rps: env_or("DORAFLEET_BENCH_RPS", 10_000),
        concurrency: std::env::var("DORAFLEET_BENCH_CONCURRENCY")
            .ok()
            .and_then(|c| c.parse().ok()),
        in_flight: std::env::var("DORAFLEET_BENCH_IN_FLIGHT")
            .ok()
            .and_then(|c| c.parse().ok()),
        perf: std::env::var_os("DORAFLEET_BENCH_PERF").map(PathBuf::from),
    };
    let repeat: usize = env_or("DORAFLEET_BENCH_REPEAT", 1);
    let fleets: Vec<usize> = std::env::var("DORAFLEET_BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|k| k.trim().parse().ok().filter(|&k| k > 0))
        .collect();
    let mut builds = vec![(PathBuf::from(env!("CARGO_BIN_EXE_dorafleet")), "current")];
    if let Some(baseline) = std::env::var_os("DORAFLEET_BENCH_BASELINE") {
        builds.push((PathBuf::from(baseline), "before"));
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "workers benchmark: {} teams x {} days of simulated history, every source at {} requests/s \
         (not binding), requests in flight per task {}, {cores} cores, load average {}, MALLOC_ARENA_MAX {}",
        knobs.teams,
        knobs.days,
        knobs.rps,
        knobs
            .in_flight
            .map_or_else(|| "default".to_owned(), |n| n.to_string()),
        load_average(),
        malloc_arena_max().unwrap_or_else(|| "unset (glibc default)".into())
    );

    let mut runs = Vec::new();
    for round in 1..=repeat {
        for &workers in &fleets {
            for (binary, label) in &builds {
                println!("\n[round {round}] {label}: {workers} worker process(es) ...");
                let run = fleet(binary, label, workers, &knobs).await?;
                println!(
                    "  {} tasks in {:.2} s -> {:.1} tasks/s; worker CPU {:.1} ms per task, {:.0} % of it in the kernel; \
                     machine {:.0} % busy, simulator {:.1} ms CPU per task; \
                     {} API requests, busiest second of one source {} (budget {})",
                    run.tasks,
                    run.elapsed.as_secs_f64(),
                    run.tasks_per_sec(),
                    run.cpu_per_task_ms(),
                    100.0 * run.system_share(),
                    100.0 * run.machine_busy,
                    1000.0 * run.sim_cpu / run.tasks as f64,
                    run.requests,
                    run.busiest_second,
                    knobs.rps
                );
                runs.push(run);
            }
        }
    }
    print!("{}", summary(cores, &runs));
    Ok(())
}

/// Median over the rounds of one (label, workers) fleet of `figure`.
fn median_of(runs: &[Run], label: &str, workers: usize, figure: fn(&Run) -> f64) -> Option<f64> {
    let mut figures: Vec<f64> = runs
        .iter()
        .filter(|r| r.label == label && r.workers == workers)
        .map(figure)
        .collect();
    figures.sort_by(f64::total_cmp);
    figures.get(figures.len() / 2).copied()
}

/// Median tasks/s of one fleet's rounds.
fn median_rate(runs: &[Run], label: &str, workers: usize) -> Option<f64> {
    median_of(runs, label, workers, Run::tasks_per_sec)
}

fn summary(cores: usize, runs: &[Run]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n=== workers benchmark summary ({cores} cores) ===");
    for run in runs {
        let _ = writeln!(
            out,
            "{:<7} {} worker(s): {:>6.1} tasks/s ({} tasks in {:.2} s), worker CPU {:.1} ms/task, kernel {:.0} %, machine {:.0} % busy, worker peak RSS {} MB",
            run.label,
            run.workers,
            run.tasks_per_sec(),
            run.tasks,
            run.elapsed.as_secs_f64(),
            run.cpu_per_task_ms(),
            100.0 * run.system_share(),
            100.0 * run.machine_busy,
            run.worker_peak_rss_mb
                .iter()
                .map(|mb| format!("{mb:.1}"))
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    for label in ["current", "before"] {
        if let (Some(one), Some(two)) = (median_rate(runs, label, 1), median_rate(runs, label, 2)) {
            let _ = writeln!(
                out,
                "{label}: 2 workers = {:.2}x 1 worker (goal >= 1.6x)",
                two / one
            );
        }
        if let Some(busy) = median_of(runs, label, 1, |r| r.machine_busy).filter(|b| *b > 0.0) {
            let _ = writeln!(
                out,
                "{label}: with 1 worker every process together (worker, coordinator, broker, simulator) \
                 kept the machine {:.0} % busy: at that cost per task more workers reach at most \
                 {:.2}x one worker, with the machine fully busy",
                100.0 * busy,
                1.0 / busy
            );
        }
    }
    for workers in [1, 2] {
        if let (Some(now), Some(before)) = (
            median_rate(runs, "current", workers),
            median_rate(runs, "before", workers),
        ) {
            let _ = writeln!(
                out,
                "{workers} worker(s): current = {:.2}x before",
                now / before
            );
        }
    }
    out
}

/// One fleet of `workers` processes of `binary` doing the whole history.
async fn fleet(
    binary: &Path,
    label: &'static str,
    workers: usize,
    knobs: &Knobs,
) -> anyhow::Result<Run> {
    let options = SimOptions {
        seed: 7,
        days: knobs.days,
        teams: knobs.teams,
        end_date: end(),
        github_hourly_limit: u32::MAX,
        ..SimOptions::default()
    };
    let sim = RunningSim::start(options, "127.0.0.1:0")
        .await
        .context("starting the simulator")?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("warehouse.db");
    let prefix = format!("bench-{}", Uuid::now_v7().simple());
    let config = dir.path().join("dorafleet.toml");
    let toml = sim
        .state()
        .organisation()
        .config_toml(&format!("http://{}", sim.addr()))
        .replace(
            "requests_per_second = 50",
            &match knobs.in_flight {
                Some(n) => format!(
                    "requests_per_second = {}\nrequests_in_flight_per_task = {n}",
                    knobs.rps
                ),
                None => format!("requests_per_second = {}", knobs.rps),
            },
        )
        .replace(
            "url = \"sqlite:dorafleet.db\"",
            &format!(
                "url = \"sqlite:{}\"\n\n[broker]\nurl = \"{}\"\nprefix = \"{prefix}\"",
                db.display(),
                amqp()
            ),
        );
    std::fs::write(&config, toml)?;
    let mut result = fleet_in(binary, label, dir.path(), &config, workers, knobs).await;
    if let Ok(run) = &mut result {
        let log = sim.state().request_log();
        run.requests = log.len();
        run.busiest_second = busiest_second(&log).into_values().max().unwrap_or(0);
    }
    delete_queues(&prefix).await?;
    result
}

async fn fleet_in(
    binary: &Path,
    label: &'static str,
    dir: &Path,
    config: &Path,
    k: usize,
    knobs: &Knobs,
) -> anyhow::Result<Run> {
    let concurrency = knobs.concurrency.map(|c| c.to_string());
    let args: Vec<&str> = match &concurrency {
        Some(c) => vec!["--concurrency", c.as_str()],
        None => Vec::new(),
    };
    let (mut children, _) = start_workers(binary, config, dir, k, &args, RUST_LOG)?;
    let mut perf = Children(Vec::new());
    if let Some(perf_dir) = &knobs.perf {
        std::fs::create_dir_all(perf_dir)?;
        for (i, worker) in children.0.iter().enumerate() {
            let out = perf_dir.join(format!("{label}-{k}w-worker{}.data", i + 1));
            let recorder = Command::new("perf")
                .args(["record", "-F", "999", "--call-graph", "dwarf,32768", "-o"])
                .arg(&out)
                .args(["-p", &worker.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("spawning perf")?;
            perf.0.push(recorder);
        }
    }

    let from = end() - chrono::Duration::days(i64::from(knobs.days));
    let (ticks_before, sim_before) = (machine_ticks(), cpu_seconds(std::process::id()));
    let start = Instant::now();
    let coordinator = command(
        binary,
        config,
        &[
            "coordinator",
            "--from",
            &from.to_string(),
            "--to",
            &end().to_string(),
            "--lease-ttl-secs",
            "5",
        ],
        RUST_LOG,
    )
    .stdout(Stdio::piped())
    .stderr(std::fs::File::create(dir.join("coordinator.log"))?)
    .spawn()
    .context("spawning the coordinator")?;
    let output = tokio::task::spawn_blocking(move || coordinator.wait_with_output()).await??;
    let elapsed = start.elapsed();
    let machine_busy = busy_share(ticks_before, machine_ticks());
    let sim_after = cpu_seconds(std::process::id());
    let sim_cpu = (sim_after.0 + sim_after.1) - (sim_before.0 + sim_before.1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = std::fs::read_to_string(dir.join("coordinator.log")).unwrap_or_default();
    ensure!(
        output.status.success(),
        "the coordinator failed ({}):\n{stdout}\n{log}",
        output.status
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("run "))
        .unwrap_or_default();
    let tasks = completed_tasks(summary)
        .with_context(|| format!("expected a completed run with no dead task:\n{stdout}"))?;

    for recorder in &mut perf.0 {
        signal(recorder, "-INT");
    }
    perf.wait(Duration::from_secs(60));
    let worker_cpu = children.0.iter().map(|w| cpu_seconds(w.id())).collect();
    let worker_peak_rss_mb = children
        .0
        .iter()
        .map(|w| peak_rss_kb(w.id()).unwrap_or(0) as f64 / 1024.0)
        .collect();
    for worker in &mut children.0 {
        signal(worker, "-TERM");
    }
    children.wait(Duration::from_secs(30));
    Ok(Run {
        label,
        workers: k,
        tasks,
        elapsed,
        worker_cpu,
        worker_peak_rss_mb,
        machine_busy,
        sim_cpu,
        requests: 0,
        busiest_second: 0,
    })
}

/// The task count of "run … completed: N tasks, N done, 0 dead".
fn completed_tasks(summary: &str) -> Option<usize> {
    let rest = summary.split("completed: ").nth(1)?;
    let mut words = rest.split(|c: char| c == ',' || c.is_whitespace());
    let tasks: usize = words.next()?.parse().ok()?;
    (summary.contains(&format!("{tasks} done")) && summary.contains(" 0 dead")).then_some(tasks)
}

/// User and system CPU seconds of a live process (from /proc/PID/stat).
fn cpu_seconds(pid: u32) -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0.0, 0.0);
    };
    // Fields after the command name (which may hold spaces) start at ")".
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ")".
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    let hz = 100.0;
    (ticks(11).unwrap_or(0.0) / hz, ticks(12).unwrap_or(0.0) / hz)
}

fn signal(child: &Child, which: &str) {
    let _ = Command::new("kill")
        .args([which, &child.id().to_string()])
        .status();
}
