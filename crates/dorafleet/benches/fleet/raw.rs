//! The broker's real ceiling for the fleet's messages, with plain lapin.
//!
//! A fleet task moves two messages (the task, published by the coordinator,
//! and its completion event, published by a worker), each persistent on a
//! quorum queue and confirmed before its delivery is acked. The ceiling is
//! what RabbitMQ does with those messages when nothing else runs: one
//! publisher keeping up to [`WINDOW`] confirms in flight, one consumer on
//! another connection with a deep prefetch acking in batches (`multiple`),
//! publish and consume at the same time. Half of its messages per second is
//! the most tasks per second any fleet could reach on this broker.

use anyhow::{Context, bail, ensure};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Publishes in flight (unconfirmed) at most.
pub const WINDOW: usize = 1024;
/// The consumer's prefetch.
pub const PREFETCH: u16 = 512;
/// The consumer acks every this many deliveries at once (and the last).
pub const ACK_EVERY: usize = 64;

pub struct Raw {
    pub messages: usize,
    /// First publish -> last confirm.
    pub published: Duration,
    /// First publish -> last ack.
    pub total: Duration,
}

impl Raw {
    pub fn msgs_per_sec(&self) -> f64 {
        self.messages as f64 / self.total.as_secs_f64()
    }

    /// The ceiling in fleet tasks: two messages each.
    pub fn tasks_per_sec(&self) -> f64 {
        self.msgs_per_sec() / 2.0
    }

    pub fn print(&self) {
        println!(
            "  {} messages, all confirmed after {:.2} s, all acked after {:.2} s -> {:.0} msgs/s = {:.0} tasks/s at 2 messages per task",
            self.messages,
            self.published.as_secs_f64(),
            self.total.as_secs_f64(),
            self.msgs_per_sec(),
            self.tasks_per_sec()
        );
    }
}

/// Publish `n` persistent, mandatory `body`s with pipelined confirms to a
/// fresh durable quorum queue while a consumer on another connection acks
/// them in batches; time the first publish to the last ack.
pub async fn ceiling(url: &str, n: usize, body: &[u8]) -> anyhow::Result<Raw> {
    ensure!(n > 0, "no messages to publish");
    let properties =
        || ConnectionProperties::default().with_connection_name("dorafleet bench".into());
    let publisher = Connection::connect(url, properties())
        .await
        .with_context(|| format!("connecting to RabbitMQ at {}", super::redact(url)))?;
    let consumer = Connection::connect(url, properties()).await?;
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
        let mut received = 0;
        while let Some(delivery) = deliveries.next().await {
            let delivery = delivery?;
            received += 1;
            if received % ACK_EVERY == 0 || received == n {
                delivery
                    .acker
                    .ack(BasicAckOptions { multiple: true })
                    .await?;
            }
            if received == n {
                return Ok::<_, anyhow::Error>(Instant::now());
            }
        }
        bail!("the consumer ended after {received} of {n} messages")
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
    let mut in_flight = VecDeque::with_capacity(WINDOW);
    for _ in 0..n {
        if in_flight.len() == WINDOW
            && let Some(confirm) = in_flight.pop_front()
        {
            check(confirm.await?)?;
        }
        in_flight.push_back(
            pub_channel
                .basic_publish("".into(), queue.as_str().into(), options, body, props())
                .await?,
        );
    }
    for confirm in in_flight {
        check(confirm.await?)?;
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
        published,
        total,
    })
}
