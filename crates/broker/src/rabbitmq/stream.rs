//! Consumer streams that survive reconnects, and the ackers of their deliveries.
//!
//! A stream owns one channel (with `basic.qos(prefetch)`) and one consumer per
//! queue, merged. When the connection drops, or RabbitMQ cancels a consumer
//! (its queue was deleted), the stream drops that channel — RabbitMQ requeues
//! whatever it had delivered and not yet been acked — then redeclares the
//! topology and subscribes again, retrying with backoff until it succeeds or
//! the broker is closed. `next()` therefore only returns `None` after `close()`.
//!
//! Deliveries are settled through their channel's [`AckBatch`]: acks go out
//! in batches (`multiple`), see `acks.rs`. Task streams take the configured
//! prefetch (workers size it to what they run and settle at once); the
//! events and dead-letter streams, each drained by one process that settles
//! them in batches, take at least [`BATCH_PREFETCH`].

use super::acks::AckBatch;
use super::connector::{CONNECT_TIMEOUT, Connector};
use super::dead_letters::{as_dead_letter, string_headers};
use crate::{Acker, BrokerError, Delivery, DeliveryStream, Result};
use async_trait::async_trait;
use futures::stream::{self, BoxStream, SelectAll, StreamExt};
use lapin::Channel;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
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
    /// Settles the channel's deliveries.
    acks: Arc<AckBatch>,
    events: SelectAll<BoxStream<'static, Event>>,
}

/// The least prefetch of the events and dead-letter streams. The coordinator
/// applies up to 512 events in one batch (one warehouse transaction, one ack);
/// a prefetch of several batches keeps the next ones arriving while it
/// records one. Each of these queues has one consumer at a time (the lease
/// holder, the archiver), so a deep prefetch takes work from nobody.
pub(crate) const BATCH_PREFETCH: u16 = 1024;

impl Kind {
    fn prefetch(self, configured: u16) -> u16 {
        match self {
            Kind::Tasks => configured,
            Kind::Events | Kind::DeadLetters => configured.max(BATCH_PREFETCH),
        }
    }
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
        stream.subscription = Some(subscribe(&stream.connector, kind, &stream.queues).await?);
        Ok(stream)
    }
}

/// Open a channel and consume every queue, within [`CONNECT_TIMEOUT`] (on
/// top of a reconnect, if one is needed).
async fn subscribe(connector: &Connector, kind: Kind, queues: &[String]) -> Result<Subscription> {
    let connection = connector.connection().await?;
    let prefetch = kind.prefetch(connector.config.prefetch);
    let consuming = consume(connector, &connection, prefetch, queues);
    match tokio::time::timeout(CONNECT_TIMEOUT, consuming).await {
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
    prefetch: u16,
    queues: &[String],
) -> Result<Subscription> {
    let context = |what: &str| format!("cannot {what} for {}", queues.join(", "));
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| super::connector::unavailable(context("open a channel"), e))?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| super::connector::unavailable(context("set the prefetch"), e))?;
    // A queue may have been deleted since the connection declared it.
    connector.declare_topology(&channel).await?;
    let acks = AckBatch::new(channel.clone());
    connector.track(&channel, &acks);
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
        acks,
        events,
    })
}

impl RabbitStream {
    fn deliver(&self, acks: &Arc<AckBatch>, queue: &str, d: lapin::message::Delivery) -> Delivery {
        let headers = d.properties.headers().as_ref();
        let header_map = string_headers(headers);
        let body = match self.kind {
            Kind::DeadLetters => {
                as_dead_letter(d.data, headers, self.connector.config.delivery_limit)
            }
            Kind::Tasks | Kind::Events => d.data,
        };
        acks.delivered(d.delivery_tag, d.acker);
        let acker = RabbitAcker {
            acks: Arc::clone(acks),
            tag: d.delivery_tag,
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
                    attempt = subscribe(&self.connector, self.kind, &self.queues) => attempt,
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
                        let acks = Arc::clone(&subscription.acks);
                        return Some(self.deliver(&acks, &queue, delivery));
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

/// Settles one delivery through its channel's [`AckBatch`].
///
/// An ack is registered and sent with the channel's next batch; a requeue
/// is sent before it returns. Dropped unsettled, the delivery is requeued
/// with the next batch (or, outside a runtime, when RabbitMQ sees the channel
/// close). After a reconnect the old channel is gone: settling fails with
/// `Unavailable`, and RabbitMQ has already requeued the message.
pub(crate) struct RabbitAcker {
    acks: Arc<AckBatch>,
    tag: u64,
    queue: String,
    settled: AtomicBool,
}

impl fmt::Debug for RabbitAcker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitAcker")
            .field("queue", &self.queue)
            .field("tag", &self.tag)
            .field("settled", &self.settled.load(Ordering::Relaxed))
            .finish()
    }
}

impl RabbitAcker {
    fn gone(&self, what: &str) -> BrokerError {
        BrokerError::Unavailable(format!(
            "cannot {what} a delivery from {}: its channel is closed (the connection was lost \
             or the broker restarted); RabbitMQ delivers the message again",
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
        if !self.acks.usable() {
            return Err(self.gone(what));
        }
        Ok(())
    }
}

#[async_trait]
impl Acker for RabbitAcker {
    async fn ack(&self) -> Result<()> {
        self.settle("ack")?;
        self.acks.ack(self.tag);
        Ok(())
    }

    async fn requeue(&self) -> Result<()> {
        self.settle("requeue")?;
        self.acks.nack(self.tag);
        self.acks.flush().await;
        if self.acks.usable() {
            Ok(())
        } else {
            Err(self.gone("requeue"))
        }
    }

    /// Held while its channel is open (it closes with a lost connection).
    fn is_held(&self) -> bool {
        self.acks.usable() || self.settled.load(Ordering::Acquire)
    }
}

impl Drop for RabbitAcker {
    fn drop(&mut self) {
        if self.settled.swap(true, Ordering::AcqRel) || !self.acks.usable() {
            return;
        }
        debug!(queue = %self.queue, tag = self.tag, "delivery dropped unsettled; requeueing it");
        self.acks.nack(self.tag);
    }
}
