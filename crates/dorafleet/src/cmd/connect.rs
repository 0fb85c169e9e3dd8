//! The one place the commands open the stores: the warehouse, RabbitMQ,
//! the alert feed, and the ops endpoint that reports whether they answer.
//! Every other command module works through the library operations and the
//! role crates, and names the store types through this module.

use anyhow::Context;
use dorafleet_alerts::{ChangeStreamFeed, GoldFeed, OutboxFeed};
use dorafleet_broker::RabbitBroker;
use dorafleet_core::Config;
use std::sync::Arc;
use std::time::Duration;

pub use dorafleet_broker::{Broker, Route};
pub use dorafleet_warehouse::Warehouse;

/// Connect to RabbitMQ with the prefetch a worker wants (`max_prefetch`),
/// capped by the configured `broker.prefetch` (see
/// [`dorafleet_operations::connect::broker`]).
pub async fn connect_broker(
    config: &Config,
    max_prefetch: Option<u16>,
) -> anyhow::Result<RabbitBroker> {
    dorafleet_operations::connect::broker(config, max_prefetch)
        .await
        .map_err(|(e, redacted)| {
            anyhow::Error::new(e).context(format!(
                "connecting to RabbitMQ at {redacted} (is it running? see broker.url)"
            ))
        })
}

/// The configured warehouse: SQLite or MongoDB, by the URL's scheme.
pub async fn open_warehouse(config: &Config) -> anyhow::Result<Arc<dyn Warehouse>> {
    dorafleet_operations::connect::warehouse(config)
        .await
        .with_context(|| {
            format!(
                "opening warehouse {}",
                dorafleet_operations::connect::warehouse_label(config)
            )
        })
}

/// The warehouse and the feed of its gold changes the alert monitor follows:
/// on MongoDB its change stream (one client serves both), on SQLite the
/// outbox polled every `poll`.
pub async fn open_alert_feed(
    config: &Config,
    poll: Duration,
) -> anyhow::Result<(Arc<dyn Warehouse>, Box<dyn GoldFeed>)> {
    if dorafleet_warehouse::is_mongodb_url(&config.warehouse.url) {
        let mongo = dorafleet_warehouse::open_mongodb(&config.warehouse)
            .await
            .with_context(|| {
                format!(
                    "opening warehouse {}",
                    dorafleet_operations::connect::warehouse_label(config)
                )
            })?;
        let warehouse: Arc<dyn Warehouse> = mongo.clone();
        return Ok((warehouse, Box::new(ChangeStreamFeed::new(mongo, poll))));
    }
    let warehouse = open_warehouse(config).await?;
    let feed = OutboxFeed::new(warehouse.clone(), poll);
    Ok((warehouse, Box::new(feed)))
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `addr` (if any) until
/// `shutdown`. Ready means RabbitMQ and the warehouse both answer.
pub async fn serve_ops(
    addr: Option<&str>,
    broker: RabbitBroker,
    warehouse: Arc<dyn Warehouse>,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let readiness: dorafleet_telemetry::ops::Readiness = Arc::new(move || {
        let (broker, warehouse) = (broker.clone(), Arc::clone(&warehouse));
        Box::pin(async move {
            broker
                .queue_depth("tasks.normalize")
                .await
                .map_err(|e| format!("broker: {e}"))?;
            warehouse
                .runs(1)
                .await
                .map_err(|e| format!("warehouse: {e}"))?;
            Ok(())
        })
    });
    serve_ops_with(addr, readiness, shutdown).await
}

/// Serve `/metrics`, `/healthz` and `/readyz` (as `readiness` says) on
/// `addr`, if any, until `shutdown`.
pub async fn serve_ops_with(
    addr: Option<&str>,
    readiness: dorafleet_telemetry::ops::Readiness,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let Some(addr) = addr else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics address {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "serving /metrics /healthz /readyz");
    tokio::spawn(async move {
        if let Err(e) = dorafleet_telemetry::ops::serve(listener, readiness, shutdown).await {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(())
}

/// Sample the depth of every queue of the topology into the metrics, every
/// few seconds, until `shutdown`.
pub fn sample_queue_depths(broker: RabbitBroker, shutdown: tokio_util::sync::CancellationToken) {
    use dorafleet_broker::{DEAD_LETTER_QUEUE, EVENTS_QUEUE, Route};
    use dorafleet_core::{Source, Stage};
    let mut queues: Vec<String> = Route::all(&Stage::ALL, &Source::ALL)
        .iter()
        .map(Route::queue)
        .collect();
    queues.extend([DEAD_LETTER_QUEUE.to_owned(), EVENTS_QUEUE.to_owned()]);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            for queue in &queues {
                if let Ok(depth) = broker.queue_depth(queue).await {
                    dorafleet_telemetry::metrics::queue_depth(queue, depth);
                }
            }
        }
    });
}
