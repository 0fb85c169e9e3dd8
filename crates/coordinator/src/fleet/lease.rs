//! The `coordinator` lease: only its holder acts, so starting two
//! coordinators is safe — the second waits as a standby. The lease lives in
//! the warehouse with a TTL; its holder renews it while it leads and gives up
//! leadership as soon as it may no longer hold it, so two never act at once.

use dorafleet_warehouse::{Warehouse, WarehouseError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

const LEASE: &str = "coordinator";

/// Wait until `name` holds the lease, trying every third of its TTL.
/// Returns false when shut down before getting the lease.
pub(super) async fn wait_for_lease(
    warehouse: &dyn Warehouse,
    name: &str,
    ttl: Duration,
    shutdown: &CancellationToken,
) -> Result<bool, WarehouseError> {
    let mut announced = false;
    loop {
        if shutdown.is_cancelled() {
            return Ok(false);
        }
        if warehouse.acquire_lease(LEASE, name, ttl).await? {
            info!(%name, "holding the coordinator lease");
            return Ok(true);
        }
        if !announced {
            info!("standby: another coordinator holds the lease");
            announced = true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(false),
            _ = tokio::time::sleep(ttl / 3) => {}
        }
    }
}

/// Renew the lease every third of its TTL; give up leadership (cancel
/// `leadership`) as soon as a renewal fails or the lease could have expired.
pub(super) async fn keep_lease(
    warehouse: Arc<dyn Warehouse>,
    name: String,
    ttl: Duration,
    leadership: CancellationToken,
) {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = leadership.cancelled() => return,
            _ = tokio::time::sleep(ttl / 3) => {}
        }
        match warehouse.acquire_lease(LEASE, &name, ttl).await {
            Ok(true) => last_renewed = tokio::time::Instant::now(),
            Ok(false) => {
                warn!("another coordinator took the lease");
                leadership.cancel();
                return;
            }
            Err(e) if last_renewed.elapsed() < ttl * 2 / 3 => {
                warn!(error = %e, "could not renew the coordinator lease; will retry");
            }
            Err(e) => {
                warn!(error = %e, "could not renew the coordinator lease in time; stepping down");
                leadership.cancel();
                return;
            }
        }
    }
}

/// Hand the lease back, so a standby need not wait for its TTL.
pub(super) async fn release_lease(
    warehouse: &dyn Warehouse,
    name: &str,
) -> Result<(), WarehouseError> {
    warehouse.release_lease(LEASE, name).await
}
