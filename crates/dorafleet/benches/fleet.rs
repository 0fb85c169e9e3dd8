//! Fleet benchmark: no-op tasks through the real broker, end to end, next to
//! the broker's real ceiling measured in the same run, and optionally next to
//! an earlier build of dorafleet and to Celery on the same broker. Prints
//! figures; asserts nothing about speed.
//!
//! 1. Raw ceiling (`fleet/raw.rs`): plain lapin, persistent messages of a
//!    task's size on a quorum queue, confirms pipelined, publish and consume
//!    together. A fleet task moves 2 such messages (the task and its
//!    completion event), so the ceiling in tasks/s is half its msgs/s. It is
//!    measured before and after the fleet runs and the higher one is used.
//! 2. dorafleet (`fleet/run.rs`): T teams, K worker processes in `--noop`
//!    mode, the coordinator planning and following 3T tasks, timed from its
//!    spawn to its exit, with span export off and on.
//! 3. Optionally the same fleets with a baseline binary (a build from before
//!    a change), so before and after are ratios of the same run.
//! 4. The coordinator's memory with `DORAFLEET_BENCH_IN_FLIGHT` (10,000)
//!    tasks published and none taken (`fleet/in_flight.rs`).
//! 5. Optionally Celery (`fleet/celery.rs`): the same task count with
//!    publisher confirms and `acks_late` (`scripts/bench.sh celery`).
//!
//! Run with `scripts/bench.sh fleet` or `scripts/bench.sh celery`. Knobs
//! (environment): `DORAFLEET_BENCH_TEAMS` (5000: a run of a few seconds, so the
//! processes' start-up is not most of it), `DORAFLEET_BENCH_RAW_MESSAGES`
//! (30000), `DORAFLEET_BENCH_WORKERS` (`1,2`), `DORAFLEET_BENCH_CONCURRENCY`
//! (each worker's `--concurrency`; unset, the configured default), `DORAFLEET_BENCH_TRACING`
//! (`off,on`), `DORAFLEET_BENCH_BASELINE` (path of another `dorafleet`
//! binary, run with span export off), `DORAFLEET_BENCH_CELERY` (a Python with
//! Celery installed), `DORAFLEET_BENCH_CELERY_WORKERS` (1),
//! `DORAFLEET_BENCH_AMQP` (the local RabbitMQ, guest/guest),
//! `DORAFLEET_BENCH_MALLOC_ARENA_MAX` (2, as the image sets; `default`:
//! glibc's own).

#[path = "fleet/celery.rs"]
mod celery;
#[path = "fleet/costs.rs"]
mod costs;
#[path = "fleet/in_flight.rs"]
mod in_flight;
#[path = "processes/mod.rs"]
mod processes;
#[path = "fleet/raw.rs"]
mod raw;
#[path = "fleet/run.rs"]
mod run;

use chrono::NaiveDate;
use dorafleet_broker::RabbitConfig;
use dorafleet_core::{Scope, Source, Stage, TaskEnvelope, Window};
use processes::{amqp, env_or, load_average, malloc_arena_max};
use std::fmt::Write as _;
use std::path::PathBuf;
use uuid::Uuid;

/// What the fleet's processes reach at least: the 0.4 of the ceiling asked for.
const TARGET_OF_CEILING: f64 = 0.4;
/// And what it should do against Celery.
const TARGET_OVER_CELERY: f64 = 5.0;

fn env_list<T>(name: &str, default: &str, parse: impl Fn(&str) -> Option<T>) -> Vec<T> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|v| parse(v.trim()))
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let teams: usize = env_or("DORAFLEET_BENCH_TEAMS", 5000);
    let raw_n: usize = env_or("DORAFLEET_BENCH_RAW_MESSAGES", 30_000);
    let fleets = env_list("DORAFLEET_BENCH_WORKERS", "1,2", |k| {
        k.parse::<usize>().ok().filter(|&k| k > 0)
    });
    let exports = env_list("DORAFLEET_BENCH_TRACING", "off,on", |t| match t {
        "off" => Some(false),
        "on" => Some(true),
        _ => None,
    });
    let baseline = std::env::var_os("DORAFLEET_BENCH_BASELINE").map(PathBuf::from);
    let celery_python = std::env::var_os("DORAFLEET_BENCH_CELERY").map(PathBuf::from);
    let celery_workers: usize = env_or("DORAFLEET_BENCH_CELERY_WORKERS", 1);
    let current = PathBuf::from(env!("CARGO_BIN_EXE_dorafleet"));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "fleet benchmark: broker {}, {cores} cores, load average {}, MALLOC_ARENA_MAX {}",
        redact(&amqp()),
        load_average(),
        malloc_arena_max().unwrap_or_else(|| "unset (glibc default)".into())
    );

    // A task-sized body, so the raw (and Celery's) messages weigh what the fleet's do.
    let body = sample_task().encode();

    println!(
        "\nraw ceiling: {raw_n} messages of {} bytes, confirms pipelined ({} in flight), consumer prefetch {} acking every {} ...",
        body.len(),
        raw::WINDOW,
        raw::PREFETCH,
        raw::ACK_EVERY
    );
    let before = raw::ceiling(&amqp(), raw_n, &body).await?;
    before.print();

    let mut runs = Vec::new();
    let mut builds = vec![(current, "current")];
    if let Some(baseline) = baseline {
        builds.push((baseline, "before"));
    }
    for &workers in &fleets {
        for (binary, label) in &builds {
            for &export in &exports {
                if *label == "before" && export {
                    continue;
                }
                println!(
                    "\ndorafleet ({label}): {teams} teams -> {} tasks, {workers} worker process(es), span export {} ...",
                    3 * teams,
                    if export { "on" } else { "off" }
                );
                let run = run::fleet(binary, label, teams, workers, export).await?;
                run.print();
                runs.push(run);
            }
        }
    }

    let celery = match &celery_python {
        Some(python) => {
            println!(
                "\ncelery: {} no-op tasks, {celery_workers} worker node(s), confirms and acks_late ...",
                3 * teams
            );
            let run = celery::run(python, &amqp(), 3 * teams, body.len(), celery_workers)?;
            run.print();
            Some(run)
        }
        None => None,
    };

    let in_flight = env_or("DORAFLEET_BENCH_IN_FLIGHT", 10_000);
    println!(
        "\ncoordinator memory: {in_flight} tasks in flight (a run of {in_flight} teams, no worker) ..."
    );
    in_flight::coordinator_with_tasks_in_flight(&builds[0].0, in_flight)
        .await?
        .print();

    let costs = costs::path_costs(2000, &body).await?;
    costs.print();
    // The ceiling moves with whatever else the machine does: measure it again
    // after the fleet runs and compare against the higher of the two.
    println!("\nraw ceiling again ...");
    let after = raw::ceiling(&amqp(), raw_n, &body).await?;
    after.print();
    println!("load average now {}", load_average());

    print!(
        "{}",
        summary(cores, &before, &after, &runs, celery.as_ref(), &costs)
    );
    Ok(())
}

fn summary(
    cores: usize,
    before: &raw::Raw,
    after: &raw::Raw,
    runs: &[run::FleetRun],
    celery: Option<&celery::CeleryRun>,
    costs: &costs::PathCosts,
) -> String {
    let ceiling = before.tasks_per_sec().max(after.tasks_per_sec());
    let mut out = String::new();
    let _ = writeln!(out, "\n=== fleet benchmark summary ({cores} cores) ===");
    let _ = writeln!(
        out,
        "raw broker ceiling: {:>8.0} tasks/s  ({:.0} msgs/s at 2 messages per task: persistent, quorum, \
         confirms pipelined, publish + consume together; the higher of {:.0} before and {:.0} msgs/s \
         after the fleet runs)",
        ceiling,
        2.0 * ceiling,
        before.msgs_per_sec(),
        after.msgs_per_sec()
    );
    for run in runs {
        let rss: Vec<String> = run
            .worker_rss_kb
            .iter()
            .map(|kb| format!("{:.1} MB", *kb as f64 / 1024.0))
            .collect();
        let _ = writeln!(
            out,
            "dorafleet {:<7}, {} worker(s), export {:<3}: {:>6.0} tasks/s = {:.2} of the ceiling \
             (in-run {:.0} tasks/s = {:.2}){}; worker peak RSS {}; coordinator peak RSS {:.1} MB",
            run.label,
            run.workers,
            if run.exported_spans.is_some() {
                "on"
            } else {
                "off"
            },
            run.per_sec(),
            run.per_sec() / ceiling,
            run.in_run_per_sec().unwrap_or(f64::NAN),
            run.in_run_per_sec().unwrap_or(f64::NAN) / ceiling,
            celery.map_or(String::new(), |c| format!(
                "; {:.1}x Celery",
                run.per_sec() / c.per_sec()
            )),
            rss.join(", "),
            run.coordinator_rss_kb as f64 / 1024.0,
        );
    }
    let find = |label: &str, workers: usize, on: bool| {
        runs.iter()
            .find(|r| r.label == label && r.workers == workers && r.exported_spans.is_some() == on)
    };
    for run in runs.iter().filter(|r| r.label == "current") {
        if let Some(old) =
            find("before", run.workers, false).filter(|_| run.exported_spans.is_none())
        {
            let _ = writeln!(
                out,
                "before -> current, {} worker(s): {:.0} -> {:.0} tasks/s = {:.2}x ({:.2} -> {:.2} of the ceiling)",
                run.workers,
                old.per_sec(),
                run.per_sec(),
                run.per_sec() / old.per_sec(),
                old.per_sec() / ceiling,
                run.per_sec() / ceiling
            );
        }
        if let (Some(on), Some(off)) = (run.exported_spans, find("current", run.workers, false)) {
            let _ = writeln!(
                out,
                "tracing overhead, {} worker(s): export on {:.0} tasks/s vs off {:.0} tasks/s = {:.1} %; {on} spans exported",
                run.workers,
                run.per_sec(),
                off.per_sec(),
                100.0 * run.per_sec() / off.per_sec(),
            );
        }
    }
    if let Some(c) = celery {
        let _ = writeln!(
            out,
            "celery             : {:>6.0} tasks/s  ({}, {} node(s) x {} prefork children, confirm_publish, \
             acks_late, quorum queue, persistent; {:.0} tasks/s publishing alone) = {:.3} of the ceiling",
            c.per_sec(),
            c.version,
            c.workers,
            c.concurrency,
            c.tasks as f64 / c.published_s,
            c.per_sec() / ceiling
        );
    }
    let _ = writeln!(
        out,
        "coordinator's costs, measured alone: one SQLite commit {:.0} us, one confirmed publish {:.0} us \
         (one at a time: {:.0} tasks/s)",
        costs.commit_us,
        costs.publish_us,
        1e6 / costs.serial_per_task_us()
    );
    let _ = writeln!(
        out,
        "targets: dorafleet >= {TARGET_OF_CEILING} of the ceiling, >= {TARGET_OVER_CELERY}x Celery; \
         worker peak RSS <= 50 MB (figures only, nothing is asserted)"
    );
    let _ = writeln!(
        out,
        "note: tasks/s is 3T / (coordinator spawn -> exit), start-up and shutdown included; in-run is \
         3T / (\"planned run\" -> \"run finished\" in its log). Celery's is N / (first publish -> last task run)."
    );
    out
}

fn redact(url: &str) -> String {
    RabbitConfig {
        url: url.to_owned(),
        ..RabbitConfig::default()
    }
    .redacted_url()
}

fn sample_task() -> TaskEnvelope {
    let day = |d: &str| {
        NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .expect("valid date")
            .and_hms_opt(0, 0, 0)
            .expect("valid time")
            .and_utc()
    };
    TaskEnvelope::new(
        Uuid::now_v7(),
        Stage::Extract,
        Some(Source::Github),
        Scope {
            team: "team-0000".into(),
            target: Some("bench/repo-0000".into()),
        },
        Window {
            from: day(run::FROM),
            to: day(run::TO),
        },
        5,
    )
}
