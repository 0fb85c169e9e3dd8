//! The fleet's message broker section.

use crate::secret::Secret;
use serde::Deserialize;
use std::time::Duration;

/// The fleet's message broker (RabbitMQ).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// AMQP URL; it carries the password, so it is a secret.
    pub url: Secret,
    /// Prefix of every exchange and queue name: fleets sharing a broker
    /// (or tests sharing one) keep apart by prefix.
    pub prefix: String,
    /// Most unacked deliveries a worker holds at once: it takes its
    /// concurrency plus room for outcomes awaiting their confirm, up to this.
    /// Lower it when tasks are long and workers few, so that no task waits
    /// in a busy worker while another is idle.
    pub prefetch: u16,
    /// Deliveries of one message before the broker dead-letters it (a
    /// message that crashes workers must not circulate forever).
    pub delivery_limit: u32,
    /// Backoff tiers: wait queues whose TTL sends retries back.
    #[serde(rename = "wait_tiers_ms", with = "crate::serde_time::millis_list")]
    pub wait_tiers: Vec<Duration>,
    /// How long a publish waits for the broker's confirm before failing, in ms.
    #[serde(rename = "confirm_timeout_ms", with = "crate::serde_time::millis")]
    pub confirm_timeout: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            url: Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            prefix: "dorafleet".into(),
            prefetch: 64,
            delivery_limit: 5,
            wait_tiers: [1_000, 5_000, 30_000, 120_000, 600_000, 2_700_000]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
            confirm_timeout: Duration::from_secs(10),
        }
    }
}
