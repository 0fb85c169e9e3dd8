//! The one AMQP connection of a broker handle, re-opened when it is lost.
//!
//! lapin 4 can recover a connection by itself (`enable_auto_recover`), but it
//! gives up after a fixed number of TCP attempts and leaves a dead
//! connection behind, and it cannot help when the server cancels a consumer
//! (its queue was deleted). So recovery is done here, in one place, and is
//! the same for every failure: whoever next needs the connection (a publish,
//! a consumer stream) finds it dead, opens a new one under the state lock
//! (so only one reconnect happens at a time), redeclares the topology and
//! carries on. Consumer streams re-subscribe themselves (see `stream.rs`).

use super::acks::AckBatch;
use super::config::RabbitConfig;
use super::names::Names;
use super::topology;
use crate::{BrokerError, Result};
use lapin::options::ConfirmSelectOptions;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long one attempt to connect and declare the topology may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest AMQP frame a connection asks for, unless its URL names one
/// (`?frame_max=`). lapin keeps a send and a receive buffer of 32 frames
/// per connection, filled when it connects: at RabbitMQ's default frame of
/// 128 KiB that was 8 MiB of every worker's memory (a third of its heap in
/// the workers benchmark), for messages of a few KiB. At 32 KiB it is
/// 2 MiB; a message larger than a frame travels as several.
pub(crate) const FRAME_MAX: u32 = 32 * 1024;

/// `url` as lapin takes it, asking for [`FRAME_MAX`] unless it names a
/// frame size of its own.
pub(crate) fn amqp_uri(url: &str) -> std::result::Result<AMQPUri, String> {
    let mut uri: AMQPUri = url.parse()?;
    uri.query.frame_max.get_or_insert(FRAME_MAX);
    Ok(uri)
}

/// How long a publish keeps reconnecting and retrying before it returns
/// [`BrokerError::Unavailable`] (a RabbitMQ restart takes a few seconds).
pub const RECONNECT_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct State {
    connection: Option<Arc<Connection>>,
    /// Bumped on every new connection, for logs.
    generation: u64,
    /// The confirm-mode channel publishes go through.
    publisher: Option<Channel>,
}

/// The consumers' channels and their batched acks, which `close` flushes and
/// closes before the connection. Kept apart from [`State`] behind a lock
/// never held across an await: a consumer subscribing must not wait behind
/// a reconnect that another task is stuck in (for example on a connection
/// that died while the process was paused and does not know it yet).
#[derive(Debug, Default)]
struct Consumers {
    channels: Vec<Channel>,
    acks: Vec<Weak<AckBatch>>,
}

#[derive(Debug)]
pub(crate) struct Connector {
    pub config: RabbitConfig,
    pub names: Names,
    state: Mutex<State>,
    consumers: std::sync::Mutex<Consumers>,
    /// Cancelled by `close()`: streams end, publishes fail with `Closed`.
    pub closed: CancellationToken,
}

pub(crate) fn unavailable(
    context: impl std::fmt::Display,
    error: impl std::fmt::Display,
) -> BrokerError {
    BrokerError::Unavailable(format!("{context}: {error}"))
}

impl Connector {
    /// Connect once (no retries: a misconfigured URL should fail fast and
    /// loudly) and declare the topology.
    pub(crate) async fn open(config: RabbitConfig) -> Result<Connector> {
        config.validate()?;
        let names = Names::new(&config.prefix, config.tier_millis());
        let connector = Connector {
            config,
            names,
            state: Mutex::new(State::default()),
            consumers: std::sync::Mutex::default(),
            closed: CancellationToken::new(),
        };
        {
            let mut state = connector.state.lock().await;
            connector.ensure_connected(&mut state).await?;
        }
        Ok(connector)
    }

    fn url(&self) -> String {
        self.config.redacted_url()
    }

    /// A new connection with the topology declared on it.
    async fn connect(&self) -> Result<(Connection, Channel)> {
        let url = self.url();
        let attempt = async {
            let properties = ConnectionProperties::default()
                .with_connection_name(format!("dorafleet ({})", self.config.prefix).into());
            // The parser's message may quote the URL whole, password and all.
            let uri = amqp_uri(&self.config.url).map_err(|e| {
                let e = e.replace(&self.config.url, &url);
                unavailable(format!("the RabbitMQ URL {url} does not parse"), e)
            })?;
            let connection = Connection::connect_uri(uri, properties)
                .await
                .map_err(|e| {
                    unavailable(
                        format!(
                            "cannot connect to RabbitMQ at {url} (is RabbitMQ running and reachable, \
                             and are the user, password and vhost in the URL right?)"
                        ),
                        e,
                    )
                })?;
            let publisher = self.new_publisher(&connection).await?;
            Ok::<_, BrokerError>((connection, publisher))
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(result) => result,
            Err(_) => Err(BrokerError::Unavailable(format!(
                "connecting to RabbitMQ at {url} and declaring the topology took longer than \
                 {CONNECT_TIMEOUT:?} (is RabbitMQ overloaded or is a firewall dropping packets?)"
            ))),
        }
    }

    /// A confirm-mode channel, with the topology (re)declared through it:
    /// whatever closed the previous channel (a deleted exchange, say) is repaired.
    async fn new_publisher(&self, connection: &Connection) -> Result<Channel> {
        let channel = connection.create_channel().await.map_err(|e| {
            unavailable(
                format!("cannot open a channel to RabbitMQ at {}", self.url()),
                e,
            )
        })?;
        self.declare_topology(&channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| unavailable("cannot enable publisher confirms", e))?;
        Ok(channel)
    }

    /// Declare the topology on a channel, explaining the usual failure.
    pub(crate) async fn declare_topology(&self, channel: &Channel) -> Result<()> {
        topology::declare(channel, &self.names, self.config.delivery_limit)
            .await
            .map_err(|e| {
                unavailable(
                    format!(
                        "declaring the RabbitMQ topology under prefix {:?} failed (PRECONDITION_FAILED \
                         means the queues exist with other arguments: every role must use the same \
                         delivery_limit and wait tiers, or delete the old queues)",
                        self.config.prefix
                    ),
                    e,
                )
            })
    }

    async fn ensure_connected(&self, state: &mut State) -> Result<Arc<Connection>> {
        if self.closed.is_cancelled() {
            return Err(BrokerError::Closed);
        }
        let alive = state
            .connection
            .as_ref()
            .is_some_and(|c| c.status().connected());
        if !alive {
            if state.connection.take().is_some() {
                warn!(url = %self.url(), generation = state.generation, "RabbitMQ connection lost; reconnecting");
            }
            state.publisher = None;
            let (connection, publisher) = self.connect().await?;
            state.generation += 1;
            if state.generation > 1 {
                info!(url = %self.url(), generation = state.generation, "reconnected to RabbitMQ; topology redeclared");
            }
            state.connection = Some(Arc::new(connection));
            state.publisher = Some(publisher);
        }
        state
            .connection
            .clone()
            .ok_or_else(|| BrokerError::Unavailable("no RabbitMQ connection".into()))
    }

    /// The live connection, reconnecting if it was lost.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>> {
        let mut state = self.state.lock().await;
        self.ensure_connected(&mut state).await
    }

    /// The live publishing channel, reopening it (or the connection) if needed.
    pub(crate) async fn publisher(&self) -> Result<Channel> {
        let mut state = self.state.lock().await;
        let connection = self.ensure_connected(&mut state).await?;
        if let Some(channel) = state.publisher.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        warn!(url = %self.url(), "RabbitMQ publishing channel closed; opening a new one");
        let channel = self.new_publisher(&connection).await?;
        state.publisher = Some(channel.clone());
        Ok(channel)
    }

    /// Remember a consumer's channel and its acks, so `close` flushes the
    /// acks and closes the channel before the connection (channels of lost
    /// connections are forgotten).
    pub(crate) fn track(&self, channel: &Channel, acks: &Arc<AckBatch>) {
        let mut consumers = self.consumers();
        consumers.channels.retain(|c| c.status().connected());
        consumers.channels.push(channel.clone());
        consumers
            .acks
            .retain(|a| a.upgrade().is_some_and(|a| a.usable()));
        consumers.acks.push(Arc::downgrade(acks));
    }

    fn consumers(&self) -> std::sync::MutexGuard<'_, Consumers> {
        // The lists stay consistent whatever panicked while holding them.
        self.consumers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Close the connection; every stream ends and later calls fail with `Closed`.
    ///
    /// Channels are closed first, each awaited: a connection closed while
    /// a dropped channel is still closing in the background fails, and
    /// lapin reports that as an ERROR on what is a clean exit.
    pub(crate) async fn close(&self) {
        self.closed.cancel();
        let (connection, publisher) = {
            let mut state = self.state.lock().await;
            (state.connection.take(), state.publisher.take())
        };
        let Consumers {
            channels: consumers,
            acks,
        } = std::mem::take(&mut *self.consumers());
        let Some(connection) = connection.filter(|c| c.status().connected()) else {
            return;
        };
        // Acks registered but not yet sent go out first: a drained worker
        // must not have its finished deliveries redelivered.
        for batch in acks.iter().filter_map(Weak::upgrade) {
            let _ = tokio::time::timeout(Duration::from_secs(5), batch.flush()).await;
        }
        for channel in publisher.iter().chain(&consumers) {
            if channel.status().connected() {
                let closing = channel.close(200, "dorafleet broker closed".into());
                // A channel the server already closed answers with an error: nothing to do.
                let _ = tokio::time::timeout(Duration::from_secs(5), closing).await;
            }
        }
        // Channels whose last handle was dropped close in the background;
        // give them a moment (bounded) to finish first.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while consumers
            .iter()
            .chain(&publisher)
            .any(|c| c.status().closing())
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let closing = connection.close(200, "dorafleet broker closed".into());
        match tokio::time::timeout(Duration::from_secs(5), closing).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(url = %self.url(), error = %e, "closing the RabbitMQ connection failed; dropping it")
            }
            Err(_) => {
                warn!(url = %self.url(), "closing the RabbitMQ connection timed out; dropping it")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_asks_for_small_frames_unless_its_url_names_a_size() {
        let plain = amqp_uri("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(plain.query.frame_max, Some(FRAME_MAX));
        let named = amqp_uri("amqp://guest:guest@127.0.0.1:5672/%2f?frame_max=131072").unwrap();
        assert_eq!(named.query.frame_max, Some(131_072));
        assert_eq!(named.authority.port, 5672, "the rest of the URL is kept");
        assert!(amqp_uri("amqp://[::1").is_err());
    }

    #[tokio::test]
    async fn a_url_that_does_not_parse_is_refused_without_showing_its_password() {
        let config = RabbitConfig {
            url: "amqp:guest:s3cret@127.0.0.1:5672/%2f".into(),
            ..RabbitConfig::default()
        };
        let error = Connector::open(config).await.unwrap_err().to_string();
        assert!(error.contains("does not parse"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[tokio::test]
    async fn rabbitmq_agrees_to_the_frame_size_asked_for() {
        if std::env::var("DORAFLEET_SKIP_RABBITMQ").is_ok_and(|v| v == "1") {
            return;
        }
        let url = std::env::var("DORAFLEET_RABBITMQ_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        let connection =
            Connection::connect_uri(amqp_uri(&url).unwrap(), ConnectionProperties::default())
                .await
                .expect("RabbitMQ on 127.0.0.1:5672 (or DORAFLEET_RABBITMQ_URL)");
        assert_eq!(connection.configuration().frame_max(), FRAME_MAX);
        connection.close(0, "test done".into()).await.unwrap();
    }
}
