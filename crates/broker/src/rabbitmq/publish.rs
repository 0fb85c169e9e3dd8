//! Confirmed, mandatory, persistent publishes that ride out a reconnect.

use super::connector::{Connector, RECONNECT_WINDOW};
use crate::{BrokerError, Result};
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Confirmation};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tracing::warn;

/// One message to publish.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    /// What it is, for error messages ("task", "dead letter", …).
    pub what: &'static str,
    pub exchange: String,
    pub routing_key: String,
    pub body: &'a [u8],
    /// Per-message TTL (delayed publishes).
    pub expiration_ms: Option<u64>,
    /// String headers (e.g. a W3C `traceparent`).
    pub headers: BTreeMap<String, String>,
}

/// Why one attempt failed: retry after reconnecting, or give up now.
enum Failure {
    Retry(String),
    Final(BrokerError),
}

const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(5);

impl Connector {
    /// Publish and wait for RabbitMQ's confirm. Connection and channel
    /// failures are retried (reconnecting) for [`RECONNECT_WINDOW`]; a nack or
    /// a missing confirm is `Unavailable` at once, an unroutable message is
    /// `Unroutable`.
    pub(crate) async fn publish(&self, out: Outgoing<'_>) -> Result<()> {
        let deadline = Instant::now() + RECONNECT_WINDOW;
        let mut pause = FIRST_PAUSE;
        loop {
            if self.closed.is_cancelled() {
                return Err(BrokerError::Closed);
            }
            let reason = match self.publish_once(&out).await {
                Ok(()) => return Ok(()),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry(reason)) => reason,
            };
            if Instant::now() + pause > deadline {
                return Err(BrokerError::Unavailable(format!(
                    "{reason}; gave up after retrying for {RECONNECT_WINDOW:?} (is RabbitMQ at {} running?)",
                    self.config.redacted_url()
                )));
            }
            warn!(what = out.what, error = %reason, retry_in = ?pause, "publish failed; reconnecting and retrying");
            tokio::select! {
                () = self.closed.cancelled() => return Err(BrokerError::Closed),
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    async fn publish_once(&self, out: &Outgoing<'_>) -> Result<(), Failure> {
        let channel = self.publisher().await.map_err(|e| match e {
            BrokerError::Closed => Failure::Final(BrokerError::Closed),
            other => Failure::Retry(other.to_string()),
        })?;
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        if let Some(ms) = out.expiration_ms {
            properties = properties.with_expiration(ms.to_string().into());
        }
        if !out.headers.is_empty() {
            let mut table = FieldTable::default();
            for (key, value) in &out.headers {
                let Ok(key) = lapin::types::ShortString::try_new(key.as_str()) else {
                    continue;
                };
                table.insert(key, AMQPValue::LongString(LongString::from(value.as_str())));
            }
            properties = properties.with_headers(table);
        }
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirmed = async {
            channel
                .basic_publish(
                    out.exchange.as_str().into(),
                    out.routing_key.as_str().into(),
                    options,
                    out.body,
                    properties,
                )
                .await?
                .await
        };
        let timeout = self.config.confirm_timeout;
        let confirmation = match tokio::time::timeout(timeout, confirmed).await {
            Err(_) => {
                return Err(Failure::Final(BrokerError::Unavailable(format!(
                    "RabbitMQ did not confirm the {} within {timeout:?}; it may or may not be \
                     stored, publish it again (consumers are idempotent)",
                    out.what
                ))));
            }
            Ok(Err(e)) => {
                return Err(Failure::Retry(format!(
                    "publishing the {} to exchange {} failed: {e}",
                    out.what, out.exchange
                )));
            }
            Ok(Ok(confirmation)) => confirmation,
        };
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                Err(Failure::Final(BrokerError::Unroutable(format!(
                    "RabbitMQ returned the {} published to exchange {} with routing key {:?} \
                     ({} {}): no queue is bound for it; was the queue deleted? Restarting any \
                     dorafleet process redeclares the topology",
                    out.what,
                    out.exchange,
                    out.routing_key,
                    returned.reply_code,
                    returned.reply_text
                ))))
            }
            Confirmation::Nack(None) => Err(Failure::Final(BrokerError::Unavailable(format!(
                "RabbitMQ refused (nacked) the {} published to exchange {}; check the RabbitMQ \
                 log (disk or memory alarm, queue limits?) and publish it again",
                out.what, out.exchange
            )))),
            Confirmation::NotRequested => Err(Failure::Retry(
                "the publishing channel is not in confirm mode".into(),
            )),
        }
    }
}
