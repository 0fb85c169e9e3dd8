//! An attempt's outcome is published only while its delivery is held: a
//! worker whose connection drops while it publishes a retry gives the
//! retry up, because the broker hands the task to another consumer, and a
//! retry published after reconnecting would run the task twice.

use async_trait::async_trait;
use chrono::Utc;
use dorafleet_broker::{
    Acker, Broker, BrokerError, Delivery, DeliveryStream, InProcessBroker, Route,
};
use dorafleet_core::{
    DeadLetter, RetryPolicy, Scope, Source, Stage, TaskEnvelope, TaskError, TaskEvent, TaskStats,
    Window,
};
use dorafleet_worker::{HandlerOutcome, Handlers, StageHandler, Worker, WorkerOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The in-process broker, except that a retry's publish waits for a gate
/// (as one to an unreachable RabbitMQ waits for the reconnect), and every
/// delivery is held only until the test says the connection dropped.
#[derive(Debug)]
struct DroppingConnection {
    inner: InProcessBroker,
    gate: Semaphore,
    /// Retry publishes waiting at the gate now.
    waiting: AtomicUsize,
    held: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
}

/// Counts a retry publish waiting at the gate while it exists.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Broker for DroppingConnection {
    async fn publish(&self, task: &TaskEnvelope) -> Result<(), BrokerError> {
        self.inner.publish(task).await
    }
    async fn publish_delayed(
        &self,
        task: &TaskEnvelope,
        delay: Duration,
    ) -> Result<(), BrokerError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        self.gate
            .acquire()
            .await
            .map_err(|_| BrokerError::Closed)?
            .forget();
        self.inner.publish_delayed(task, delay).await
    }
    async fn publish_dead_letter(&self, letter: &DeadLetter) -> Result<(), BrokerError> {
        self.inner.publish_dead_letter(letter).await
    }
    async fn publish_event(&self, event: &TaskEvent) -> Result<(), BrokerError> {
        self.inner.publish_event(event).await
    }
    async fn consume_tasks(
        &self,
        routes: &[Route],
    ) -> Result<Box<dyn DeliveryStream>, BrokerError> {
        Ok(Box::new(HeldWhile {
            inner: self.inner.consume_tasks(routes).await?,
            held: Arc::clone(&self.held),
            acks: Arc::clone(&self.acks),
        }))
    }
    async fn consume_dead_letters(&self) -> Result<Box<dyn DeliveryStream>, BrokerError> {
        self.inner.consume_dead_letters().await
    }
    async fn consume_events(&self) -> Result<Box<dyn DeliveryStream>, BrokerError> {
        self.inner.consume_events().await
    }
    async fn close(&self) -> Result<(), BrokerError> {
        Broker::close(&self.inner).await
    }
}

/// Deliveries that count as held while `held` is true, and count acks.
#[derive(Debug)]
struct HeldWhile {
    inner: Box<dyn DeliveryStream>,
    held: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
}

#[async_trait]
impl DeliveryStream for HeldWhile {
    async fn next(&mut self) -> Option<Delivery> {
        let delivery = self.inner.next().await?;
        let (body, redelivered) = (delivery.body.clone(), delivery.redelivered);
        let acker = Settles {
            // Kept unacked in the in-process broker, as the lost one is.
            _delivery: delivery,
            held: Arc::clone(&self.held),
            acks: Arc::clone(&self.acks),
        };
        Some(Delivery::new(body, redelivered, Box::new(acker)))
    }
}

#[derive(Debug)]
struct Settles {
    _delivery: Delivery,
    held: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
}

#[async_trait]
impl Acker for Settles {
    async fn ack(&self) -> Result<(), BrokerError> {
        self.acks.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn requeue(&self) -> Result<(), BrokerError> {
        Ok(())
    }
    fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }
}

/// Fails every attempt as transient: the worker publishes a retry.
#[derive(Debug)]
struct FailsTransiently;

#[async_trait]
impl StageHandler for FailsTransiently {
    async fn handle(&self, _task: &TaskEnvelope) -> HandlerOutcome {
        HandlerOutcome::failed(
            TaskStats::default(),
            TaskError::transient("the source could not be reached"),
        )
    }
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_retry_still_being_published_when_the_delivery_is_lost_is_given_up_and_not_acked() {
    let broker = Arc::new(DroppingConnection {
        inner: InProcessBroker::new(),
        gate: Semaphore::new(0),
        waiting: AtomicUsize::new(0),
        held: Arc::new(AtomicBool::new(true)),
        acks: Arc::new(AtomicUsize::new(0)),
    });
    let route = Route {
        stage: Stage::Extract,
        source: Some(Source::Github),
    };
    let now = Utc::now();
    let task = TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        Stage::Extract,
        Some(Source::Github),
        Scope {
            team: "payments".into(),
            target: Some("acme/payments-api".into()),
        },
        Window {
            from: now - chrono::Duration::days(1),
            to: now,
        },
        3,
    );
    broker.inner.publish(&task).await.unwrap();
    let worker = Worker::new(
        Arc::clone(&broker) as Arc<dyn Broker>,
        Handlers::default().with(Stage::Extract, Arc::new(FailsTransiently)),
        WorkerOptions {
            name: "w1".into(),
            concurrency: 1,
            retry: RetryPolicy::default(),
            drain_timeout: Duration::from_secs(1),
        },
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { worker.run(&[route], shutdown).await }
    });

    until("the retry waits to be published", || {
        broker.waiting.load(Ordering::SeqCst) == 1
    })
    .await;
    broker.held.store(false, Ordering::SeqCst);
    until("the retry's publish is given up", || {
        broker.waiting.load(Ordering::SeqCst) == 0
    })
    .await;
    // The way is open again, as after a reconnect: nothing is left to use it.
    broker.gate.add_permits(1);
    assert_eq!(broker.gate.available_permits(), 1, "no retry was published");
    assert_eq!(
        broker.acks.load(Ordering::SeqCst),
        0,
        "the lost delivery is not acked"
    );
    let metrics = dorafleet_telemetry::metrics::render();
    assert!(
        !metrics.contains("outcome=\"retrying\""),
        "an abandoned outcome is not counted as a finished task:\n{metrics}"
    );

    shutdown.cancel();
    running.await.unwrap().unwrap();
}
