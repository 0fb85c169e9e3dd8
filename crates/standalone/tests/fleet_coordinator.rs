//! The fleet coordinator, driven through the in-process broker with a real
//! worker loop: runs end with gold equal to the truth, a second coordinator
//! stands by, and a coordinator stopped mid-run is resumed by the next one.

mod common;

use common::{clients, config, differences, gold, sim, warehouse, window};
use dorafleet_broker::{Broker, InProcessBroker, Route};
use dorafleet_coordinator::{Coordinator, CoordinatorOptions, Plan, RunOutcome};
use dorafleet_core::{Config, Source, Stage};
use dorafleet_warehouse::{RunStatus, TaskState, Warehouse};
use dorafleet_worker::{Worker, WorkerOptions};
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
    let handlers = dorafleet_stages::handlers(&Stage::ALL, warehouse, &config, clients(&config));
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

/// One coordinated run over the simulator's history, with a worker, to its
/// end; the outcomes the coordinator announced.
async fn run_once_with_a_worker(
    broker: &Arc<dyn Broker>,
    warehouse: &Arc<dyn Warehouse>,
    config: &Config,
) -> Vec<RunOutcome> {
    let stop = CancellationToken::new();
    let worker = start_worker(broker, warehouse, config, &stop);
    let outcomes = Arc::new(Mutex::new(Vec::<RunOutcome>::new()));
    let sink = Arc::clone(&outcomes);
    let plan = Plan::Once {
        range: Some(window()),
    };
    coordinator(broker, warehouse, config, "c1", plan)
        .run(CancellationToken::new(), move |o| {
            sink.lock().unwrap().push(o.clone())
        })
        .await
        .unwrap();
    stop.cancel();
    worker.await.unwrap();
    outcomes.lock().unwrap().clone()
}

#[tokio::test]
async fn a_coordinated_run_ends_with_gold_equal_to_the_truth() {
    let sim = sim(2, &["github:503@0.03"]).await;
    let config = config(&sim, 10);
    let warehouse = warehouse();
    let broker: Arc<dyn Broker> = Arc::new(InProcessBroker::new());
    let outcomes = run_once_with_a_worker(&broker, &warehouse, &config).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].run.status, RunStatus::Completed);
    assert_eq!(outcomes[0].dead, 0);
    let diffs = differences(&gold(&warehouse).await, &sim.state().ground_truth());
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
            .is_some()
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
    let repeated = sim.state().pages_served_more_than_once();
    assert!(repeated.is_empty(), "pages fetched twice: {repeated:?}");
    assert_eq!(
        warehouse.runs(10).await.unwrap().len(),
        1,
        "no second run planned"
    );
    let diffs = differences(&gold(&warehouse).await, &sim.state().ground_truth());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// A broker whose `publish` fails once, on the call numbered `fail_on`.
#[derive(Debug)]
struct FailsOnce {
    inner: InProcessBroker,
    calls: std::sync::atomic::AtomicUsize,
    fail_on: usize,
}

#[async_trait::async_trait]
impl Broker for FailsOnce {
    async fn publish(&self, task: &dorafleet_core::TaskEnvelope) -> dorafleet_broker::Result<()> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == self.fail_on {
            return Err(dorafleet_broker::BrokerError::Unavailable(
                "injected failure".into(),
            ));
        }
        self.inner.publish(task).await
    }
    async fn publish_delayed(
        &self,
        task: &dorafleet_core::TaskEnvelope,
        delay: Duration,
    ) -> dorafleet_broker::Result<()> {
        self.inner.publish_delayed(task, delay).await
    }
    async fn publish_dead_letter(
        &self,
        letter: &dorafleet_core::DeadLetter,
    ) -> dorafleet_broker::Result<()> {
        self.inner.publish_dead_letter(letter).await
    }
    async fn publish_event(
        &self,
        event: &dorafleet_core::TaskEvent,
    ) -> dorafleet_broker::Result<()> {
        self.inner.publish_event(event).await
    }
    async fn consume_tasks(
        &self,
        routes: &[Route],
    ) -> dorafleet_broker::Result<Box<dyn dorafleet_broker::DeliveryStream>> {
        self.inner.consume_tasks(routes).await
    }
    async fn consume_dead_letters(
        &self,
    ) -> dorafleet_broker::Result<Box<dyn dorafleet_broker::DeliveryStream>> {
        self.inner.consume_dead_letters().await
    }
    async fn consume_events(
        &self,
    ) -> dorafleet_broker::Result<Box<dyn dorafleet_broker::DeliveryStream>> {
        self.inner.consume_events().await
    }
    async fn close(&self) -> dorafleet_broker::Result<()> {
        Broker::close(&self.inner).await
    }
}

#[tokio::test]
async fn a_publish_failing_mid_batch_is_retried_without_recording_any_task_twice() {
    let sim = sim(2, &[]).await;
    let config = config(&sim, 5);
    let warehouse = warehouse();
    let inner = InProcessBroker::new();
    // The 12th publish: after the planned extracts, among released normalizes.
    let extracts: usize = config.extract_scopes();
    let broker: Arc<dyn Broker> = Arc::new(FailsOnce {
        inner: inner.clone(),
        calls: std::sync::atomic::AtomicUsize::new(0),
        fail_on: extracts + 1,
    });
    let outcomes = run_once_with_a_worker(&broker, &warehouse, &config).await;
    assert_eq!(outcomes.len(), 1, "announced once");
    assert_eq!(outcomes[0].run.status, RunStatus::Completed);
    let tasks = warehouse.run_tasks(outcomes[0].run.run_id).await.unwrap();
    let mut per_node: HashMap<(Stage, Option<Source>, String), usize> = HashMap::new();
    for t in &tasks {
        *per_node
            .entry((
                t.envelope.stage,
                t.envelope.source,
                t.envelope.scope.to_string(),
            ))
            .or_default() += 1;
    }
    assert!(
        per_node.values().all(|n| *n == 1),
        "a task recorded twice: {per_node:?}"
    );
    assert_eq!(tasks.len(), extracts * 2 + config.teams.len());
    let diffs = differences(&gold(&warehouse).await, &sim.state().ground_truth());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[tokio::test]
async fn a_late_event_from_before_a_replay_does_not_undo_the_replayed_task() {
    use dorafleet_core::{TaskEvent, TaskEventKind, TaskStats};
    let sim = sim(1, &[]).await;
    let mut config = config(&sim, 3);
    // One scope: extract -> normalize -> aggregate.
    config.teams[0].jira_projects.clear();
    config.teams[0].jenkins_jobs.clear();
    config.teams[0].deploy_jobs.clear();
    config.teams[0].github_repos.truncate(1);
    let warehouse = warehouse();
    let broker = InProcessBroker::new();
    let shared: Arc<dyn Broker> = Arc::new(broker.clone());
    let event = |task: &dorafleet_core::TaskEnvelope, kind: TaskEventKind| {
        TaskEvent::of(task, "test", TaskStats::default(), kind)
    };
    let dead = || TaskEventKind::Dead {
        class: dorafleet_core::ErrorClass::Permanent,
        reason: "HTTP 404".into(),
        dead_letter_id: uuid::Uuid::nil(),
    };

    // The run's only extract dies: the run ends blocked.
    let planned = tokio::spawn({
        let c = coordinator(
            &shared,
            &warehouse,
            &config,
            "c1",
            Plan::Once {
                range: Some(window()),
            },
        );
        async move { c.run(CancellationToken::new(), |_| {}).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let extract = loop {
        assert!(tokio::time::Instant::now() < deadline, "no task planned");
        if let Some(run) = warehouse.runs(1).await.unwrap().first()
            && let Some(t) = warehouse.run_tasks(run.run_id).await.unwrap().first()
        {
            break t.envelope.clone();
        }
        tokio::task::yield_now().await;
    };
    shared
        .publish_event(&event(&extract, dead()))
        .await
        .unwrap();
    planned.await.unwrap().unwrap();
    assert_eq!(
        warehouse.runs(1).await.unwrap()[0].status,
        RunStatus::Blocked
    );

    // Replayed from the archive: the run is running again, one generation on.
    let letter = dorafleet_core::DeadLetter::for_task(
        &extract,
        dorafleet_core::AttemptRecord {
            attempt: 1,
            at: chrono::Utc::now(),
            worker: "test".into(),
            class: dorafleet_core::ErrorClass::Permanent,
            message: "HTTP 404".into(),
            progressed: false,
        },
        "HTTP 404".into(),
    );
    warehouse.store_dead_letter(&letter).await.unwrap();
    let archived = warehouse
        .archived_letters(&dorafleet_warehouse::LetterFilter::default())
        .await
        .unwrap();
    let options = dorafleet_coordinator::replay::ReplayOptions {
        actor: "test".into(),
        stale_after: Duration::from_secs(60),
    };
    dorafleet_coordinator::replay::replay(
        warehouse.as_ref(),
        &broker,
        &archived,
        &options,
        |_, _| {},
    )
    .await
    .unwrap();
    let replayed = dorafleet_coordinator::replay::replay_envelope(&archived[0]).unwrap();
    assert_eq!(replayed.replay, 1);

    // A late duplicate of the old Dead event, then the replayed task succeeds.
    shared
        .publish_event(&event(&extract, dead()))
        .await
        .unwrap();
    shared
        .publish_event(&event(&replayed, TaskEventKind::Done))
        .await
        .unwrap();
    let outcomes = Arc::new(Mutex::new(Vec::<RunOutcome>::new()));
    let sink = Arc::clone(&outcomes);
    let resumed = tokio::spawn({
        let c = coordinator(&shared, &warehouse, &config, "c2", Plan::ResumeOnly);
        async move {
            c.run(CancellationToken::new(), move |o| {
                sink.lock().unwrap().push(o.clone())
            })
            .await
        }
    });
    // Answer the normalize and aggregate the gates release.
    let run_id = extract.run_id;
    let mut answered = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !resumed.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replayed run never completed"
        );
        for t in warehouse.run_tasks(run_id).await.unwrap() {
            if t.envelope.stage != Stage::Extract && answered.insert(t.envelope.task_id) {
                shared
                    .publish_event(&event(&t.envelope, TaskEventKind::Done))
                    .await
                    .unwrap();
            }
        }
        tokio::task::yield_now().await;
    }
    resumed.await.unwrap().unwrap();
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(
        outcomes[0].run.status,
        RunStatus::Completed,
        "the stale Dead event was ignored"
    );
    assert_eq!(outcomes[0].dead, 0);
}
