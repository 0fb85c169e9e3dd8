//! What the fleet roles (worker, coordinator) share: connecting to RabbitMQ
//! and opening the warehouse from the configuration.

use anyhow::Context;
use dorafleet_broker::{RabbitBroker, RabbitConfig};
use dorafleet_core::Config;
use dorafleet_warehouse::Warehouse;
use std::sync::Arc;
use std::time::Duration;

/// Connect to RabbitMQ. `max_prefetch` caps the configured prefetch: a
/// worker should not hold more unstarted tasks than it runs at once, or an
/// idle worker waits while a busy one sits on work.
pub async fn connect_broker(
    config: &Config,
    max_prefetch: Option<u16>,
) -> anyhow::Result<RabbitBroker> {
    let b = &config.broker;
    let rabbit = RabbitConfig {
        url: b.url.expose().to_owned(),
        prefix: b.prefix.clone(),
        prefetch: max_prefetch.map_or(b.prefetch, |m| b.prefetch.min(m.max(1))),
        delivery_limit: b.delivery_limit,
        wait_tiers: b
            .wait_tiers_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect(),
        confirm_timeout: Duration::from_millis(b.confirm_timeout_ms),
    };
    let redacted = rabbit.redacted_url();
    RabbitBroker::connect(rabbit).await.with_context(|| {
        format!("connecting to RabbitMQ at {redacted} (is it running? see broker.url)")
    })
}

pub fn open_warehouse(config: &Config) -> anyhow::Result<Arc<dyn Warehouse>> {
    dorafleet_warehouse::open(&config.warehouse.url)
        .with_context(|| format!("opening warehouse {}", config.warehouse.url))
}
