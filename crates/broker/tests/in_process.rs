//! The in-process broker keeps the fleet's delivery semantics.

use chrono::{Duration as Days, Utc};
use dorafleet_broker::{Broker, InProcessBroker, Route};
use dorafleet_core::{Scope, Source, Stage, TaskEnvelope, Window};
use std::time::{Duration, Instant};

fn task(source: Source) -> TaskEnvelope {
    let now = Utc::now();
    TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        Stage::Extract,
        Some(source),
        Scope {
            team: "payments".into(),
            target: Some("x".into()),
        },
        Window {
            from: now - Days::days(1),
            to: now,
        },
        3,
    )
}

fn route(source: Source) -> Route {
    Route {
        stage: Stage::Extract,
        source: Some(source),
    }
}

async fn next_within(
    stream: &mut Box<dyn dorafleet_broker::DeliveryStream>,
    limit: Duration,
) -> Option<dorafleet_broker::Delivery> {
    tokio::time::timeout(limit, stream.next())
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn a_published_task_is_delivered_once_acked() {
    let broker = InProcessBroker::new();
    let t = task(Source::Github);
    broker.publish(&t).await.unwrap();
    let mut stream = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let d = next_within(&mut stream, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(TaskEnvelope::decode(&d.body).unwrap(), t);
    assert!(!d.redelivered);
    d.ack().await.unwrap();
    assert!(
        next_within(&mut stream, Duration::from_millis(50))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_delivery_dropped_without_ack_is_delivered_again() {
    let broker = InProcessBroker::new();
    broker.publish(&task(Source::Jira)).await.unwrap();
    let mut stream = broker.consume_tasks(&[route(Source::Jira)]).await.unwrap();
    drop(
        next_within(&mut stream, Duration::from_secs(1))
            .await
            .unwrap(),
    );
    let again = next_within(&mut stream, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(again.redelivered);
}

#[tokio::test]
async fn consumers_only_see_their_routes() {
    let broker = InProcessBroker::new();
    broker.publish(&task(Source::Jenkins)).await.unwrap();
    let mut github = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    assert!(
        next_within(&mut github, Duration::from_millis(50))
            .await
            .is_none()
    );
    assert_eq!(broker.depth("tasks.extract.jenkins"), 1);
}

#[tokio::test]
async fn a_delayed_task_is_not_delivered_before_its_delay() {
    let broker = InProcessBroker::new();
    let mut stream = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let start = Instant::now();
    broker
        .publish_delayed(&task(Source::Github), Duration::from_millis(200))
        .await
        .unwrap();
    let d = next_within(&mut stream, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(200));
    d.ack().await.unwrap();
}

#[tokio::test]
async fn closing_the_broker_ends_every_stream_and_refuses_publishes() {
    let broker = InProcessBroker::new();
    let mut stream = broker.consume_events().await.unwrap();
    let waiter = tokio::spawn(async move { stream.next().await.is_none() });
    broker.close();
    assert!(waiter.await.unwrap());
    assert!(broker.publish(&task(Source::Github)).await.is_err());
}
