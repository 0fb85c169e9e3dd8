//! The distributed mode, with real processes: worker and coordinator
//! processes of the binary against the local RabbitMQ and a shared SQLite
//! warehouse, the simulator as the APIs. Every run must end with gold equal
//! to the simulator's ground truth, whatever is killed on the way.

use dorafleet_system_tests::{fleet_support, otlp_receiver};

use dorafleet_broker::{Broker, Route};
use dorafleet_core::{DeadLetter, Source, Stage};
use dorafleet_warehouse::{RunStatus, TaskState};
use fleet_support::{Fleet, busiest_second, eventually, finish, ledger_snapshot};

use std::collections::HashMap;
use std::time::Duration;

const RUN_LIMIT: Duration = Duration::from_secs(180);

fn assert_gold_is_the_truth(
    fleet_gold: &[dorafleet_sim::TruthRecord],
    truth: &[dorafleet_sim::TruthRecord],
) {
    let diffs = dorafleet_sim::differences(truth, fleet_gold);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

async fn extracts_done(fleet: &Fleet) -> usize {
    let w = fleet.warehouse();
    let Some(run) = w.runs(1).await.unwrap().into_iter().next() else {
        return 0;
    };
    w.run_tasks(run.run_id)
        .await
        .unwrap()
        .iter()
        .filter(|t| t.envelope.stage == Stage::Extract && t.state == TaskState::Done)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_produce_the_ground_truth_within_the_fleet_wide_request_budget() {
    let mut fleet = Fleet::start(2, &["github:503@0.03", "jira:429=1#1"], 20).await;
    for name in ["a", "b", "c"] {
        fleet.spawn_worker(name);
    }
    let stdout = fleet.range_run_completes(RUN_LIMIT).await;
    let busy_workers = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("worker "))
        .count();
    assert!(
        busy_workers >= 2,
        "work was shared between processes:\n{stdout}"
    );

    assert_gold_is_the_truth(&fleet.gold().await, &fleet.sim.state().ground_truth());
    let busiest = busiest_second(&fleet.sim.state().request_log());
    assert!(
        busiest[&Source::Github] <= 20,
        "GitHub budget 20/s, busiest second {}",
        busiest[&Source::Github]
    );
    assert!(
        busiest[&Source::Github] >= 10,
        "the budget was actually used: {busiest:?}"
    );
    assert!(
        busiest[&Source::Jira] <= 50 && busiest[&Source::Jenkins] <= 50,
        "{busiest:?}"
    );

    let statuses = fleet.stop().await;
    assert!(
        statuses.iter().all(|s| s.success()),
        "workers exit 0 on SIGTERM: {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_with_sigkill_mid_run_lose_no_task() {
    let mut fleet = Fleet::start(2, &["github:latency=15@1"], 100).await;
    for name in ["a", "b", "c"] {
        fleet.spawn_worker(name);
    }
    let coordinator = fleet.spawn_range_coordinator();

    eventually(RUN_LIMIT, "two extracts done", || async {
        extracts_done(&fleet).await >= 2
    })
    .await;
    fleet.workers[0].kill().unwrap();
    fleet.spawn_worker("d");
    let done = extracts_done(&fleet).await;
    eventually(RUN_LIMIT, "more extracts done", || async {
        extracts_done(&fleet).await > done
    })
    .await;
    fleet.workers[1].kill().unwrap();

    let out = finish(coordinator, RUN_LIMIT).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", fleet.worker_logs());
    assert!(stdout.contains("completed"), "{stdout}");
    assert_gold_is_the_truth(&fleet.gold().await, &fleet.sim.state().ground_truth());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_mid_run_is_resumed_without_repeating_finished_extracts() {
    let mut fleet = Fleet::start(2, &["github:latency=20@1"], 100).await;
    fleet.spawn_worker("a");
    fleet.spawn_worker("b");
    let mut first = fleet.spawn_range_coordinator();
    eventually(RUN_LIMIT, "an extract done", || async {
        extracts_done(&fleet).await >= 1
    })
    .await;
    first.kill().unwrap();
    let _ = first.wait();
    let runs = fleet.warehouse().runs(10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Running, "killed mid-run");

    let out = finish(fleet.spawn_coordinator(&["--resume-only"]), RUN_LIMIT).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&runs[0].run_id.to_string()),
        "the same run finished: {stdout}"
    );
    assert_eq!(
        fleet.warehouse().runs(10).await.unwrap()[0].status,
        RunStatus::Completed
    );

    let repeated = pages_fetched_twice(&fleet);
    assert!(repeated.is_empty(), "pages fetched twice: {repeated:?}");
    assert_gold_is_the_truth(&fleet.gold().await, &fleet.sim.state().ground_truth());
    fleet.stop().await;
}

/// Every page the simulator served more than once (Jira's per-task
/// questions, `/myself` and `serverInfo`, are not pages).
fn pages_fetched_twice(fleet: &Fleet) -> Vec<(String, usize)> {
    fleet.sim.state().pages_served_more_than_once()
}

/// Whether no process holds the write lock of the SQLite file at `db` now.
fn sqlite_write_lock_is_free(db: &std::path::Path) -> bool {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::ZERO).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").is_ok()
}

/// Wait for a process to exit; if it does not within [`RUN_LIMIT`], kill
/// it and fail with every log of the fleet.
async fn finish_or_dump(mut child: std::process::Child, fleet: &Fleet) -> std::process::Output {
    let deadline = std::time::Instant::now() + RUN_LIMIT;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "process {} did not finish within {RUN_LIMIT:?}:\n{}",
                child.id(),
                fleet.worker_logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_paused_past_its_lease_writes_nothing_on_waking_and_never_repeats_the_range()
{
    let mut fleet = Fleet::start(2, &["github:latency=20@1"], 100).await;
    fleet.spawn_worker("a");
    fleet.spawn_worker("b");
    let range = fleet.range_args();
    let mut args = vec!["coordinator", "--lease-ttl-secs", "3", "--name", "first"];
    args.extend(range.iter().map(String::as_str));
    // A short AMQP heartbeat, so RabbitMQ notices the paused process and
    // hands the events it held to the standby (as it would after any pause
    // longer than the heartbeat).
    let first = fleet
        .command(&args)
        .env(
            "DORAFLEET_BROKER__URL",
            format!("{}?heartbeat=1", fleet_support::AMQP),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(fleet.dir.path().join("coordinator-first.log")).unwrap())
        .spawn()
        .unwrap();
    eventually(
        RUN_LIMIT,
        "the first coordinator planned the run",
        || async { !fleet.warehouse().runs(1).await.unwrap().is_empty() },
    )
    .await;
    // The standby: the same command under another name.
    let mut second_args = vec!["coordinator", "--lease-ttl-secs", "3", "--name", "second"];
    second_args.extend(range.iter().map(String::as_str));
    let second = fleet
        .command(&second_args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(fleet.dir.path().join("coordinator-second.log")).unwrap())
        .spawn()
        .unwrap();
    eventually(RUN_LIMIT, "an extract done", || async {
        extracts_done(&fleet).await >= 1
    })
    .await;
    let pid = first.id().to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig} {pid}");
    };
    // Paused at a moment it holds no SQLite write lock: a process paused
    // inside a write transaction stalls every writer of the shared file,
    // which is not what this test is about.
    loop {
        signal("-STOP");
        if sqlite_write_lock_is_free(&fleet.db) {
            break;
        }
        signal("-CONT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The standby takes the lease once it lapses and finishes the run.
    let out = finish_or_dump(second, &fleet).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        fleet.worker_logs()
    );
    let runs = fleet.warehouse().runs(10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].status, RunStatus::Completed);
    assert!(
        stdout.contains(&runs[0].run_id.to_string()),
        "the standby finished the first's run: {stdout}"
    );
    let settled = ledger_snapshot(fleet.warehouse().as_ref()).await;

    // The first wakes up after its lease passed on.
    signal("-CONT");
    let out = finish_or_dump(first, &fleet).await;
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(fleet.dir.path().join("coordinator-first.log")).unwrap()
    );
    assert_eq!(
        ledger_snapshot(fleet.warehouse().as_ref()).await,
        settled,
        "the woken coordinator wrote to the ledger:\n{logs}"
    );
    let repeated = pages_fetched_twice(&fleet);
    assert!(
        repeated.is_empty(),
        "pages fetched twice (the range was extracted again): {repeated:?}\n{logs}"
    );
    assert!(
        logs.contains("finished by another coordinator"),
        "the woken coordinator says why it has nothing to do:\n{logs}"
    );
    assert_gold_is_the_truth(&fleet.gold().await, &fleet.sim.state().ground_truth());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_with_a_reason_and_the_worker_keeps_consuming() {
    let mut fleet = Fleet::start(1, &[], 100).await;
    fleet.spawn_worker("a");
    let broker = fleet.broker().await;
    let route = Route {
        stage: Stage::Extract,
        source: Some(Source::Github),
    };
    let unknown_version = br#"{"version": 9, "task_id": "x"}"#.to_vec();
    broker
        .publish_raw(route, b"{not json".to_vec())
        .await
        .unwrap();
    broker.publish_raw(route, unknown_version).await.unwrap();
    broker
        .publish_raw(route, vec![b'x'; 2 * 1024 * 1024])
        .await
        .unwrap();

    let mut letters = broker.consume_dead_letters().await.unwrap();
    let mut reasons = Vec::new();
    while reasons.len() < 3 {
        let delivery = tokio::time::timeout(Duration::from_secs(30), letters.next())
            .await
            .expect("three dead letters within 30 s")
            .expect("stream open");
        let letter: DeadLetter = serde_json::from_slice(&delivery.body).unwrap();
        reasons.push(letter.reason);
        delivery.ack().await.unwrap();
    }
    reasons.sort();
    assert!(reasons[0].contains("above the"), "{reasons:?}");
    assert!(reasons[1].contains("not a JSON object"), "{reasons:?}");
    assert!(
        reasons[2].contains("version 9 is not supported"),
        "{reasons:?}"
    );

    let out = finish(fleet.spawn_range_coordinator(), RUN_LIMIT).await;
    assert!(
        out.status.success(),
        "the worker still consumes: {}",
        fleet.worker_logs()
    );
    assert_gold_is_the_truth(&fleet.gold().await, &fleet.sim.state().ground_truth());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanently_failing_job_is_dead_lettered_and_other_teams_gold_is_unaffected() {
    let probe = Fleet::start(2, &[], 100).await;
    let failing_team = probe.sim.state().organisation().team_configs()[0].clone();
    drop(probe);
    let deploy_job = failing_team.deploy_jobs.keys().next().unwrap().clone();
    let fault = format!("jenkins~{deploy_job}:503@1");
    let mut fleet = Fleet::start(2, &[fault.as_str()], 100).await;
    fleet.spawn_worker("a");
    fleet.spawn_worker("b");
    let out = finish(fleet.spawn_range_coordinator(), RUN_LIMIT).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a blocked run exits 2: {stdout}"
    );
    assert!(
        stdout.contains(&format!("no gold for: {}", failing_team.id)),
        "{stdout}"
    );

    // Every metric but time to restore service reads Jenkins (a deployment
    // source): only that one has gold for the failing team.
    let reads_jenkins = |metric: &str| {
        dorafleet_core::Definitions::default()
            .inputs(metric.parse().unwrap())
            .contains(&dorafleet_core::Source::Jenkins)
    };
    let gold = fleet.gold().await;
    assert!(
        gold.iter()
            .all(|g| g.team != failing_team.id || !reads_jenkins(&g.metric)),
        "no gold from incomplete inputs"
    );
    assert!(gold.iter().any(|g| g.team == failing_team.id));
    let truth: Vec<_> = fleet
        .sim
        .state()
        .ground_truth()
        .iter()
        .filter(|t| t.team != failing_team.id || !reads_jenkins(&t.metric))
        .cloned()
        .collect();
    assert_gold_is_the_truth(&gold, &truth);

    let letters = fleet.warehouse().dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!(
        letters[0].scope.as_ref().unwrap().target.as_deref(),
        Some(deploy_job.as_str())
    );
    assert_eq!(
        letters[0].attempts.len(),
        6,
        "dead-lettered after max attempts"
    );
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts the shared RabbitMQ; scripts/test.sh runs it alone"]
async fn the_fleet_survives_a_rabbitmq_restart_mid_run() {
    let mut fleet = Fleet::start(2, &["github:latency=20@1"], 100).await;
    fleet.spawn_worker("a");
    fleet.spawn_worker("b");
    let coordinator = fleet.spawn_range_coordinator();
    eventually(RUN_LIMIT, "an extract done", || async {
        extracts_done(&fleet).await >= 1
    })
    .await;

    let ctl = |what: &str| {
        let status = std::process::Command::new("rabbitmqctl")
            .arg(what)
            .status()
            .unwrap();
        assert!(status.success(), "rabbitmqctl {what}");
    };
    ctl("stop_app");
    ctl("start_app");
    let status = std::process::Command::new("rabbitmqctl")
        .args(["await_startup"])
        .status()
        .unwrap();
    assert!(status.success());

    let out = finish(coordinator, RUN_LIMIT).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        fleet.worker_logs()
    );
    assert_gold_is_the_truth(&fleet.gold().await, &fleet.sim.state().ground_truth());
    for child in &mut fleet.workers {
        assert!(
            child.try_wait().unwrap().is_none(),
            "workers survived the restart"
        );
    }
    let statuses = fleet.stop().await;
    assert!(statuses.iter().all(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_with_sigterm_finishes_in_flight_tasks_and_hands_none_of_them_back() {
    let mut fleet = Fleet::start(1, &["jenkins:latency=700@1"], 100).await;
    fleet.spawn_worker("a");
    let mut coordinator = fleet.spawn_range_coordinator();
    // Stop the worker while its slow Jenkins extracts are under way.
    let warehouse = fleet.warehouse();
    eventually(RUN_LIMIT, "a Jenkins request under way", || async {
        !fleet
            .sim
            .state()
            .request_log()
            .iter()
            .all(|e| e.source != Source::Jenkins)
            || extracts_done(&fleet).await >= 2
    })
    .await;
    fleet_support::terminate(fleet.workers[0].id());
    let status = fleet_support::wait_with_deadline(&mut fleet.workers[0], Duration::from_secs(20));
    assert!(
        status.success(),
        "exit 0 after draining: {status:?}\n{}",
        fleet.worker_logs()
    );
    assert!(
        fleet.worker_logs().contains("worker stopped"),
        "{}",
        fleet.worker_logs()
    );

    // Whatever went back to the queues must be work that was not finished.
    let broker = fleet.broker().await;
    let mut stream = broker
        .consume_tasks(&Route::all(&Stage::ALL, &Source::ALL))
        .await
        .unwrap();
    let run = warehouse.runs(1).await.unwrap().remove(0);
    let states: HashMap<_, _> = warehouse
        .run_tasks(run.run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.envelope.task_id, t.state))
        .collect();
    while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
        let task = dorafleet_core::TaskEnvelope::decode(&d.body).unwrap();
        assert_ne!(
            states.get(&task.task_id),
            Some(&TaskState::Done),
            "a task reported done was handed back to the broker"
        );
        d.requeue().await.unwrap();
    }
    drop(stream);
    coordinator.kill().unwrap();
    let _ = coordinator.wait();
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_counts_a_runs_tasks_requests_and_records() {
    use fleet_support::{free_port, http_get, sample};
    let mut fleet = Fleet::start(1, &["jira:503#1"], 100).await;
    let port = free_port();
    fleet.spawn_worker_with("a", &["--metrics-addr", &format!("127.0.0.1:{port}")]);
    eventually(RUN_LIMIT, "the metrics endpoint answers", || async {
        http_get(port, "/healthz").await.is_some()
    })
    .await;
    let (status, before) = http_get(port, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let done = r#"dorafleet_tasks_total{stage="extract",outcome="done"}"#;
    assert_eq!(sample(&before, done), 0.0);
    assert_eq!(http_get(port, "/healthz").await.unwrap().0, 200);
    assert_eq!(http_get(port, "/readyz").await.unwrap().0, 200);

    let out = finish(fleet.spawn_range_coordinator(), RUN_LIMIT).await;
    assert!(out.status.success(), "{}", fleet.worker_logs());

    let (_, after) = http_get(port, "/metrics").await.unwrap();
    let extracts = dorafleet_core::Config {
        teams: fleet.sim.state().organisation().team_configs(),
        ..Default::default()
    }
    .extract_scopes();
    assert_eq!(sample(&after, done), extracts as f64, "{after}");
    assert_eq!(
        sample(
            &after,
            r#"dorafleet_tasks_total{stage="extract",outcome="retrying"}"#
        ),
        1.0,
        "the injected 503 was retried once"
    );
    assert_eq!(
        sample(
            &after,
            r#"dorafleet_tasks_total{stage="aggregate",outcome="done"}"#
        ),
        1.0
    );
    let log = fleet.sim.state().request_log();
    for source in Source::ALL {
        let ok = log
            .iter()
            .filter(|e| e.source == source && e.status == 200)
            .count();
        let series = format!(r#"dorafleet_api_requests_total{{source="{source}",status="200"}}"#);
        assert_eq!(sample(&after, &series), ok as f64, "{series}");
    }
    let served: u64 = fleet.sim.state().served_records().values().sum();
    assert_eq!(
        sample(&after, r#"dorafleet_records_total{layer="bronze"}"#),
        served as f64
    );
    let gold = fleet.gold().await.len();
    assert_eq!(
        sample(&after, r#"dorafleet_records_total{layer="gold"}"#),
        gold as f64
    );
    assert!(after.contains("dorafleet_source_last_extracted_timestamp_seconds{source=\"github\"}"));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts the shared RabbitMQ; scripts/test.sh runs it alone"]
async fn readiness_fails_while_rabbitmq_is_stopped_and_returns_after_a_rabbitmq_restart() {
    use fleet_support::{free_port, http_get};
    let mut fleet = Fleet::start(1, &[], 100).await;
    let port = free_port();
    fleet.spawn_worker_with("a", &["--metrics-addr", &format!("127.0.0.1:{port}")]);
    let ready = |want: u16| async move {
        http_get(port, "/readyz")
            .await
            .is_some_and(|(s, _)| s == want)
    };
    eventually(RUN_LIMIT, "ready", || ready(200)).await;
    let ctl = |what: &str| {
        let status = std::process::Command::new("rabbitmqctl")
            .arg(what)
            .status()
            .unwrap();
        assert!(status.success(), "rabbitmqctl {what}");
    };
    ctl("stop_app");
    eventually(RUN_LIMIT, "unready while RabbitMQ is down", || ready(503)).await;
    ctl("start_app");
    let _ = std::process::Command::new("rabbitmqctl")
        .arg("await_startup")
        .status();
    eventually(RUN_LIMIT, "ready again", || ready(200)).await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_token_never_appears_in_logs_spans_or_metrics() {
    use fleet_support::{free_port, http_get};
    const CANARY: &str = "ghp_canary_4f1d9c2e7b";
    let receiver = otlp_receiver::OtlpReceiver::start().await;
    let mut fleet = Fleet::start(1, &["github:503#1", "github:429=1#1"], 100).await;
    let endpoint = receiver.endpoint();
    for (k, v) in [
        ("DORAFLEET_OBSERVABILITY__OTLP_ENDPOINT", endpoint.as_str()),
        ("DORAFLEET_OBSERVABILITY__OTLP_PROTOCOL", "http"),
        ("DORAFLEET_SOURCES__GITHUB__TOKEN", CANARY),
        ("DORAFLEET_SOURCES__JIRA__TOKEN", CANARY),
        ("DORAFLEET_SOURCES__JIRA__USER", "metrics@acme.example"),
        ("RUST_LOG", "debug"),
    ] {
        fleet.env.push((k.into(), v.into()));
    }
    let check = fleet.command(&["config", "check"]).output().unwrap();
    let check = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        check
            .lines()
            .any(|l| l.starts_with("github") && l.contains("token set")),
        "the token is configured: {check}"
    );
    assert!(!check.contains(CANARY));
    let port = free_port();
    fleet.spawn_worker_with("a", &["--metrics-addr", &format!("127.0.0.1:{port}")]);
    let out = finish(fleet.spawn_range_coordinator(), RUN_LIMIT).await;
    assert!(out.status.success(), "{}", fleet.worker_logs());
    let (_, metrics) = http_get(port, "/metrics").await.expect("metrics served");
    let logs = fleet.worker_logs();
    assert!(logs.contains("DEBUG"), "debug logging was on");
    assert!(logs.contains("retrying"), "the failures were logged");
    // Workers flush their spans when they stop.
    let statuses = fleet.stop().await;
    assert!(statuses.iter().all(|s| s.success()));
    eventually(Duration::from_secs(30), "the worker's spans", || {
        let spans = receiver.spans();
        async move {
            spans
                .iter()
                .any(|s| s.service == "dorafleet-worker" && s.name == "gold write")
        }
    })
    .await;
    let spans = receiver.spans();
    assert!(
        spans.iter().any(|s| s.name.starts_with("GET github")),
        "the authenticated requests were traced"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.events.iter().any(|(name, _)| name == "retrying")),
        "the failures are span events"
    );
    let exported = receiver.all_text();
    for (what, text) in [
        ("exported spans", exported.as_str()),
        ("worker logs", logs.as_str()),
        ("coordinator output", &String::from_utf8_lossy(&out.stdout)),
        ("coordinator logs", &String::from_utf8_lossy(&out.stderr)),
        ("metrics", metrics.as_str()),
    ] {
        assert!(!text.contains(CANARY), "the token leaked into the {what}");
    }
}
