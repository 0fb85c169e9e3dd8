//! The message broker behind one small, object-safe trait.
//!
//! Workers and the coordinator only see [`Broker`]: publish a task (confirmed),
//! publish it again after a delay, dead-letter it, report an event, and
//! consume deliveries that must be acknowledged. The in-process implementation
//! gives the standalone mode and the tests the same semantics the RabbitMQ one
//! has in a fleet: a delivery dropped without an ack is delivered again, a
//! delayed task is not held by anyone while it waits, and dead letters land in
//! their own queue until the archiver moves them into the warehouse.
//! [`RabbitBroker`] is the fleet's implementation; both pass the suite in
//! [`contract`].

#![warn(missing_docs, unreachable_pub)]

pub mod contract;
mod error;
pub mod in_process;
pub mod rabbitmq;
mod topology;

pub use error::BrokerError;
pub use in_process::InProcessBroker;
pub use rabbitmq::{RabbitBroker, RabbitConfig};
pub use topology::{DEAD_LETTER_QUEUE, EVENTS_QUEUE, Route, task_queue};

use async_trait::async_trait;
use dorafleet_core::{DeadLetter, TaskEnvelope, TaskEvent};
use std::time::Duration;

/// The result of a broker operation.
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

/// A message broker as workers and the coordinator use it: confirmed
/// publishes of tasks, dead letters and events, and consumers whose
/// deliveries must be acked. Implemented by [`InProcessBroker`] and
/// [`RabbitBroker`].
#[async_trait]
pub trait Broker: Send + Sync + std::fmt::Debug {
    /// Publish a task to its stage queue; returns once the broker holds it.
    async fn publish(&self, task: &TaskEnvelope) -> Result<()>;

    /// Publish several tasks; the outcome of each, in order. The RabbitMQ
    /// broker has them all in flight at once, so their confirms are awaited
    /// together rather than one after another; by default they are
    /// published one by one.
    async fn publish_all(&self, tasks: &[TaskEnvelope]) -> Vec<Result<()>> {
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(self.publish(task).await);
        }
        outcomes
    }

    /// Publish a task that becomes deliverable after `delay` (a retry's backoff).
    async fn publish_delayed(&self, task: &TaskEnvelope, delay: Duration) -> Result<()>;

    /// Publish a dead letter to the dead-letter queue.
    async fn publish_dead_letter(&self, letter: &DeadLetter) -> Result<()>;

    /// Report what became of a task to the coordinator.
    async fn publish_event(&self, event: &TaskEvent) -> Result<()>;

    /// Deliveries of tasks on the given routes.
    async fn consume_tasks(&self, routes: &[Route]) -> Result<Box<dyn DeliveryStream>>;

    /// Deliveries from the dead-letter queue (bodies are JSON [`DeadLetter`]s).
    async fn consume_dead_letters(&self) -> Result<Box<dyn DeliveryStream>>;

    /// Deliveries of task events (bodies are JSON [`TaskEvent`]s).
    async fn consume_events(&self) -> Result<Box<dyn DeliveryStream>>;

    /// Stop: open streams end (`next()` returns `None`), unacked deliveries
    /// go back to their queues, later publishes fail with [`BrokerError::Closed`].
    async fn close(&self) -> Result<()>;
}

/// A consumer's stream of deliveries from one or more queues.
#[async_trait]
pub trait DeliveryStream: Send + std::fmt::Debug {
    /// The next delivery; `None` once the broker is closed.
    async fn next(&mut self) -> Option<Delivery>;
}

/// Settles a delivery with the broker it came from.
#[async_trait]
pub trait Acker: Send + Sync + std::fmt::Debug {
    /// Settle the message as handled: the broker forgets it.
    async fn ack(&self) -> Result<()>;
    /// Hand the message back for another consumer (used on shutdown).
    async fn requeue(&self) -> Result<()>;
    /// Whether this consumer still holds the message. False once the channel
    /// it came on is gone (a lost connection, a broker restart): the broker
    /// has put it back for another consumer, so whatever the holder would
    /// still do with it is stale.
    fn is_held(&self) -> bool {
        true
    }
}

/// How often [`Delivery::lost`] looks whether its channel is still there.
const HELD_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A message received from the broker. Unless it is acked, the broker
/// delivers it again (to this or another consumer).
#[derive(Debug)]
pub struct Delivery {
    /// The body as published (normally JSON: a task envelope, dead letter or event).
    pub body: Vec<u8>,
    /// True when the broker has delivered this message before.
    pub redelivered: bool,
    /// String-valued message headers (e.g. a W3C `traceparent`).
    pub headers: std::collections::BTreeMap<String, String>,
    acker: Box<dyn Acker>,
}

impl Delivery {
    /// A delivery settled through `acker`, without headers.
    pub fn new(body: Vec<u8>, redelivered: bool, acker: Box<dyn Acker>) -> Self {
        Delivery {
            body,
            redelivered,
            headers: Default::default(),
            acker,
        }
    }

    /// Whether this consumer still holds the message (see [`Acker::is_held`]).
    pub fn is_held(&self) -> bool {
        self.acker.is_held()
    }

    /// Resolves once the message is no longer held; never while it is.
    pub async fn lost(&self) {
        while self.acker.is_held() {
            tokio::time::sleep(HELD_POLL).await;
        }
    }

    /// The same delivery carrying `headers`.
    pub fn with_headers(mut self, headers: std::collections::BTreeMap<String, String>) -> Self {
        self.headers = headers;
        self
    }

    /// Acknowledge the message: it will not be delivered again.
    pub async fn ack(self) -> Result<()> {
        self.acker.ack().await
    }

    /// Hand the message back to its queue for another delivery (used on shutdown).
    pub async fn requeue(self) -> Result<()> {
        self.acker.requeue().await
    }
}
