//! An in-process broker with the fleet's semantics, for standalone runs and tests.
//!
//! Named FIFO queues behind one mutex; consumers wait on a `Notify`. A
//! delivery that is dropped without being acked goes back to the front of its
//! queue (like a message on a closed AMQP channel), delayed publishes are
//! timers that enqueue later (nobody holds the message while it waits), and
//! dead letters and events are ordinary queues.

use crate::topology::{DEAD_LETTER_QUEUE, EVENTS_QUEUE, Route, task_queue};
use crate::{Acker, Broker, BrokerError, Delivery, DeliveryStream, Result};
use async_trait::async_trait;
use dorafleet_core::{DeadLetter, TaskEnvelope, TaskEvent};
use dorafleet_telemetry::trace_context::{self, Headers};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
struct Message {
    body: Vec<u8>,
    redelivered: bool,
    /// The publisher's trace context, as RabbitMQ would carry it in headers.
    headers: Headers,
}

impl Message {
    /// A new message from the current span (whose trace the consumer continues).
    fn new(body: Vec<u8>) -> Self {
        Message {
            body,
            redelivered: false,
            headers: trace_context::inject_current(),
        }
    }
}

#[derive(Debug, Default)]
struct Queues {
    ready: HashMap<String, VecDeque<Message>>,
    closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queues: Mutex<Queues>,
    wakeup: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A panic while holding this lock cannot leave the queues half-updated
        // (every critical section is a single push or pop), so keep going.
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, queue: &str, message: Message, front: bool) -> Result<()> {
        let mut q = self.lock();
        if q.closed {
            return Err(BrokerError::Closed);
        }
        let entry = q.ready.entry(queue.to_owned()).or_default();
        if front {
            entry.push_front(message);
        } else {
            entry.push_back(message);
        }
        drop(q);
        self.wakeup.notify_waiters();
        Ok(())
    }
}

/// The standalone broker. Cheap to clone; clones share the queues.
#[derive(Debug, Clone, Default)]
pub struct InProcessBroker {
    shared: Arc<Shared>,
}

impl InProcessBroker {
    /// An empty broker with no queues (they appear on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages ready in a queue (not counting unacked or delayed ones).
    pub fn depth(&self, queue: &str) -> usize {
        self.shared.lock().ready.get(queue).map_or(0, VecDeque::len)
    }

    /// Stop: every consumer's `next()` returns `None`, publishes fail with `Closed`.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.wakeup.notify_waiters();
    }

    fn stream(&self, queues: Vec<String>) -> Box<dyn DeliveryStream> {
        Box::new(InProcessStream {
            shared: Arc::clone(&self.shared),
            queues,
            turn: 0,
        })
    }
}

#[async_trait]
impl Broker for InProcessBroker {
    async fn publish(&self, task: &TaskEnvelope) -> Result<()> {
        self.shared
            .push(&task_queue(task), Message::new(task.encode()), false)
    }

    async fn publish_delayed(&self, task: &TaskEnvelope, delay: Duration) -> Result<()> {
        if self.shared.lock().closed {
            return Err(BrokerError::Closed);
        }
        let shared = Arc::clone(&self.shared);
        let (queue, message) = (task_queue(task), Message::new(task.encode()));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // A broker closed meanwhile drops the retry, as a stopped RabbitMQ
            // node without persistence would; standalone runs close only at the end.
            let _ = shared.push(&queue, message, false);
        });
        Ok(())
    }

    async fn publish_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        let body = serde_json::to_vec(letter)
            .map_err(|e| BrokerError::Unroutable(format!("dead letter does not encode: {e}")))?;
        self.shared
            .push(DEAD_LETTER_QUEUE, Message::new(body), false)
    }

    async fn publish_event(&self, event: &TaskEvent) -> Result<()> {
        let body = serde_json::to_vec(event)
            .map_err(|e| BrokerError::Unroutable(format!("event does not encode: {e}")))?;
        self.shared.push(EVENTS_QUEUE, Message::new(body), false)
    }

    async fn consume_tasks(&self, routes: &[Route]) -> Result<Box<dyn DeliveryStream>> {
        if routes.is_empty() {
            return Err(BrokerError::Unroutable("no routes to consume".into()));
        }
        Ok(self.stream(routes.iter().map(Route::queue).collect()))
    }

    async fn consume_dead_letters(&self) -> Result<Box<dyn DeliveryStream>> {
        Ok(self.stream(vec![DEAD_LETTER_QUEUE.into()]))
    }

    async fn consume_events(&self) -> Result<Box<dyn DeliveryStream>> {
        Ok(self.stream(vec![EVENTS_QUEUE.into()]))
    }

    async fn close(&self) -> Result<()> {
        InProcessBroker::close(self);
        Ok(())
    }
}

/// Publishes raw bytes to a task queue: how tests and tools put poison
/// messages (undecodable, unknown version, oversized) in front of a worker.
impl InProcessBroker {
    /// Put `body` on the queue of `route` as it is, without encoding or checks.
    pub fn publish_raw(&self, route: Route, body: Vec<u8>) -> Result<()> {
        self.shared.push(&route.queue(), Message::new(body), false)
    }
}

#[derive(Debug)]
struct InProcessStream {
    shared: Arc<Shared>,
    queues: Vec<String>,
    /// Which queue to look at first, rotated for fairness between sources.
    turn: usize,
}

impl InProcessStream {
    fn try_pop(&mut self) -> Option<Option<(String, Message)>> {
        let mut q = self.shared.lock();
        if q.closed {
            return Some(None);
        }
        let n = self.queues.len();
        for i in 0..n {
            let name = &self.queues[(self.turn + i) % n];
            if let Some(message) = q.ready.get_mut(name).and_then(VecDeque::pop_front) {
                self.turn = (self.turn + i + 1) % n;
                return Some(Some((name.clone(), message)));
            }
        }
        None
    }
}

#[async_trait]
impl DeliveryStream for InProcessStream {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            // Register interest before looking, so a push between the look and
            // the wait still wakes us.
            let shared = Arc::clone(&self.shared);
            let notified = shared.wakeup.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_pop() {
                Some(Some((queue, message))) => {
                    let acker = InProcessAcker {
                        shared: Arc::clone(&self.shared),
                        pending: Mutex::new(Some((queue, message.clone()))),
                    };
                    return Some(
                        Delivery::new(message.body, message.redelivered, Box::new(acker))
                            .with_headers(message.headers),
                    );
                }
                Some(None) => return None,
                None => notified.await,
            }
        }
    }
}

/// Holds the message until it is settled; dropping it unsettled requeues it.
#[derive(Debug)]
struct InProcessAcker {
    shared: Arc<Shared>,
    pending: Mutex<Option<(String, Message)>>,
}

impl InProcessAcker {
    fn take(&self) -> Option<(String, Message)> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn put_back(&self) -> Result<()> {
        if let Some((queue, mut message)) = self.take() {
            message.redelivered = true;
            self.shared.push(&queue, message, true)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Acker for InProcessAcker {
    async fn ack(&self) -> Result<()> {
        self.take();
        Ok(())
    }

    async fn requeue(&self) -> Result<()> {
        self.put_back()
    }
}

impl Drop for InProcessAcker {
    fn drop(&mut self) {
        let _ = self.put_back();
    }
}
