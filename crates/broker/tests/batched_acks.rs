//! Batched acks on RabbitMQ: settling many deliveries with `multiple` acks
//! never settles one that was not handled, and closing the broker sends
//! every ack registered before it.

mod common;

use dorafleet_broker::contract::{PATIENCE, expect_delivery, expect_quiet, extract, route};
use dorafleet_broker::{Broker, Delivery, DeliveryStream, RabbitBroker};
use dorafleet_core::{Source, TaskEnvelope};
use std::time::Instant;
use uuid::Uuid;

fn id(d: &Delivery) -> Uuid {
    TaskEnvelope::decode(&d.body).expect("a task").task_id
}

async fn take(stream: &mut Box<dyn DeliveryStream>, n: usize) -> Vec<Delivery> {
    let mut taken = Vec::with_capacity(n);
    for _ in 0..n {
        taken.push(expect_delivery(stream, "a published task").await);
    }
    taken
}

/// Ready messages in the GitHub extract queue reach `expected` within PATIENCE.
async fn depth_reaches(broker: &RabbitBroker, expected: u32) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let depth = broker.queue_depth("tasks.extract.github").await.unwrap();
        if depth == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the queue holds {depth} ready messages, not {expected}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn deliveries_acked_out_of_order_around_a_held_one_are_settled_and_only_the_held_one_returns()
{
    let Some(broker) = common::connect_with(common::config()).await else {
        return;
    };
    let cleanup = common::cleanup(broker.clone());
    let mut stream = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let tasks: Vec<TaskEnvelope> = (0..8).map(|_| extract(Source::Github)).collect();
    for outcome in broker.publish_all(&tasks).await {
        outcome.unwrap();
    }
    let mut delivered = take(&mut stream, 8).await;
    // The third is still "running" while the others finish, last first.
    let held = delivered.remove(2);
    while let Some(d) = delivered.pop() {
        d.ack().await.unwrap();
    }
    expect_quiet(&mut stream, "acked deliveries are not delivered again").await;
    let held_id = id(&held);
    held.requeue().await.unwrap();
    let again = expect_delivery(&mut stream, "the requeued delivery").await;
    assert_eq!(id(&again), held_id);
    assert!(again.redelivered);
    again.ack().await.unwrap();
    expect_quiet(&mut stream, "nothing else comes back").await;
    drop(stream);
    broker.close().await.unwrap();
    let janitor = RabbitBroker::connect(broker.config().clone())
        .await
        .unwrap();
    depth_reaches(&janitor, 0).await;
    janitor.close().await.unwrap();
    cleanup.run().await;
}

#[tokio::test]
async fn acks_registered_just_before_the_broker_closes_are_sent_and_a_dropped_delivery_is_requeued()
{
    let config = common::config();
    let Some(broker) = common::connect_with(config.clone()).await else {
        return;
    };
    let cleanup = common::cleanup(broker.clone());
    let mut stream = broker
        .consume_tasks(&[route(Source::Github)])
        .await
        .unwrap();
    let tasks: Vec<TaskEnvelope> = (0..6).map(|_| extract(Source::Github)).collect();
    for outcome in broker.publish_all(&tasks).await {
        outcome.unwrap();
    }
    let mut delivered = take(&mut stream, 6).await;
    let dropped = delivered.pop().unwrap();
    let dropped_id = id(&dropped);
    for d in delivered {
        d.ack().await.unwrap();
    }
    drop(dropped);
    // The way a drained worker exits: its stream dropped, the broker closed.
    drop(stream);
    broker.close().await.unwrap();

    let again = RabbitBroker::connect(config).await.unwrap();
    depth_reaches(&again, 1).await;
    let mut stream = again.consume_tasks(&[route(Source::Github)]).await.unwrap();
    let back = expect_delivery(&mut stream, "the dropped delivery").await;
    assert_eq!(
        id(&back),
        dropped_id,
        "only the unacked delivery comes back"
    );
    back.ack().await.unwrap();
    expect_quiet(&mut stream, "every acked delivery stays settled").await;
    drop(stream);
    again.close().await.unwrap();
    cleanup.run().await;
}
