//! Opening the stores from the configuration: the warehouse its URL names,
//! and RabbitMQ. Front ends open them here, so the error an operator sees
//! names what was tried (without credentials) and what to check.

use dorafleet_broker::{BrokerError, RabbitBroker, RabbitConfig};
use dorafleet_core::Config;
use dorafleet_warehouse::{Warehouse, WarehouseError};
use std::sync::Arc;

/// The configured warehouse: SQLite or MongoDB, by the URL's scheme.
pub async fn warehouse(config: &Config) -> Result<Arc<dyn Warehouse>, WarehouseError> {
    dorafleet_warehouse::open(&config.warehouse).await
}

/// The warehouse URL without credentials, for messages.
pub fn warehouse_label(config: &Config) -> String {
    dorafleet_warehouse::redacted_url(&config.warehouse.url)
}

/// Connect to RabbitMQ. A worker passes the prefetch it wants as
/// `max_prefetch` (its concurrency plus room for outcomes awaiting their
/// confirm); the configured `broker.prefetch` caps it, so an operator of
/// long tasks can keep a busy worker from sitting on work an idle one could
/// run.
pub async fn broker(
    config: &Config,
    max_prefetch: Option<u16>,
) -> Result<RabbitBroker, (BrokerError, String)> {
    let b = &config.broker;
    let rabbit = RabbitConfig {
        url: b.url.expose().to_owned(),
        prefix: b.prefix.clone(),
        prefetch: max_prefetch.map_or(b.prefetch, |m| b.prefetch.min(m.max(1))),
        delivery_limit: b.delivery_limit,
        wait_tiers: b.wait_tiers.clone(),
        confirm_timeout: b.confirm_timeout,
    };
    let redacted = rabbit.redacted_url();
    RabbitBroker::connect(rabbit)
        .await
        .map_err(|e| (e, redacted))
}
