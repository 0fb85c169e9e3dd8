//! The worker settles every delivery: retries with backoff, dead letters with
//! their history, poison messages dead-lettered without stopping the worker.

use async_trait::async_trait;
use chrono::Utc;
use dorafleet_broker::{Broker, DeliveryStream, InProcessBroker, Route};
use dorafleet_core::{
    DeadLetter, ErrorClass, RetryPolicy, Scope, Source, Stage, TaskEnvelope, TaskError, TaskEvent,
    TaskEventKind, TaskStats, Window,
};
use dorafleet_worker::{HandlerOutcome, Handlers, StageHandler, Worker, WorkerOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Fails the first `failures` attempts with `error`, then succeeds.
#[derive(Debug)]
struct Flaky {
    failures: u32,
    error: TaskError,
    calls: AtomicU32,
}

#[async_trait]
impl StageHandler for Flaky {
    async fn handle(&self, _task: &TaskEnvelope) -> HandlerOutcome {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            HandlerOutcome::failed(TaskStats::default(), self.error.clone())
        } else {
            HandlerOutcome::ok(TaskStats::default())
        }
    }
}

#[derive(Debug)]
struct Panics;

#[async_trait]
impl StageHandler for Panics {
    async fn handle(&self, _task: &TaskEnvelope) -> HandlerOutcome {
        panic!("handler bug")
    }
}

fn task(max_attempts: u32) -> TaskEnvelope {
    let now = Utc::now();
    TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        Stage::Extract,
        Some(Source::Jira),
        Scope {
            team: "search".into(),
            target: Some("SRCH".into()),
        },
        Window {
            from: now - chrono::Duration::days(1),
            to: now,
        },
        max_attempts,
    )
}

fn route() -> Route {
    Route {
        stage: Stage::Extract,
        source: Some(Source::Jira),
    }
}

struct Harness {
    broker: InProcessBroker,
    events: Box<dyn DeliveryStream>,
    letters: Box<dyn DeliveryStream>,
    shutdown: CancellationToken,
    worker: tokio::task::JoinHandle<()>,
}

async fn start(handler: Arc<dyn StageHandler>) -> Harness {
    start_with_deadline(handler, Duration::from_secs(60)).await
}

async fn start_with_deadline(handler: Arc<dyn StageHandler>, deadline: Duration) -> Harness {
    let broker = InProcessBroker::new();
    let shared: Arc<dyn Broker> = Arc::new(broker.clone());
    let events = shared.consume_events().await.unwrap();
    let letters = shared.consume_dead_letters().await.unwrap();
    let worker = Worker::new(
        shared,
        Handlers::default().with(Stage::Extract, handler),
        WorkerOptions {
            name: "test-worker".into(),
            concurrency: 2,
            retry: RetryPolicy {
                base_ms: 20,
                factor: 2.0,
                cap_ms: 100,
                max_attempts: 3,
            },
            drain_timeout: Duration::from_secs(1),
        },
    )
    .with_task_deadline(deadline);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let worker = tokio::spawn(async move {
        worker.run(&[route()], token).await.unwrap();
    });
    Harness {
        broker,
        events,
        letters,
        shutdown,
        worker,
    }
}

async fn next_json<T: serde::de::DeserializeOwned>(stream: &mut Box<dyn DeliveryStream>) -> T {
    let delivery = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a message within 5 s")
        .expect("stream open");
    let value = serde_json::from_slice(&delivery.body).unwrap();
    delivery.ack().await.unwrap();
    value
}

impl Harness {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.worker)
            .await
            .expect("worker stops on shutdown")
            .unwrap();
    }
}

#[tokio::test]
async fn a_transient_failure_is_retried_until_it_succeeds() {
    let handler = Arc::new(Flaky {
        failures: 2,
        error: TaskError::transient("HTTP 503"),
        calls: AtomicU32::new(0),
    });
    let mut h = start(handler.clone()).await;
    let t = task(3);
    h.broker.publish(&t).await.unwrap();
    let kinds: Vec<TaskEvent> = vec![
        next_json(&mut h.events).await,
        next_json(&mut h.events).await,
        next_json(&mut h.events).await,
    ];
    assert!(matches!(
        kinds[0].kind,
        TaskEventKind::Retrying {
            next_attempt: 2,
            ..
        }
    ));
    assert!(matches!(
        kinds[1].kind,
        TaskEventKind::Retrying {
            next_attempt: 3,
            ..
        }
    ));
    assert_eq!(kinds[2].kind, TaskEventKind::Done);
    assert_eq!(kinds[2].attempt, 3);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    h.stop().await;
}

#[tokio::test]
async fn an_exhausted_task_is_dead_lettered_with_every_attempt() {
    let handler = Arc::new(Flaky {
        failures: u32::MAX,
        error: TaskError::transient("HTTP 502"),
        calls: AtomicU32::new(0),
    });
    let mut h = start(handler).await;
    let t = task(3);
    h.broker.publish(&t).await.unwrap();
    let letter: DeadLetter = next_json(&mut h.letters).await;
    assert_eq!(letter.envelope.as_ref().unwrap().task_id, t.task_id);
    assert_eq!(letter.attempts.len(), 3);
    assert!(letter.attempts.iter().all(|a| a.worker == "test-worker"));
    assert_eq!(letter.error_class, ErrorClass::Transient);
    assert!(
        letter
            .reason
            .contains("exhausted after 3 attempts without progress"),
        "{}",
        letter.reason
    );
    assert_eq!(
        letter.scope.as_ref().unwrap().target.as_deref(),
        Some("SRCH")
    );
    h.stop().await;
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_at_once() {
    let handler = Arc::new(Flaky {
        failures: u32::MAX,
        error: TaskError::permanent("HTTP 404 /rest/api/3/search/jql"),
        calls: AtomicU32::new(0),
    });
    let mut h = start(handler.clone()).await;
    h.broker.publish(&task(5)).await.unwrap();
    let letter: DeadLetter = next_json(&mut h.letters).await;
    assert_eq!(letter.attempts.len(), 1);
    assert_eq!(letter.error_class, ErrorClass::Permanent);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
    h.stop().await;
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_with_a_reason_and_the_worker_keeps_consuming() {
    let handler = Arc::new(Flaky {
        failures: 0,
        error: TaskError::transient("unused"),
        calls: AtomicU32::new(0),
    });
    let mut h = start(handler.clone()).await;
    let mut future_version: serde_json::Value = serde_json::from_slice(&task(3).encode()).unwrap();
    future_version["version"] = 2.into();
    h.broker
        .publish_raw(route(), b"{not json".to_vec())
        .unwrap();
    h.broker
        .publish_raw(route(), future_version.to_string().into_bytes())
        .unwrap();
    h.broker
        .publish_raw(route(), vec![b'x'; 2 * 1024 * 1024])
        .unwrap();
    let mut reasons = Vec::new();
    for _ in 0..3 {
        let letter: DeadLetter = next_json(&mut h.letters).await;
        assert!(letter.envelope.is_none() && letter.raw_body.is_some());
        reasons.push(letter.reason);
    }
    reasons.sort();
    assert!(reasons[0].contains("above the"), "{reasons:?}");
    assert!(reasons[1].contains("not a JSON object"), "{reasons:?}");
    assert!(
        reasons[2].contains("version 2 is not supported"),
        "{reasons:?}"
    );

    let good = task(3);
    h.broker.publish(&good).await.unwrap();
    let done: TaskEvent = next_json(&mut h.events).await;
    assert_eq!(
        (done.task_id, done.kind),
        (good.task_id, TaskEventKind::Done)
    );
    h.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_dead_letters_its_task_instead_of_crashing_the_worker() {
    let mut h = start(Arc::new(Panics)).await;
    h.broker.publish(&task(3)).await.unwrap();
    let letter: DeadLetter = next_json(&mut h.letters).await;
    assert!(letter.reason.contains("crashed"), "{}", letter.reason);
    h.stop().await;
}

/// Never finishes its first attempt (a crawl that never ends); succeeds on
/// the next. Counts the attempts whose work was dropped unfinished.
#[derive(Debug, Default)]
struct HangsOnce {
    calls: AtomicU32,
    abandoned: Arc<AtomicU32>,
}

struct CountsDrop(Arc<AtomicU32>);

impl Drop for CountsDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl StageHandler for HangsOnce {
    async fn handle(&self, _task: &TaskEnvelope) -> HandlerOutcome {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let _guard = CountsDrop(Arc::clone(&self.abandoned));
            std::future::pending::<()>().await;
        }
        HandlerOutcome::ok(TaskStats::default())
    }
}

#[tokio::test]
async fn an_attempt_past_the_task_deadline_is_stopped_and_retried_as_transient() {
    let handler = Arc::new(HangsOnce::default());
    let mut h = start_with_deadline(handler.clone(), Duration::from_millis(200)).await;
    h.broker.publish(&task(3)).await.unwrap();

    let first: TaskEvent = next_json(&mut h.events).await;
    match &first.kind {
        TaskEventKind::Retrying {
            next_attempt: 2,
            class: ErrorClass::Transient,
            message,
            ..
        } => assert!(
            message.contains("ran past the task deadline of 0.2s (worker.task_deadline_secs)")
                && message.contains("resumes from its last checkpoint"),
            "{message}"
        ),
        other => panic!("expected a transient retry, got {other:?}"),
    }
    let second: TaskEvent = next_json(&mut h.events).await;
    assert_eq!((second.attempt, second.kind), (2, TaskEventKind::Done));
    assert_eq!(
        handler.abandoned.load(Ordering::SeqCst),
        1,
        "the hung attempt was stopped, not left running"
    );
    h.stop().await;
}
