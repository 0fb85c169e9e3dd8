//! Connecting the RabbitMQ tests: a private topology per test, deleted afterwards.

#![allow(dead_code)]

use dorafleet_broker::contract::Cleanup;
use dorafleet_broker::{Broker, RabbitBroker, RabbitConfig};
use std::sync::Arc;
use std::time::Duration;

/// RabbitMQ is a required component: without it these tests fail, unless
/// `DORAFLEET_SKIP_RABBITMQ=1` says to skip them.
pub fn skip() -> bool {
    std::env::var("DORAFLEET_SKIP_RABBITMQ").is_ok_and(|v| v == "1")
}

pub fn url() -> String {
    std::env::var("DORAFLEET_RABBITMQ_URL")
        .or_else(|_| std::env::var("AMQP_URL"))
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Settings with a unique prefix, so tests never share a queue.
pub fn config() -> RabbitConfig {
    RabbitConfig {
        url: url(),
        prefix: format!("test-{}", uuid::Uuid::now_v7()),
        prefetch: 8,
        delivery_limit: 2,
        wait_tiers: vec![
            Duration::from_secs(1),
            Duration::from_secs(3),
            Duration::from_secs(10),
        ],
        confirm_timeout: Duration::from_secs(10),
    }
}

/// Connect with `config`, or `None` (skipped) when `DORAFLEET_SKIP_RABBITMQ=1`.
/// Panics with what to do when RabbitMQ is unreachable.
pub async fn connect_with(config: RabbitConfig) -> Option<RabbitBroker> {
    if skip() {
        eprintln!("skipped: DORAFLEET_SKIP_RABBITMQ=1");
        return None;
    }
    match RabbitBroker::connect(config).await {
        Ok(broker) => Some(broker),
        Err(e) => panic!(
            "RabbitMQ is required for these tests: {e}\n\
             Start it (scripts/test.sh does: rabbitmq-server -detached), point \
             DORAFLEET_RABBITMQ_URL at one, or set DORAFLEET_SKIP_RABBITMQ=1 to skip."
        ),
    }
}

/// Deletes the test's topology through a fresh connection (the broker under
/// test may have been closed), then closes everything.
pub fn cleanup(broker: RabbitBroker) -> Cleanup {
    Cleanup::new(async move {
        let _ = broker.close().await;
        match RabbitBroker::connect(broker.config().clone()).await {
            Ok(janitor) => {
                if let Err(e) = janitor.delete_topology().await {
                    eprintln!("could not delete the test topology: {e}");
                }
                let _ = janitor.close().await;
            }
            Err(e) => eprintln!("could not delete the test topology: {e}"),
        }
    })
}

pub async fn fresh() -> Option<(Arc<dyn Broker>, Cleanup)> {
    let broker = connect_with(config()).await?;
    let cleanup = cleanup(broker.clone());
    Some((Arc::new(broker), cleanup))
}
