//! Fleet benchmark: no-op tasks through the real broker, end to end, next to
//! the raw ceiling of the same broker measured in the same run. Prints
//! figures; asserts nothing about speed.
//!
//! 1. Raw ceiling: a plain lapin publisher (confirms) and consumer (acks,
//!    prefetch 16) on a durable quorum queue, each on its own connection.
//!    Sequential confirms (publish, await the confirm, next) is how the
//!    fleet publishes, so it is the reference; pipelined confirms (publish
//!    all, then await every confirm) is printed as a second reference line.
//! 2. dorafleet: T teams with one GitHub repo each, K worker processes of the
//!    real binary in `--noop` mode, and `dorafleet coordinator --from --to`
//!    timed from spawn to exit: it plans T extract tasks, its DAG then
//!    publishes T normalize and T aggregate tasks (3T in all), follows every
//!    completion event and exits when the run completed.
//!
//! 3. Tracing overhead: each fleet size runs twice, with span export off
//!    and on (every process exporting OTLP/HTTP to an in-bench receiver that
//!    decodes and keeps every span, as a collector would), and the ratio of
//!    the two is printed.
//!
//! Run with `scripts/bench.sh fleet`. Knobs (environment):
//! `DORAFLEET_BENCH_TEAMS` (1500), `DORAFLEET_BENCH_RAW_MESSAGES` (3000),
//! `DORAFLEET_BENCH_RAW_PIPELINED_MESSAGES` (20000), `DORAFLEET_BENCH_WORKERS`
//! (`1,2`), `DORAFLEET_BENCH_TRACING` (`off,on`: the export settings each
//! fleet size runs with), `DORAFLEET_BENCH_AMQP` (the local RabbitMQ, guest/guest).

use dorafleet_system_tests::otlp_receiver;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, NaiveDate, Utc};
use dorafleet_broker::{Broker, RabbitBroker, RabbitConfig, rabbitmq::default_wait_tiers};
use dorafleet_core::{Scope, Source, Stage, TaskEnvelope, Window};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

const DEFAULT_AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The fleet's default `broker.prefetch`.
const PREFETCH: u16 = 16;
/// The run window: with `--noop` nothing reads it.
const FROM: &str = "2026-01-01";
const TO: &str = "2026-01-02";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn amqp() -> String {
    std::env::var("DORAFLEET_BENCH_AMQP").unwrap_or_else(|_| DEFAULT_AMQP.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let teams: usize = env_or("DORAFLEET_BENCH_TEAMS", 1500);
    let raw_n: usize = env_or("DORAFLEET_BENCH_RAW_MESSAGES", 3000);
    let pipelined_n: usize = env_or("DORAFLEET_BENCH_RAW_PIPELINED_MESSAGES", 20_000);
    let fleets: Vec<usize> = std::env::var("DORAFLEET_BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|k| k.trim().parse().ok())
        .filter(|&k| k > 0)
        .collect();
    let exports: Vec<bool> = std::env::var("DORAFLEET_BENCH_TRACING")
        .unwrap_or_else(|_| "off,on".into())
        .split(',')
        .filter_map(|t| match t.trim() {
            "off" => Some(false),
            "on" => Some(true),
            _ => None,
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "fleet benchmark: broker {}, {cores} cores, prefetch {PREFETCH}, load average {}",
        redact(&amqp()),
        load_average()
    );

    // A task-sized body, so the raw messages weigh what the fleet's do.
    let body = sample_task().encode();

    println!("\nraw ceiling: {raw_n} messages, sequential confirms ...");
    let sequential = raw(raw_n, &body, false).await?;
    sequential.print();
    println!("\nraw reference: {pipelined_n} messages, pipelined confirms ...");
    let pipelined = raw(pipelined_n, &body, true).await?;
    pipelined.print();

    let mut runs = Vec::new();
    for &workers in &fleets {
        for &export in &exports {
            println!(
                "\ndorafleet: {teams} teams -> {} tasks, {workers} worker process(es), span export {} ...",
                3 * teams,
                if export { "on" } else { "off" }
            );
            let run = fleet(teams, workers, export).await?;
            run.print();
            runs.push(run);
        }
    }

    let costs = path_costs(raw_n.min(2000), &body).await?;
    costs.print();
    // The ceiling moves with whatever else the machine does: measure it again
    // after the fleet runs and compare against the higher of the two.
    println!("\nraw ceiling again: {raw_n} messages, sequential confirms ...");
    let again = raw(raw_n, &body, false).await?;
    again.print();
    println!("load average now {}", load_average());

    let ceiling = sequential.per_sec().max(again.per_sec());
    let mut out = String::new();
    let _ = writeln!(out, "\n=== fleet benchmark summary ({cores} cores) ===");
    let _ = writeln!(
        out,
        "raw ceiling, sequential confirms : {:>8.0} msgs/s  (1 confirmed publish + 1 ack per message; \
         the higher of {:.0} before and {:.0} after the fleet runs)",
        ceiling,
        sequential.per_sec(),
        again.per_sec()
    );
    let _ = writeln!(
        out,
        "raw reference, pipelined confirms: {:>8.0} msgs/s  (all publishes in flight at once: the \
         coordinator overlaps up to 64 confirms per batch, workers confirm one event at a time)",
        pipelined.per_sec()
    );
    for run in &runs {
        let rss: Vec<String> = run
            .worker_rss_kb
            .iter()
            .map(|kb| format!("{:.1} MB", *kb as f64 / 1024.0))
            .collect();
        let _ = writeln!(
            out,
            "dorafleet, {} worker(s), export {:<3}: {:>8.0} tasks/s  = {:>5.1} % of the sequential ceiling, \
             {:.1} % of the pipelined reference counting 2 messages per task \
             (in-run {:.0} tasks/s = {:.1} %); worker peak RSS {}; coordinator peak RSS {:.1} MB",
            run.workers,
            if run.exported_spans.is_some() {
                "on"
            } else {
                "off"
            },
            run.per_sec(),
            100.0 * run.per_sec() / ceiling,
            100.0 * 2.0 * run.per_sec() / pipelined.per_sec(),
            run.in_run_per_sec().unwrap_or(f64::NAN),
            100.0 * run.in_run_per_sec().unwrap_or(f64::NAN) / ceiling,
            rss.join(", "),
            run.coordinator_rss_kb as f64 / 1024.0,
        );
    }
    for &workers in &fleets {
        let find = |on: bool| {
            runs.iter()
                .find(|r| r.workers == workers && r.exported_spans.is_some() == on)
        };
        if let (Some(off), Some(on)) = (find(false), find(true)) {
            let _ = writeln!(
                out,
                "tracing overhead, {workers} worker(s)  : export on {:.0} tasks/s vs off {:.0} tasks/s = {:.1} % \
                 (in-run {:.1} %); {} spans exported",
                on.per_sec(),
                off.per_sec(),
                100.0 * on.per_sec() / off.per_sec(),
                100.0 * on.in_run_per_sec().unwrap_or(f64::NAN)
                    / off.in_run_per_sec().unwrap_or(f64::NAN),
                on.exported_spans.unwrap_or(0),
            );
        }
    }
    let _ = writeln!(
        out,
        "coordinator's costs, measured alone: one SQLite commit {:.0} us, one confirmed publish {:.0} us; \
         done one task at a time (3 commits + 1 publish) they would cap it at {:.0} tasks/s, \
         which is why it applies events in batches",
        costs.commit_us,
        costs.publish_us,
        1e6 / costs.serial_per_task_us()
    );
    let _ = writeln!(
        out,
        "target: >= 50 % of the raw ceiling; worker peak RSS <= 50 MB (figures only, nothing is asserted)"
    );
    let _ = writeln!(
        out,
        "note: one dorafleet task costs 2 confirmed publishes (the task by the coordinator, its \
         completion event by a worker), 2 acks (task, event) and the coordinator's task-state \
         writes in the SQLite warehouse; one raw message costs 1 confirmed \
         publish + 1 ack. tasks/s is 3T / (coordinator spawn -> exit), start-up and shutdown \
         included; in-run is 3T / (\"planned run\" -> \"run finished\" in its log)."
    );
    print!("{out}");
    Ok(())
}

/// The 1-minute load average: other work on the machine moves every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
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
            from: day(FROM),
            to: day(TO),
        },
        5,
    )
}

// ---------------------------------------------------------------------------
// Raw ceiling: plain lapin.

struct Raw {
    messages: usize,
    pipelined: bool,
    /// First publish -> last confirm.
    published: Duration,
    /// First publish -> last ack.
    total: Duration,
}

impl Raw {
    fn per_sec(&self) -> f64 {
        self.messages as f64 / self.total.as_secs_f64()
    }

    fn print(&self) {
        println!(
            "  {} confirms: {} messages, all confirmed after {:.2} s, all acked after {:.2} s -> {:.0} msgs/s",
            if self.pipelined {
                "pipelined"
            } else {
                "sequential"
            },
            self.messages,
            self.published.as_secs_f64(),
            self.total.as_secs_f64(),
            self.per_sec()
        );
    }
}

/// Publish `n` persistent, mandatory messages with confirms to a fresh
/// durable quorum queue while a consumer on another connection (prefetch 16)
/// acks each one; time the first publish to the last ack.
async fn raw(n: usize, body: &[u8], pipelined: bool) -> anyhow::Result<Raw> {
    ensure!(n > 0, "no messages to publish");
    let url = amqp();
    let properties =
        || ConnectionProperties::default().with_connection_name("dorafleet bench".into());
    let publisher = Connection::connect(&url, properties())
        .await
        .with_context(|| format!("connecting to RabbitMQ at {}", redact(&url)))?;
    let consumer = Connection::connect(&url, properties()).await?;
    let queue = format!("bench-raw-{}", Uuid::now_v7().simple());

    let pub_channel = publisher.create_channel().await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    pub_channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await?;
    pub_channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;

    let sub_channel = consumer.create_channel().await?;
    sub_channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let mut deliveries = sub_channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let acking = tokio::spawn(async move {
        let mut acked = 0;
        while let Some(delivery) = deliveries.next().await {
            delivery?.acker.ack(BasicAckOptions::default()).await?;
            acked += 1;
            if acked == n {
                return Ok::<_, anyhow::Error>(Instant::now());
            }
        }
        bail!("the consumer ended after {acked} of {n} messages")
    });

    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let props = || {
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
    };
    let check = |c: Confirmation| match c {
        Confirmation::Ack(None) => Ok(()),
        other => bail!("message not confirmed: {other:?}"),
    };
    let start = Instant::now();
    if pipelined {
        let mut confirms = Vec::with_capacity(n);
        for _ in 0..n {
            confirms.push(
                pub_channel
                    .basic_publish("".into(), queue.as_str().into(), options, body, props())
                    .await?,
            );
        }
        for confirm in confirms {
            check(confirm.await?)?;
        }
    } else {
        for _ in 0..n {
            let confirm = pub_channel
                .basic_publish("".into(), queue.as_str().into(), options, body, props())
                .await?;
            check(confirm.await?)?;
        }
    }
    let published = start.elapsed();
    let last_ack = tokio::time::timeout(Duration::from_secs(300), acking)
        .await
        .context("the consumer did not ack every message within 5 minutes")???;
    let total = last_ack.duration_since(start);

    pub_channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    let _ = consumer.close(200, "bench done".into()).await;
    let _ = publisher.close(200, "bench done".into()).await;
    Ok(Raw {
        messages: n,
        pipelined,
        published,
        total,
    })
}

// ---------------------------------------------------------------------------
// The coordinator's serial path, piece by piece, through the project's code.

struct PathCosts {
    n: usize,
    /// One `save_tasks` of one record (one SQLite transaction), mean.
    commit_us: f64,
    /// One `RabbitBroker::publish` (persistent, mandatory, confirmed), mean.
    publish_us: f64,
}

impl PathCosts {
    /// Per task, applying events one at a time, the coordinator commits the
    /// task pending, publishes it, commits it published, and commits its
    /// final state from the event.
    fn serial_per_task_us(&self) -> f64 {
        3.0 * self.commit_us + self.publish_us
    }

    fn print(&self) {
        println!(
            "\ncoordinator path, {} of each, one at a time as the coordinator does them:",
            self.n
        );
        println!(
            "  SqliteWarehouse::save_tasks(1 record): {:.0} us each",
            self.commit_us
        );
        println!(
            "  RabbitBroker::publish (confirmed):     {:.0} us each",
            self.publish_us
        );
    }
}

async fn path_costs(n: usize, body: &[u8]) -> anyhow::Result<PathCosts> {
    use dorafleet_warehouse::{RunRecord, RunStatus, TaskRecord, TaskState};
    let n = n.max(1);
    let dir = tempfile::tempdir()?;
    let warehouse = dorafleet_warehouse::open(&dorafleet_core::config::WarehouseConfig {
        url: format!("sqlite:{}", dir.path().join("w.db").display()),
        ..Default::default()
    })
    .await?;
    let template = TaskEnvelope::decode(body)?;
    let now = Utc::now();
    warehouse
        .save_run(&RunRecord {
            run_id: template.run_id,
            kind: "range".into(),
            window: template.window,
            status: RunStatus::Running,
            created_at: now,
            updated_at: now,
            traceparent: None,
        })
        .await?;
    let tasks: Vec<TaskEnvelope> = (0..n)
        .map(|_| {
            let mut task = template.clone();
            task.task_id = Uuid::now_v7();
            task
        })
        .collect();
    let start = Instant::now();
    for task in &tasks {
        let record = TaskRecord {
            envelope: task.clone(),
            state: TaskState::Pending,
            published: false,
            worker: None,
            attempts: 0,
            updated_at: Utc::now(),
        };
        warehouse.save_tasks(&[record]).await?;
    }
    let commit_us = start.elapsed().as_secs_f64() * 1e6 / n as f64;

    let broker =
        RabbitBroker::connect(rabbit_config(&format!("bench-{}", Uuid::now_v7().simple()))).await?;
    let start = Instant::now();
    let mut published = Ok(());
    for task in &tasks {
        published = broker.publish(task).await;
        if published.is_err() {
            break;
        }
    }
    let publish_us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    broker.delete_topology().await?;
    broker.close().await?;
    published?;
    Ok(PathCosts {
        n,
        commit_us,
        publish_us,
    })
}

fn rabbit_config(prefix: &str) -> RabbitConfig {
    // The fleet's defaults: queue arguments must match the workers'.
    RabbitConfig {
        url: amqp(),
        prefix: prefix.to_owned(),
        prefetch: PREFETCH,
        delivery_limit: 5,
        wait_tiers: default_wait_tiers(),
        confirm_timeout: Duration::from_secs(10),
    }
}

// ---------------------------------------------------------------------------
// dorafleet end to end.

struct FleetRun {
    workers: usize,
    tasks: usize,
    elapsed: Duration,
    /// "planned run" -> "run finished" in the coordinator's log.
    in_run: Option<Duration>,
    worker_rss_kb: Vec<u64>,
    coordinator_rss_kb: u64,
    by_worker: Vec<String>,
    /// Spans the receiver got, when export was on.
    exported_spans: Option<usize>,
}

impl FleetRun {
    fn per_sec(&self) -> f64 {
        self.tasks as f64 / self.elapsed.as_secs_f64()
    }

    fn in_run_per_sec(&self) -> Option<f64> {
        self.in_run.map(|d| self.tasks as f64 / d.as_secs_f64())
    }

    fn print(&self) {
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

fn config_toml(teams: usize, db: &Path, prefix: &str, otlp: Option<&str>) -> String {
    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "[warehouse]\nurl = \"sqlite:{}\"\n\n[broker]\nurl = \"{}\"\nprefix = \"{prefix}\"\nprefetch = {PREFETCH}\n",
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

fn command(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dorafleet"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info");
    // Only the config file speaks: no stray DORAFLEET_* from the caller.
    for (key, _) in std::env::vars() {
        if key.starts_with("DORAFLEET_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Peak resident set (`VmHWM`) of a live process, in kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Kills every worker still running when dropped (on an error path).
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn wait_for_log(path: &Path, needle: &str, within: Duration) -> anyhow::Result<()> {
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

async fn fleet(teams: usize, workers: usize, export: bool) -> anyhow::Result<FleetRun> {
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

    let mut result = fleet_in(dir.path(), &config, teams, workers).await;
    if let (Ok(run), Some(receiver)) = (&mut result, &receiver) {
        // Every process has exited, flushing its spans on the way out.
        run.exported_spans = Some(receiver.span_count());
    }
    // Whatever happened, leave no queues behind.
    let broker = RabbitBroker::connect(rabbit_config(&prefix))
        .await
        .context("connecting to RabbitMQ to delete the benchmark's queues")?;
    broker.delete_topology().await?;
    broker.close().await?;
    result
}

async fn fleet_in(dir: &Path, config: &Path, teams: usize, k: usize) -> anyhow::Result<FleetRun> {
    let mut workers = Workers(Vec::new());
    let mut logs = Vec::new();
    for i in 1..=k {
        let name = format!("bench-{i}");
        let log_path = dir.join(format!("worker-{name}.log"));
        let log = std::fs::File::create(&log_path)?;
        let child = command(config, &["worker", "--noop", "--name", &name])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawning a worker")?;
        workers.0.push(child);
        logs.push(log_path);
    }
    // Time the run, not the workers' start-up.
    for log in &logs {
        wait_for_log(log, "worker consuming", Duration::from_secs(30))?;
    }

    let coordinator_log = dir.join("coordinator.log");
    let start = Instant::now();
    let mut coordinator = command(
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
