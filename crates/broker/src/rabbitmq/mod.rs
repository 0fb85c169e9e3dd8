//! The fleet's broker: RabbitMQ through lapin.
//!
//! Topology (all names under [`RabbitConfig::prefix`], declared idempotently
//! by every role on every connection):
//!
//! - `{p}.tasks`, a durable direct exchange, and one durable **quorum** queue
//!   per route (`{p}.tasks.extract.github`, …, `{p}.tasks.normalize`,
//!   `{p}.tasks.aggregate`) bound by its route name. Each has
//!   `x-delivery-limit` and dead-letters into `{p}.dead`, so a message that
//!   keeps crashing workers ends up in the dead-letter queue.
//! - Per wait tier, a durable fanout exchange and a durable classic queue
//!   `{p}.wait.{ms}` with `x-message-ttl` = the tier, dead-lettering into
//!   `{p}.tasks` under the message's original routing key. A delayed publish
//!   goes to the smallest tier covering the delay with a per-message
//!   `expiration` of the delay itself: jitter is kept, and as classic queues
//!   expire messages at their head, a message waits at most the tier.
//! - `{p}.dead` (fanout) → `{p}.dead_letters` (quorum), `{p}.events` (fanout)
//!   → `{p}.task_events` (quorum).
//!
//! Every publish is persistent, mandatory and confirmed; concurrent
//! publishes share one confirm-mode channel, so their confirms are awaited
//! together rather than one after another. Acks go out in batches
//! (`acks.rs`). See `connector.rs` and `stream.rs` for how connection loss is
//! survived.

mod acks;
mod config;
mod connector;
mod dead_letters;
mod names;
mod publish;
mod stream;
mod topology;

pub use config::{RabbitConfig, default_wait_tiers};
pub use connector::{CONNECT_TIMEOUT, RECONNECT_WINDOW};

use crate::topology::{Route, task_queue};
use crate::{Broker, BrokerError, DeliveryStream, Result};
use async_trait::async_trait;
use connector::{Connector, unavailable};
use dorafleet_core::{DeadLetter, TaskEnvelope, TaskEvent};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use publish::Outgoing;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use stream::{Kind, RabbitStream};

/// A RabbitMQ-backed [`Broker`]. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct RabbitBroker {
    connector: Arc<Connector>,
}

impl fmt::Debug for RabbitBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitBroker")
            .field("config", &self.connector.config)
            .field("closed", &self.connector.closed.is_cancelled())
            .finish()
    }
}

impl RabbitBroker {
    /// Connect (one attempt) and declare the topology.
    pub async fn connect(config: RabbitConfig) -> Result<RabbitBroker> {
        let connector = Connector::open(config).await?;
        Ok(RabbitBroker {
            connector: Arc::new(connector),
        })
    }

    /// The settings this broker was connected with.
    pub fn config(&self) -> &RabbitConfig {
        &self.connector.config
    }

    /// The full RabbitMQ name of a logical queue (`tasks.normalize` →
    /// `{prefix}.tasks.normalize`).
    pub fn queue_name(&self, queue: &str) -> String {
        self.connector.names.queue(queue)
    }

    /// Messages ready in a queue, by its logical name (`tasks.extract.github`,
    /// [`DEAD_LETTER_QUEUE`](crate::DEAD_LETTER_QUEUE), …, without the
    /// prefix), as [`InProcessBroker::depth`](crate::InProcessBroker::depth)
    /// takes it. Unacked and still-waiting delayed messages are not counted.
    pub async fn queue_depth(&self, queue: &str) -> Result<u32> {
        let name = self.queue_name(queue);
        let connection = self.connector.connection().await?;
        // A passive declare of a missing queue closes its channel: use a throwaway one.
        let channel = connection.create_channel().await.map_err(|e| {
            unavailable(
                format!("cannot open a channel to read the depth of {name}"),
                e,
            )
        })?;
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declare = channel.queue_declare(name.as_str().into(), options, FieldTable::default());
        let Ok(declared) = tokio::time::timeout(CONNECT_TIMEOUT, declare).await else {
            return Err(BrokerError::Unavailable(format!(
                "reading the depth of {name} took longer than {CONNECT_TIMEOUT:?} (is RabbitMQ overloaded?)"
            )));
        };
        let _ = channel.close(200, "depth read".into()).await;
        match declared {
            Ok(q) => Ok(q.message_count()),
            Err(e) if is_not_found(&e) => Err(BrokerError::Unroutable(format!(
                "queue {name} does not exist (check the prefix; any dorafleet process declares the topology on start)"
            ))),
            Err(e) => Err(unavailable(format!("cannot read the depth of {name}"), e)),
        }
    }

    /// Delete every exchange and queue under the prefix, messages included
    /// (tests clean up with it). Safe to repeat.
    pub async fn delete_topology(&self) -> Result<()> {
        let connection = self.connector.connection().await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| unavailable("cannot open a channel to delete the topology", e))?;
        let deleted = topology::delete(&channel, &self.connector.names).await;
        let _ = channel.close(200, "topology deleted".into()).await;
        deleted.map_err(|e| {
            unavailable(
                format!(
                    "deleting the topology under prefix {:?} failed",
                    self.connector.config.prefix
                ),
                e,
            )
        })
    }

    /// Publish raw bytes to a task queue: how tests and tools put poison
    /// messages (undecodable, unknown version, oversized) in front of a worker.
    pub async fn publish_raw(&self, route: Route, body: Vec<u8>) -> Result<()> {
        self.connector
            .publish(self.outgoing(
                "message",
                self.connector.names.tasks_exchange(),
                route.queue(),
                &body,
            ))
            .await
    }

    fn outgoing<'a>(
        &self,
        what: &'static str,
        exchange: String,
        routing_key: String,
        body: &'a [u8],
    ) -> Outgoing<'a> {
        Outgoing {
            what,
            exchange,
            routing_key,
            body,
            expiration_ms: None,
            // The publishing span's W3C context: the consumer continues its trace.
            headers: dorafleet_telemetry::trace_context::inject_current(),
        }
    }

    async fn stream(&self, kind: Kind, queues: Vec<String>) -> Result<Box<dyn DeliveryStream>> {
        if self.connector.closed.is_cancelled() {
            return Err(BrokerError::Closed);
        }
        let stream = RabbitStream::open(Arc::clone(&self.connector), kind, queues).await?;
        Ok(Box::new(stream))
    }
}

fn is_not_found(e: &lapin::Error) -> bool {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => matches!(
            amqp.kind(),
            lapin::protocol::AMQPErrorKind::Soft(lapin::protocol::AMQPSoftError::NOTFOUND)
        ),
        _ => false,
    }
}

#[async_trait]
impl Broker for RabbitBroker {
    async fn publish(&self, task: &TaskEnvelope) -> Result<()> {
        let body = task.encode();
        let names = &self.connector.names;
        self.connector
            .publish(self.outgoing("task", names.tasks_exchange(), task_queue(task), &body))
            .await
    }

    async fn publish_all(&self, tasks: &[TaskEnvelope]) -> Vec<Result<()>> {
        // One confirm-mode channel carries them all: every confirm is in
        // flight at once.
        futures::future::join_all(tasks.iter().map(|task| self.publish(task))).await
    }

    async fn publish_delayed(&self, task: &TaskEnvelope, delay: Duration) -> Result<()> {
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        if delay_ms == 0 {
            return self.publish(task).await;
        }
        let names = &self.connector.names;
        let tier = names.tier_for(delay_ms);
        let body = task.encode();
        let mut out = self.outgoing("delayed task", names.wait(tier), task_queue(task), &body);
        // Beyond the largest tier the queue TTL caps the wait anyway.
        out.expiration_ms = Some(delay_ms.min(u64::from(tier)));
        self.connector.publish(out).await
    }

    async fn publish_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        let body = serde_json::to_vec(letter)
            .map_err(|e| BrokerError::Unroutable(format!("dead letter does not encode: {e}")))?;
        let names = &self.connector.names;
        self.connector
            .publish(self.outgoing("dead letter", names.dead_exchange(), String::new(), &body))
            .await
    }

    async fn publish_event(&self, event: &TaskEvent) -> Result<()> {
        let body = serde_json::to_vec(event)
            .map_err(|e| BrokerError::Unroutable(format!("event does not encode: {e}")))?;
        let names = &self.connector.names;
        self.connector
            .publish(self.outgoing("task event", names.events_exchange(), String::new(), &body))
            .await
    }

    async fn consume_tasks(&self, routes: &[Route]) -> Result<Box<dyn DeliveryStream>> {
        if routes.is_empty() {
            return Err(BrokerError::Unroutable("no routes to consume".into()));
        }
        let mut queues: Vec<String> = Vec::new();
        for route in routes {
            let queue = self.queue_name(&route.queue());
            if !queues.contains(&queue) {
                queues.push(queue);
            }
        }
        self.stream(Kind::Tasks, queues).await
    }

    async fn consume_dead_letters(&self) -> Result<Box<dyn DeliveryStream>> {
        self.stream(Kind::DeadLetters, vec![self.connector.names.dead_queue()])
            .await
    }

    async fn consume_events(&self) -> Result<Box<dyn DeliveryStream>> {
        self.stream(Kind::Events, vec![self.connector.names.events_queue()])
            .await
    }

    async fn close(&self) -> Result<()> {
        self.connector.close().await;
        Ok(())
    }
}
