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

/// The configured warehouse: SQLite or MongoDB, by the URL's scheme.
pub async fn open_warehouse(config: &Config) -> anyhow::Result<Arc<dyn Warehouse>> {
    dorafleet_warehouse::open(&config.warehouse)
        .await
        .with_context(|| {
            format!(
                "opening warehouse {}",
                dorafleet_warehouse::redacted_url(&config.warehouse.url)
            )
        })
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
