//! Consumer streams that survive reconnects, and the ackers of their deliveries.
//!
//! A stream owns one channel (with `basic.qos(prefetch)`) and one consumer per
//! queue, merged. When the connection drops, or RabbitMQ cancels a consumer
//! (its queue was deleted), the stream drops that channel — RabbitMQ requeues
//! whatever it had delivered and not yet been acked — then redeclares the
//! topology and subscribes again, retrying with backoff until it succeeds or
//! the broker is closed. `next()` therefore only returns `None` after `close()`.

use super::connector::{CONNECT_TIMEOUT, Connector};
use super::dead_letters::{as_dead_letter, string_headers};
use crate::{Acker, BrokerError, Delivery, DeliveryStream, Result};
use async_trait::async_trait;
use futures::stream::{self, BoxStream, SelectAll, StreamExt};
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::{debug, info, warn};

/// What a stream hands out: tasks and events verbatim, dead letters wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tasks,
    DeadLetters,
    Events,
}

enum Event {
    Delivery(Arc<str>, Box<lapin::Result<lapin::message::Delivery>>),
    /// The consumer on this queue ended (cancelled by the server, or its channel closed).
    Ended(Arc<str>),
}

struct Subscription {
    /// Kept so the channel stays open while the consumers run.
    _channel: Channel,
    events: SelectAll<BoxStream<'static, Event>>,
}

pub(crate) struct RabbitStream {
    connector: Arc<Connector>,
    kind: Kind,
    queues: Vec<String>,
    subscription: Option<Subscription>,
    /// The last subscription failed or ended: back off before the next one.
    lost: bool,
    pause: Duration,
}

const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(10);

impl fmt::Debug for RabbitStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitStream")
            .field("kind", &self.kind)
            .field("queues", &self.queues)
            .field("subscribed", &self.subscription.is_some())
            .finish()
    }
}

impl RabbitStream {
    /// Subscribe now, so that a bad queue name or an unreachable broker is an
    /// error here rather than a silent retry loop.
    pub(crate) async fn open(
        connector: Arc<Connector>,
        kind: Kind,
        queues: Vec<String>,
    ) -> Result<Self> {
        let mut stream = RabbitStream {
            connector,
            kind,
            queues,
            subscription: None,
            lost: false,
            pause: FIRST_PAUSE,
        };
        stream.subscription = Some(subscribe(&stream.connector, &stream.queues).await?);
        Ok(stream)
    }
}

/// Open a channel and consume every queue, within [`CONNECT_TIMEOUT`] (on
/// top of a reconnect, if one is needed).
async fn subscribe(connector: &Connector, queues: &[String]) -> Result<Subscription> {
    let connection = connector.connection().await?;
    match tokio::time::timeout(CONNECT_TIMEOUT, consume(connector, &connection, queues)).await {
        Ok(subscribed) => subscribed,
        Err(_) => Err(BrokerError::Unavailable(format!(
            "subscribing to {} took longer than {CONNECT_TIMEOUT:?} (is RabbitMQ overloaded?)",
            queues.join(", ")
        ))),
    }
}

async fn consume(
    connector: &Connector,
    connection: &lapin::Connection,
    queues: &[String],
) -> Result<Subscription> {
    let context = |what: &str| format!("cannot {what} for {}", queues.join(", "));
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| super::connector::unavailable(context("open a channel"), e))?;
    channel
        .basic_qos(connector.config.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| super::connector::unavailable(context("set the prefetch"), e))?;
    // A queue may have been deleted since the connection declared it.
    connector.declare_topology(&channel).await?;
    connector.track(&channel).await;
    let mut events = SelectAll::new();
    for queue in queues {
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| super::connector::unavailable(context("consume"), e))?;
        let name: Arc<str> = Arc::from(queue.as_str());
        let ended = Arc::clone(&name);
        let merged: BoxStream<'static, Event> = consumer
            .map(move |d| Event::Delivery(Arc::clone(&name), Box::new(d)))
            .chain(stream::once(async move { Event::Ended(ended) }))
            .boxed();
        events.push(merged);
    }
    Ok(Subscription {
        _channel: channel,
        events,
    })
}

impl RabbitStream {
    fn deliver(&self, queue: &str, d: lapin::message::Delivery) -> Delivery {
        let headers = d.properties.headers().as_ref();
        let header_map = string_headers(headers);
        let body = match self.kind {
            Kind::DeadLetters => {
                as_dead_letter(d.data, headers, self.connector.config.delivery_limit)
            }
            Kind::Tasks | Kind::Events => d.data,
        };
        let acker = RabbitAcker {
            acker: d.acker,
            queue: queue.to_owned(),
            settled: AtomicBool::new(false),
        };
        Delivery::new(body, d.redelivered, Box::new(acker)).with_headers(header_map)
    }
}

#[async_trait]
impl DeliveryStream for RabbitStream {
    async fn next(&mut self) -> Option<Delivery> {
        let closed = self.connector.closed.clone();
        loop {
            if closed.is_cancelled() {
                self.subscription = None;
                return None;
            }
            let Some(subscription) = self.subscription.as_mut() else {
                if self.lost {
                    // Back off before re-subscribing, so a consumer that keeps
                    // being cancelled does not spin.
                    tokio::select! {
                        () = closed.cancelled() => continue,
                        () = tokio::time::sleep(self.pause) => {}
                    }
                    self.pause = (self.pause * 2).min(MAX_PAUSE);
                }
                let attempt = tokio::select! {
                    () = closed.cancelled() => continue,
                    attempt = subscribe(&self.connector, &self.queues) => attempt,
                };
                match attempt {
                    Ok(subscription) => {
                        info!(queues = ?self.queues, "re-subscribed to RabbitMQ");
                        self.subscription = Some(subscription);
                        self.lost = false;
                    }
                    Err(BrokerError::Closed) => continue,
                    Err(e) => {
                        warn!(queues = ?self.queues, error = %e, retry_in = ?self.pause, "cannot subscribe to RabbitMQ; retrying");
                        self.lost = true;
                    }
                }
                continue;
            };
            let event = tokio::select! {
                () = closed.cancelled() => continue,
                event = subscription.events.next() => event,
            };
            match event {
                Some(Event::Delivery(queue, result)) => match *result {
                    Ok(delivery) => {
                        self.pause = FIRST_PAUSE;
                        return Some(self.deliver(&queue, delivery));
                    }
                    Err(e) => {
                        warn!(%queue, error = %e, "RabbitMQ consumer failed (connection lost?); re-subscribing");
                        self.subscription = None;
                        self.lost = true;
                    }
                },
                Some(Event::Ended(queue)) => {
                    if !closed.is_cancelled() {
                        warn!(%queue, "RabbitMQ ended the consumer (queue deleted or connection lost); redeclaring the topology and re-subscribing");
                    }
                    self.subscription = None;
                    self.lost = true;
                }
                None => {
                    self.subscription = None;
                    self.lost = true;
                }
            }
        }
    }
}

/// Settles one delivery on the channel it came from.
///
/// Dropped unsettled, it nacks the message back to its queue from a spawned
/// task (or, outside a runtime, leaves it to RabbitMQ, which requeues it when
/// the channel closes). After a reconnect the old channel is gone: settling
/// fails with `Unavailable`, and RabbitMQ has already requeued the message.
pub(crate) struct RabbitAcker {
    acker: lapin::Acker,
    queue: String,
    settled: AtomicBool,
}

impl fmt::Debug for RabbitAcker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitAcker")
            .field("queue", &self.queue)
            .field("settled", &self.settled.load(Ordering::Relaxed))
            .finish()
    }
}

impl RabbitAcker {
    fn gone(&self, what: &str, error: Option<lapin::Error>) -> BrokerError {
        let cause = error.map_or_else(|| "its channel is closed".to_owned(), |e| e.to_string());
        BrokerError::Unavailable(format!(
            "cannot {what} a delivery from {}: {cause} (the connection was lost or the broker \
             restarted); RabbitMQ delivers the message again",
            self.queue
        ))
    }

    fn settle(&self, what: &str) -> Result<()> {
        if self.settled.swap(true, Ordering::AcqRel) {
            return Err(BrokerError::Unavailable(format!(
                "cannot {what} a delivery from {}: it was already settled",
                self.queue
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Acker for RabbitAcker {
    async fn ack(&self) -> Result<()> {
        self.settle("ack")?;
        match self.acker.ack(BasicAckOptions::default()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.gone("ack", None)),
            Err(e) => Err(self.gone("ack", Some(e))),
        }
    }

    async fn requeue(&self) -> Result<()> {
        self.settle("requeue")?;
        let options = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        match self.acker.nack(options).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.gone("requeue", None)),
            Err(e) => Err(self.gone("requeue", Some(e))),
        }
    }

    /// lapin invalidates the acker when its channel closes.
    fn is_held(&self) -> bool {
        self.acker.usable() || self.settled.load(Ordering::Acquire)
    }
}

impl Drop for RabbitAcker {
    fn drop(&mut self) {
        if self.settled.swap(true, Ordering::AcqRel) || !self.acker.usable() {
            return;
        }
        let acker = self.acker.clone();
        let queue = std::mem::take(&mut self.queue);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let options = BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    };
                    if let Err(e) = acker.nack(options).await {
                        debug!(%queue, error = %e, "requeueing a dropped delivery failed; RabbitMQ requeues it when the channel closes");
                    }
                });
            }
            Err(_) => {
                debug!(%queue, "delivery dropped outside a runtime; RabbitMQ requeues it when the channel closes")
            }
        }
    }
}
