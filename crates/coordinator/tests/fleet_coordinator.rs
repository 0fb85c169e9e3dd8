//! The fleet coordinator, driven through the in-process broker with a real
//! worker loop: runs end with gold equal to the truth, a second coordinator
//! stands by, and a coordinator stopped mid-run is resumed by the next one.

mod common;

use common::{clients, config, differences, gold, sim, warehouse, window};
use dorafleet_broker::{Broker, InProcessBroker, Route};
use dorafleet_coordinator::{Coordinator, CoordinatorOptions, Plan, RunOutcome};
use dorafleet_core::{Config, Source, Stage};
use dorafleet_pipeline::{Handlers, Worker, WorkerOptions};
use dorafleet_warehouse::{RunStatus, TaskState, Warehouse};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn start_worker(
    broker: &Arc<dyn Broker>,
    warehouse: &Arc<dyn Warehouse>,
    config: &Config,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let config = Arc::new(config.clone());
    let handlers = Handlers::pipeline(&Stage::ALL, warehouse, &config, clients(&config));
    let worker = Worker::new(
        Arc::clone(broker),
        handlers,
        WorkerOptions {
            name: "worker-1".into(),
            concurrency: 4,
            retry: config.retry.clone(),
            drain_timeout: Duration::from_secs(5),
        },
    );
    let token = shutdown.clone();
    tokio::spawn(async move {
        worker
            .run(&Route::all(&Stage::ALL, &Source::ALL), token)
            .await
            .unwrap();
    })
}

fn coordinator(
    broker: &Arc<dyn Broker>,
    warehouse: &Arc<dyn Warehouse>,
    config: &Config,
    name: &str,
    plan: Plan,
) -> Coordinator {
    Coordinator::new(
        Arc::clone(broker),
        Arc::clone(warehouse),
        Arc::new(config.clone()),
        CoordinatorOptions {
            name: name.into(),
            lease_ttl: Duration::from_secs(3),
            plan,
            sources: Source::ALL.to_vec(),
            progress: None,
        },
    )
}

#[tokio::test]
async fn a_coordinated_run_ends_with_gold_equal_to_the_truth() {
    let sim = sim(2, &["github:503@0.03"]).await;
    let config = config(&sim, 10);
    let warehouse = warehouse();
    let broker: Arc<dyn Broker> = Arc::new(InProcessBroker::new());
    let stop = CancellationToken::new();
    let worker = start_worker(&broker, &warehouse, &config, &stop);

    let outcomes = Arc::new(Mutex::new(Vec::<RunOutcome>::new()));
    let sink = Arc::clone(&outcomes);
    coordinator(
        &broker,
        &warehouse,
        &config,
        "c1",
        Plan::Once {
            range: Some(window()),
        },
    )
    .run(CancellationToken::new(), move |o| {
        sink.lock().unwrap().push(o.clone())
    })
    .await
    .unwrap();
    stop.cancel();
    worker.await.unwrap();

    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].run.status, RunStatus::Completed);
    assert_eq!(outcomes[0].dead, 0);
    let diffs = differences(&gold(&warehouse).await, sim.state().ground_truth());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[tokio::test]
async fn a_second_coordinator_waits_while_the_first_holds_the_lease() {
    let sim = sim(1, &[]).await;
    let config = config(&sim, 3);
    let warehouse = warehouse();
    let broker: Arc<dyn Broker> = Arc::new(InProcessBroker::new());
    assert!(
        warehouse
            .acquire_lease("coordinator", "first", Duration::from_secs(60))
            .await
            .unwrap()
    );
    let shutdown = CancellationToken::new();
    let second = tokio::spawn({
        let c = coordinator(
            &broker,
            &warehouse,
            &config,
            "second",
            Plan::Once {
                range: Some(window()),
            },
        );
        let token = shutdown.clone();
        async move { c.run(token, |_| {}).await }
    });
    // Give the standby a chance to act wrongly: it must not plan anything.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < deadline {
        assert!(
            warehouse.runs(10).await.unwrap().is_empty(),
            "a standby planned a run"
        );
        tokio::task::yield_now().await;
    }
    shutdown.cancel();
    second.await.unwrap().unwrap();
    assert!(warehouse.runs(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_coordinator_stopped_mid_run_is_resumed_without_repeating_finished_extracts() {
    let sim = sim(2, &["github:latency=20@1"]).await;
    let config = config(&sim, 5);
    let warehouse = warehouse();
    let broker: Arc<dyn Broker> = Arc::new(InProcessBroker::new());
    let stop_worker = CancellationToken::new();
    let worker = start_worker(&broker, &warehouse, &config, &stop_worker);

    // First coordinator: stopped as soon as some extracts are done.
    let first_stop = CancellationToken::new();
    let first = tokio::spawn({
        let c = coordinator(
            &broker,
            &warehouse,
            &config,
            "c1",
            Plan::Once {
                range: Some(window()),
            },
        );
        let token = first_stop.clone();
        async move { c.run(token, |_| {}).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let run_id = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no extract finished in time"
        );
        if let Some(run) = warehouse.runs(1).await.unwrap().first() {
            let tasks = warehouse.run_tasks(run.run_id).await.unwrap();
            if tasks
                .iter()
                .any(|t| t.envelope.stage == Stage::Extract && t.state == TaskState::Done)
            {
                break run.run_id;
            }
        }
        tokio::task::yield_now().await;
    };
    first_stop.cancel();
    first.await.unwrap().unwrap();
    let before: HashMap<_, _> = warehouse
        .run_tasks(run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.envelope.task_id, t.state))
        .collect();
    assert!(before.values().any(|s| !s.is_final()), "stopped mid-run");

    // Second coordinator: resumes the same run to its end.
    let outcomes = Arc::new(Mutex::new(Vec::<RunOutcome>::new()));
    let sink = Arc::clone(&outcomes);
    coordinator(&broker, &warehouse, &config, "c2", Plan::ResumeOnly)
        .run(CancellationToken::new(), move |o| {
            sink.lock().unwrap().push(o.clone())
        })
        .await
        .unwrap();
    stop_worker.cancel();
    worker.await.unwrap();

    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].run.run_id, run_id, "the same run was resumed");
    assert_eq!(outcomes[0].run.status, RunStatus::Completed);
    let mut ok_per_url: HashMap<String, usize> = HashMap::new();
    for e in sim.state().request_log().iter().filter(|e| e.status == 200) {
        *ok_per_url
            .entry(format!(
                "{}?{}",
                e.path,
                e.query.clone().unwrap_or_default()
            ))
            .or_default() += 1;
    }
    assert!(
        ok_per_url.values().all(|n| *n == 1),
        "a page was fetched twice"
    );
    assert_eq!(
        warehouse.runs(10).await.unwrap().len(),
        1,
        "no second run planned"
    );
    let diffs = differences(&gold(&warehouse).await, sim.state().ground_truth());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
