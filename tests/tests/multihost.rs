//! The fleet across hosts: RabbitMQ, the simulator, coordinators and three
//! workers each in its own container on a private network, the warehouse on
//! MongoDB (`MONGODB_URI`; the emulator in `scripts/test.sh`, which the
//! containers reach through the network's gateway). Each scenario breaks
//! something mid-run — more workers, a partition, a killed container, a
//! broker restart, a rolling restart, a frozen coordinator — and must end
//! with the same exact run: one completed run, every task done once, gold
//! equal to the simulator's ground truth, the fleet-wide request budget kept
//! in every second of the simulator's log, and one trace for the run at the
//! OTLP receiver across all the containers.
//!
//! Without Docker, the images (`scripts/build-images.sh --no-dorafleet`) or
//! `MONGODB_URI`, each test says why it skipped and passes. The tests share
//! the machine's two cores with nothing else: `scripts/test.sh` runs them
//! after the suite, one at a time. On the emulator a pass shows the fleet's
//! behaviour across containers over the wire protocol, not a real replica
//! set's.

use dorafleet_system_tests::container_fleet::{
    ContainerFleet, RABBITMQ_IMAGE, RUNTIME_IMAGE, pages_served_twice,
};
use dorafleet_system_tests::containers;
use dorafleet_system_tests::fleet_support::{
    busiest_second, busiest_window, eventually, ledger_snapshot,
};

use dorafleet_core::Source;
use dorafleet_warehouse::{GoldFilter, GoldStore, RunLedger, RunStatus, TaskState};
use std::collections::BTreeSet;
use std::time::Duration;

const RUN_LIMIT: Duration = Duration::from_secs(420);
const PROGRESS_LIMIT: Duration = Duration::from_secs(150);
/// GitHub's fleet-wide budget in these runs: low enough to bind.
const GITHUB_RPS: u32 = 20;

/// The fleet, or why this machine cannot run it.
async fn fleet(teams: usize, faults: &[&str]) -> Option<ContainerFleet> {
    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!("skipped: MONGODB_URI not set (scripts/test.sh starts the MongoDB emulator)");
        return None;
    };
    if let Some(why) = containers::unavailable(&[RUNTIME_IMAGE, RABBITMQ_IMAGE]) {
        eprintln!("skipped: {why}");
        return None;
    }
    Some(ContainerFleet::start(&uri, teams, faults, GITHUB_RPS).await)
}

/// Tasks of the (first) run done so far.
async fn tasks_done(fleet: &ContainerFleet) -> usize {
    let w = &fleet.warehouse;
    let Some(run) = w.runs(1).await.unwrap().into_iter().next() else {
        return 0;
    };
    w.run_tasks(run.run_id)
        .await
        .unwrap()
        .iter()
        .filter(|t| t.state == TaskState::Done)
        .count()
}

/// Tasks of the (first) run whose last report came from `worker`.
async fn tasks_done_by(fleet: &ContainerFleet, worker: &str) -> usize {
    let w = &fleet.warehouse;
    let Some(run) = w.runs(1).await.unwrap().into_iter().next() else {
        return 0;
    };
    w.run_tasks(run.run_id)
        .await
        .unwrap()
        .iter()
        .filter(|t| t.state == TaskState::Done && t.worker.as_deref() == Some(worker))
        .count()
}

/// Wait until `n` more tasks are done than now; on a timeout, fail with
/// every container's log.
async fn progress(fleet: &ContainerFleet, n: usize, what: &str) {
    let start = tasks_done(fleet).await;
    let deadline = std::time::Instant::now() + PROGRESS_LIMIT;
    while tasks_done(fleet).await < start + n {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}\n{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The coordinator container `name` exits 0 having completed its run; its log.
async fn completes(fleet: &ContainerFleet, name: &str) -> String {
    let coordinator = fleet.role(name);
    let code = coordinator.exit_code(RUN_LIMIT).await;
    let log = coordinator.logs();
    assert_eq!(code, Some(0), "{name} exited 0:\n{}", fleet.logs());
    log
}

/// Task spans of a second or later attempt, at the OTLP receiver.
fn tasks_run_again(fleet: &ContainerFleet) -> Vec<String> {
    fleet
        .receiver
        .spans()
        .into_iter()
        .filter(|s| s.name.starts_with("task ") && s.attr("attempt") != Some("1"))
        .map(|s| format!("{} {:?}", s.name, s.attributes))
        .collect()
}

/// What every scenario ends with: one completed run whose every task is
/// done, gold equal to the ground truth, the budget kept in every second,
/// and one trace for the run across the containers. The workers (names) that
/// finished tasks.
async fn assert_the_run_is_exact(fleet: &ContainerFleet) -> BTreeSet<String> {
    let w = &fleet.warehouse;
    let runs = w.runs(10).await.unwrap();
    assert_eq!(runs.len(), 1, "one run: {runs:#?}");
    assert_eq!(runs[0].status, RunStatus::Completed, "{}", fleet.logs());
    let tasks = w.run_tasks(runs[0].run_id).await.unwrap();
    let unfinished: Vec<_> = tasks
        .iter()
        .filter(|t| t.state != TaskState::Done)
        .map(|t| format!("{} {:?}", t.envelope.task_id, t.state))
        .collect();
    assert!(unfinished.is_empty(), "tasks not done: {unfinished:?}");

    let gold: Vec<_> = w
        .gold(&GoldFilter::default())
        .await
        .unwrap()
        .iter()
        .map(dorafleet_system_tests::fleet_support::truth_shaped)
        .collect();
    let diffs = dorafleet_sim::differences(&fleet.truth().await, &gold);
    assert!(
        diffs.is_empty(),
        "{} differences between gold and the truth:\n{}\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        fleet.logs()
    );

    let log = fleet.request_log().await;
    let busiest = busiest_second(&log);
    assert!(
        busiest[&Source::Github] <= GITHUB_RPS as usize,
        "GitHub budget {GITHUB_RPS}/s across the fleet, busiest second {busiest:?}:\n{}",
        busiest_window(&log, Source::Github)
            .iter()
            .map(|e| format!("{} {} {}", e.at.format("%H:%M:%S%.3f"), e.status, e.path))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        busiest[&Source::Jira] <= 50 && busiest[&Source::Jenkins] <= 50,
        "{busiest:?}"
    );

    let trace = runs[0]
        .traceparent
        .as_deref()
        .and_then(|tp| tp.split('-').nth(1))
        .expect("the run's trace context is recorded")
        .to_owned();
    let run_id = runs[0].run_id.to_string();
    eventually(Duration::from_secs(30), "the run's task spans", || {
        let spans = fleet.receiver.spans();
        let run_id = run_id.clone();
        async move {
            spans
                .iter()
                .any(|s| s.name.starts_with("task ") && s.attr("run_id") == Some(&run_id))
        }
    })
    .await;
    let spans = fleet.receiver.spans();
    let traces: BTreeSet<&str> = spans
        .iter()
        .filter(|s| s.attr("run_id") == Some(run_id.as_str()))
        .map(|s| s.trace_id.as_str())
        .collect();
    assert_eq!(
        traces,
        BTreeSet::from([trace.as_str()]),
        "every span of the run, from every container, is on the run's one trace"
    );
    tasks.iter().filter_map(|t| t.worker.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "containers: scripts/test.sh runs these after the suite, one at a time"]
async fn scaling_from_one_worker_to_three_mid_run_loses_and_repeats_nothing() {
    let Some(mut fleet) = fleet(2, &["github:latency=20@1", "github:503@0.02"]).await else {
        return;
    };
    fleet.start_worker("w1");
    fleet.start_range_coordinator("coordinator", 20);
    progress(&fleet, 2, "one worker finished two tasks").await;
    fleet.start_worker("w2");
    fleet.start_worker("w3");
    let log = completes(&fleet, "coordinator").await;
    assert!(log.contains("completed"), "{log}");

    let workers = assert_the_run_is_exact(&fleet).await;
    assert!(
        workers.contains("w2") || workers.contains("w3"),
        "the workers added mid-run took tasks: {workers:?}"
    );
    let repeated = pages_served_twice(&fleet.request_log().await);
    assert!(repeated.is_empty(), "pages fetched twice: {repeated:?}");
    fleet.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "containers: scripts/test.sh runs these after the suite, one at a time"]
async fn a_worker_cut_off_from_the_network_mid_task_hands_its_tasks_back_and_writes_nothing_stale()
{
    let Some(mut fleet) = fleet(2, &["github:latency=20@1"]).await else {
        return;
    };
    fleet.start_worker("w1");
    fleet.start_range_coordinator("coordinator", 20);
    progress(&fleet, 1, "w1 finished a task").await;
    let network = fleet.network.name.clone();
    fleet.role("w1").disconnect(&network);
    let cut_at = std::time::Instant::now();
    fleet.start_worker("w2");
    let deadline = cut_at + PROGRESS_LIMIT;
    // The cut outlasts the client's delivery limit (2 s) and the slots w1
    // had taken before it: the requests w1 wrote into its connections are
    // then dropped with them, not delivered in a burst when it comes back.
    while tasks_done_by(&fleet, "w2").await == 0 || cut_at.elapsed() < Duration::from_secs(4) {
        assert!(
            std::time::Instant::now() < deadline,
            "w2 took over while w1 was cut off:\n{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    fleet.role("w1").connect(&network);
    completes(&fleet, "coordinator").await;
    assert_the_run_is_exact(&fleet).await;

    // No fault makes a task fail here, so no task needs a second attempt: a
    // task span of attempt 2 would be w1, back on the network, settling a
    // delivery it had lost (publishing a retry for a task another worker ran).
    let second_attempts = tasks_run_again(&fleet);
    assert!(
        second_attempts.is_empty(),
        "tasks run again: {second_attempts:?}\n{}",
        fleet.role("w1").logs()
    );
    // w1 says so once it notices its connection is dead, which may come
    // after w2 finished the run.
    let deadline = std::time::Instant::now() + PROGRESS_LIMIT;
    while !fleet.role("w1").logs().contains("delivery lost") {
        assert!(
            std::time::Instant::now() < deadline,
            "w1 says it dropped the tasks whose deliveries it lost:\n{}",
            fleet.role("w1").logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    fleet.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "containers: scripts/test.sh runs these after the suite, one at a time"]
async fn a_killed_worker_container_and_a_restarted_rabbitmq_container_lose_no_task() {
    let Some(mut fleet) = fleet(2, &["github:latency=20@1", "github:503@0.02"]).await else {
        return;
    };
    for name in ["w1", "w2", "w3"] {
        fleet.start_worker(name);
    }
    fleet.start_range_coordinator("coordinator", 20);
    progress(&fleet, 1, "a task done").await;
    fleet.role("w1").kill();
    progress(&fleet, 1, "a task done after w1 was killed").await;
    fleet.rabbitmq.restart();
    fleet.wait_for_rabbitmq().await;
    completes(&fleet, "coordinator").await;
    assert_the_run_is_exact(&fleet).await;
    for name in ["w2", "w3"] {
        assert!(
            fleet.role(name).is_running(),
            "{name} rode out the broker restart:\n{}",
            fleet.role(name).logs()
        );
    }
    fleet.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "containers: scripts/test.sh runs these after the suite, one at a time"]
async fn a_rolling_restart_of_every_worker_mid_run_loses_and_repeats_nothing() {
    let Some(mut fleet) = fleet(3, &["github:latency=30@1"]).await else {
        return;
    };
    for name in ["w1", "w2", "w3"] {
        fleet.start_worker(name);
    }
    fleet.start_range_coordinator("coordinator", 20);
    for name in ["w1", "w2", "w3"] {
        progress(&fleet, 1, &format!("a task done before restarting {name}")).await;
        // SIGTERM: the worker finishes what it can within its drain
        // timeout, hands back the rest, and the container starts again.
        fleet.role(name).restart();
    }
    completes(&fleet, "coordinator").await;
    assert_the_run_is_exact(&fleet).await;
    for name in ["w1", "w2", "w3"] {
        let log = fleet.role(name).logs();
        assert!(
            log.contains("worker stopped") && log.matches("worker starting").count() == 2,
            "{name} stopped cleanly and started again:\n{log}"
        );
    }
    let second_attempts = tasks_run_again(&fleet);
    assert!(second_attempts.is_empty(), "{second_attempts:?}");
    fleet.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "containers: scripts/test.sh runs these after the suite, one at a time"]
async fn a_coordinator_container_paused_past_its_lease_is_fenced_while_a_standby_finishes_the_run()
{
    let Some(mut fleet) = fleet(2, &["github:latency=20@1"]).await else {
        return;
    };
    fleet.start_worker("w1");
    fleet.start_worker("w2");
    fleet.start_range_coordinator("first", 15);
    let deadline = std::time::Instant::now() + PROGRESS_LIMIT;
    while fleet.warehouse.runs(1).await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "{}", fleet.logs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The standby: the same command in another container.
    fleet.start_range_coordinator("second", 15);
    progress(&fleet, 1, "a task done").await;
    fleet.role("first").pause();

    let second = completes(&fleet, "second").await;
    let run = fleet.warehouse.runs(10).await.unwrap();
    assert_eq!(run.len(), 1, "{run:#?}");
    assert!(
        second.contains(&run[0].run_id.to_string()),
        "the standby finished the first's run:\n{second}"
    );
    let settled = ledger_snapshot(&fleet.warehouse).await;

    // The first wakes up long after its lease passed on.
    fleet.role("first").unpause();
    let first = completes(&fleet, "first").await;
    assert!(
        first.contains("finished by another coordinator"),
        "the woken coordinator says why it has nothing to do:\n{first}"
    );
    assert_eq!(
        ledger_snapshot(&fleet.warehouse).await,
        settled,
        "the woken coordinator wrote to the ledger:\n{first}"
    );
    assert_the_run_is_exact(&fleet).await;
    let repeated = pages_served_twice(&fleet.request_log().await);
    assert!(
        repeated.is_empty(),
        "pages fetched twice (the range was extracted again): {repeated:?}"
    );
    fleet.remove().await;
}
