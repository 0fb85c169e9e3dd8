//! The contract every [`Broker`] implementation must pass.
//!
//! Each check is a plain async function taking a fresh broker (an empty,
//! private topology); the [`broker_contract_suite!`](crate::broker_contract_suite)
//! macro turns them into one `#[tokio::test]` each for a given implementation,
//! so the in-process broker and RabbitMQ are held to the same behaviour.
//! Waits are bounded polls (`next_within`), never sleeps to synchronise: a
//! check that expects *no* delivery waits [`QUIET`] for one that must not come.

use crate::{Broker, BrokerError, Delivery, DeliveryStream, Route};
use chrono::{Duration as Days, Utc};
use dorafleet_core::{
    DeadLetter, Scope, Source, Stage, TaskEnvelope, TaskEvent, TaskEventKind, TaskStats, Window,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Instantiate the contract suite for an implementation. `$make` is an
/// expression evaluating to a future of `Option<(Arc<dyn Broker>, Cleanup)>`;
/// `None` skips the test (after printing why). The cleanup runs after the
/// check, also when it fails.
#[macro_export]
macro_rules! broker_contract_suite {
    ($make:expr) => {
        $crate::broker_contract_suite!(@tests $make;
            a_published_task_is_delivered_once_and_not_again_after_ack,
            a_delivery_dropped_unacked_is_delivered_again_as_redelivered,
            a_requeued_delivery_comes_back,
            deliveries_of_a_dropped_stream_come_back,
            an_unacked_delivery_is_not_given_to_a_second_consumer,
            consumers_only_receive_their_routes,
            every_route_reaches_its_consumer,
            a_delayed_task_is_not_delivered_before_its_delay,
            dead_letters_round_trip_as_json,
            events_round_trip_as_json,
            closing_ends_streams_and_refuses_publishes,
            a_publishers_trace_context_reaches_the_consumer,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((broker, cleanup)) = $make.await else { return };
                let outcome = ::tokio::spawn($crate::contract::$name(broker)).await;
                cleanup.run().await;
                if let Err(e) = outcome {
                    if e.is_panic() {
                        ::std::panic::resume_unwind(e.into_panic());
                    }
                    panic!("contract check did not finish: {e}");
                }
            }
        )*
    };
}

/// What to do after a check (delete a test topology, close connections).
pub struct Cleanup(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Cleanup {
    /// Nothing to clean up.
    pub fn none() -> Self {
        Cleanup(None)
    }

    /// Run `work` after the check.
    pub fn new(work: impl Future<Output = ()> + Send + 'static) -> Self {
        Cleanup(Some(Box::pin(work)))
    }

    /// Do the cleanup work, if any.
    pub async fn run(self) {
        if let Some(work) = self.0 {
            work.await;
        }
    }
}

impl std::fmt::Debug for Cleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Cleanup").field(&self.0.is_some()).finish()
    }
}

/// How long a check waits for a delivery that must come.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long a check waits to be sure a delivery does not come.
pub const QUIET: Duration = Duration::from_millis(300);

/// A first-attempt task on a route.
pub fn task(stage: Stage, source: Option<Source>) -> TaskEnvelope {
    let now = Utc::now();
    TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        stage,
        source,
        Scope {
            team: "payments".into(),
            target: Some("acme/ledger".into()),
        },
        Window {
            from: now - Days::days(1),
            to: now,
        },
        3,
    )
}

/// A first-attempt extract task of `source`.
pub fn extract(source: Source) -> TaskEnvelope {
    task(Stage::Extract, Some(source))
}

/// The extract route of `source`.
pub fn route(source: Source) -> Route {
    Route {
        stage: Stage::Extract,
        source: Some(source),
    }
}

/// The next delivery, or `None` if none came within `limit`.
pub async fn next_within(
    stream: &mut Box<dyn DeliveryStream>,
    limit: Duration,
) -> Option<Delivery> {
    tokio::time::timeout(limit, stream.next())
        .await
        .ok()
        .flatten()
}

/// The next delivery, failing the check with `what` if none comes in [`PATIENCE`].
pub async fn expect_delivery(stream: &mut Box<dyn DeliveryStream>, what: &str) -> Delivery {
    match next_within(stream, PATIENCE).await {
        Some(d) => d,
        None => panic!("expected {what} within {PATIENCE:?}, got nothing"),
    }
}

/// Fail the check with `what` if a delivery comes within [`QUIET`].
pub async fn expect_quiet(stream: &mut Box<dyn DeliveryStream>, what: &str) {
    if let Some(d) = next_within(stream, QUIET).await {
        panic!(
            "expected no delivery ({what}), got {}",
            String::from_utf8_lossy(&d.body)
        );
    }
}

fn decode(d: &Delivery) -> TaskEnvelope {
    TaskEnvelope::decode(&d.body).expect("a task body")
}

/// A published task reaches its consumer unchanged, not marked redelivered,
/// and is not delivered again once acked.
pub async fn a_published_task_is_delivered_once_and_not_again_after_ack(broker: Arc<dyn Broker>) {
    let mut stream = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let t = extract(Source::Github);
    broker.publish(&t).await.unwrap();
    let d = expect_delivery(&mut stream, "the published task").await;
    assert_eq!(decode(&d), t);
    assert!(!d.redelivered, "a first delivery is not marked redelivered");
    d.ack().await.unwrap();
    expect_quiet(&mut stream, "an acked task is not delivered again").await;
}

/// A delivery dropped without an ack comes back, marked redelivered.
pub async fn a_delivery_dropped_unacked_is_delivered_again_as_redelivered(broker: Arc<dyn Broker>) {
    let t = extract(Source::Jira);
    broker.publish(&t).await.unwrap();
    let mut stream = broker.consume_tasks(&[route(Source::Jira)]).await.unwrap();
    let first = expect_delivery(&mut stream, "the task").await;
    assert!(!first.redelivered);
    drop(first);
    let again = expect_delivery(&mut stream, "the dropped task again").await;
    assert_eq!(decode(&again), t);
    assert!(
        again.redelivered,
        "a delivery returned unacked is marked redelivered"
    );
    again.ack().await.unwrap();
    expect_quiet(&mut stream, "nothing after the ack").await;
}

/// A requeued delivery is delivered again, marked redelivered.
pub async fn a_requeued_delivery_comes_back(broker: Arc<dyn Broker>) {
    let t = task(Stage::Normalize, Some(Source::Github));
    broker.publish(&t).await.unwrap();
    let normalize = Route {
        stage: Stage::Normalize,
        source: None,
    };
    let mut stream = broker.consume_tasks(&[normalize]).await.unwrap();
    let first = expect_delivery(&mut stream, "the task").await;
    first.requeue().await.unwrap();
    let again = expect_delivery(&mut stream, "the requeued task").await;
    assert_eq!(decode(&again), t);
    assert!(again.redelivered);
    again.ack().await.unwrap();
}

/// What a consumer held when its stream was dropped goes to the next consumer.
pub async fn deliveries_of_a_dropped_stream_come_back(broker: Arc<dyn Broker>) {
    let t = extract(Source::Jenkins);
    broker.publish(&t).await.unwrap();
    let mut stream = broker
        .consume_tasks(&[route(Source::Jenkins)])
        .await
        .unwrap();
    let held = expect_delivery(&mut stream, "the task").await;
    drop(stream);
    drop(held);
    let mut other = broker
        .consume_tasks(&[route(Source::Jenkins)])
        .await
        .unwrap();
    let again = expect_delivery(&mut other, "the task a dropped consumer held").await;
    assert_eq!(decode(&again), t);
    again.ack().await.unwrap();
}

/// Of two consumers of one route, only one gets a task while it is unacked.
pub async fn an_unacked_delivery_is_not_given_to_a_second_consumer(broker: Arc<dyn Broker>) {
    let mut first = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let mut second = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let t = extract(Source::Github);
    broker.publish(&t).await.unwrap();
    let d = tokio::select! {
        Some(d) = first.next() => d,
        Some(d) = second.next() => d,
        () = tokio::time::sleep(PATIENCE) => panic!("the task was not delivered"),
    };
    expect_quiet(&mut first, "the task is held by one consumer").await;
    expect_quiet(&mut second, "the task is held by one consumer").await;
    d.ack().await.unwrap();
}

/// A consumer gets the tasks of its routes and no others.
pub async fn consumers_only_receive_their_routes(broker: Arc<dyn Broker>) {
    let mut github = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let jenkins_task = extract(Source::Jenkins);
    let aggregate_task = task(Stage::Aggregate, None);
    broker.publish(&jenkins_task).await.unwrap();
    broker.publish(&aggregate_task).await.unwrap();
    expect_quiet(
        &mut github,
        "a github consumer sees no jenkins or aggregate task",
    )
    .await;
    let aggregate = Route {
        stage: Stage::Aggregate,
        source: None,
    };
    let mut both = broker
        .consume_tasks(&[route(Source::Jenkins), aggregate])
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let d = expect_delivery(&mut both, "the jenkins and the aggregate task").await;
        seen.push(decode(&d).task_id);
        d.ack().await.unwrap();
    }
    seen.sort();
    let mut expected = vec![jenkins_task.task_id, aggregate_task.task_id];
    expected.sort();
    assert_eq!(seen, expected);
    expect_quiet(&mut github, "still nothing for github").await;
}

/// One consumer of every route gets one task of each route, each once.
pub async fn every_route_reaches_its_consumer(broker: Arc<dyn Broker>) {
    let routes = Route::all(&Stage::ALL, &Source::ALL);
    let mut stream = broker.consume_tasks(&routes).await.unwrap();
    let mut published = Vec::new();
    for r in &routes {
        let source = r.source.or(if r.stage == Stage::Aggregate {
            None
        } else {
            Some(Source::Jira)
        });
        let t = task(r.stage, source);
        broker.publish(&t).await.unwrap();
        published.push(t.task_id);
    }
    let mut seen = Vec::new();
    for _ in &routes {
        let d = expect_delivery(&mut stream, "one task per route").await;
        seen.push(decode(&d).task_id);
        d.ack().await.unwrap();
    }
    seen.sort();
    published.sort();
    assert_eq!(seen, published);
    expect_quiet(&mut stream, "each task once").await;
}

/// A delayed publish is delivered, unchanged, no sooner than its delay.
pub async fn a_delayed_task_is_not_delivered_before_its_delay(broker: Arc<dyn Broker>) {
    let delay = Duration::from_millis(400);
    let mut stream = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let t = extract(Source::Github);
    let start = Instant::now();
    broker.publish_delayed(&t, delay).await.unwrap();
    let d = expect_delivery(&mut stream, "the delayed task").await;
    let waited = start.elapsed();
    assert!(
        waited >= delay,
        "delivered after {waited:?}, before the {delay:?} delay"
    );
    assert_eq!(decode(&d), t);
    d.ack().await.unwrap();
}

/// Dead letters of a task and of a poison message arrive as equal JSON, each once.
pub async fn dead_letters_round_trip_as_json(broker: Arc<dyn Broker>) {
    let t = extract(Source::Jira);
    let letter = DeadLetter::for_task(
        &t,
        dorafleet_core::AttemptRecord {
            attempt: 1,
            at: Utc::now(),
            worker: "contract".into(),
            class: dorafleet_core::ErrorClass::Permanent,
            message: "HTTP 404".into(),
            progressed: false,
        },
        "HTTP 404: no such repository".into(),
    );
    let poison = DeadLetter::for_poison(b"{not json", "not JSON".into(), "contract");
    broker.publish_dead_letter(&letter).await.unwrap();
    broker.publish_dead_letter(&poison).await.unwrap();
    let mut stream = broker.consume_dead_letters().await.unwrap();
    for expected in [&letter, &poison] {
        let d = expect_delivery(&mut stream, "the dead letter").await;
        let got: DeadLetter = serde_json::from_slice(&d.body).expect("a JSON dead letter");
        assert_eq!(&got, expected);
        d.ack().await.unwrap();
    }
    expect_quiet(&mut stream, "each dead letter once").await;
}

/// Task events (retrying, done) arrive as equal JSON, in order.
pub async fn events_round_trip_as_json(broker: Arc<dyn Broker>) {
    let t = extract(Source::Github);
    let stats = TaskStats {
        api_calls: 3,
        rate_limit_wait_ms: 40,
        pages: 2,
        records: 17,
    };
    let retrying = TaskEventKind::Retrying {
        next_attempt: 3,
        delay: Duration::from_millis(1500),
        class: dorafleet_core::ErrorClass::Transient,
        message: "HTTP 503".into(),
    };
    let event = TaskEvent {
        attempt: 2,
        ..TaskEvent::of(&t, "contract", stats, retrying)
    };
    let done = TaskEvent {
        kind: TaskEventKind::Done,
        ..event.clone()
    };
    let mut stream = broker.consume_events().await.unwrap();
    broker.publish_event(&event).await.unwrap();
    broker.publish_event(&done).await.unwrap();
    for expected in [&event, &done] {
        let d = expect_delivery(&mut stream, "the event").await;
        let got: TaskEvent = serde_json::from_slice(&d.body).expect("a JSON event");
        assert_eq!(&got, expected);
        d.ack().await.unwrap();
    }
}

/// The W3C context of the publishing span travels with the message, also
/// through a delay, so the consumer's work continues the publisher's trace.
pub async fn a_publishers_trace_context_reaches_the_consumer(broker: Arc<dyn Broker>) {
    use dorafleet_telemetry::trace_context::{self, TRACEPARENT};
    use tracing::Instrument;
    // The check runs on one thread (a current-thread test runtime).
    let _subscriber = tracing::subscriber::set_default(trace_context::local_subscriber());
    let mut stream = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    for delayed in [false, true] {
        let span = tracing::info_span!("publish");
        let expected = trace_context::traceparent(&span).expect("spans have a context");
        let task = extract(Source::Github);
        let published = if delayed {
            broker.publish_delayed(&task, Duration::from_millis(50))
        } else {
            broker.publish(&task)
        };
        published.instrument(span).await.unwrap();
        let delivery = expect_delivery(&mut stream, "the traced task").await;
        assert_eq!(
            delivery.headers.get(TRACEPARENT),
            Some(&expected),
            "delayed: {delayed}"
        );
        delivery.ack().await.unwrap();
    }
}

/// Closing ends waiting and later-polled streams with `None`, and publishes
/// (plain and delayed) then fail with [`BrokerError::Closed`].
pub async fn closing_ends_streams_and_refuses_publishes(broker: Arc<dyn Broker>) {
    let mut events = broker.consume_events().await.unwrap();
    let mut tasks = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let waiter = tokio::spawn(async move { events.next().await.is_none() });
    broker.close().await.unwrap();
    let ended = tokio::time::timeout(PATIENCE, waiter)
        .await
        .expect("a waiting stream ends when the broker closes")
        .expect("the waiting task");
    assert!(ended, "a stream waiting at close ends with None");
    let after = tokio::time::timeout(PATIENCE, tasks.next())
        .await
        .expect("a stream polled after close returns at once");
    assert!(
        after.is_none(),
        "a stream polled after close ends with None"
    );
    assert_eq!(
        broker.publish(&extract(Source::Github)).await,
        Err(BrokerError::Closed)
    );
    assert_eq!(
        broker
            .publish_delayed(&extract(Source::Github), Duration::from_secs(1))
            .await,
        Err(BrokerError::Closed)
    );
}
