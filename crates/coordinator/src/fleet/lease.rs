//! The `coordinator` lease: only its holder acts, so starting two
//! coordinators is safe — the second waits as a standby. The lease lives in
//! the warehouse with a TTL; its holder renews it while it leads and gives up
//! leadership as soon as it may no longer hold it, so two never act at once.
//!
//! Giving up in time is not enough on its own: a coordinator paused past the
//! TTL (SIGSTOP, a frozen VM) wakes up believing it leads, and acts before
//! its next renewal tells it otherwise. So each taking of the lease has a
//! generation, the [`Fence`] every state write of the coordinator carries:
//! the warehouse refuses a write whose generation is no longer the lease's,
//! and the coordinator that gets [`WarehouseError::Fenced`] steps down.

use dorafleet_warehouse::{Fence, Warehouse, WarehouseError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

const LEASE: &str = "coordinator";

/// Wait until `name` holds the lease, trying every third of its TTL.
/// Returns the fence of its writes, or `None` when shut down before getting
/// the lease.
pub(super) async fn wait_for_lease(
    warehouse: &dyn Warehouse,
    name: &str,
    ttl: Duration,
    shutdown: &CancellationToken,
) -> Result<Option<Fence>, WarehouseError> {
    let mut announced = false;
    loop {
        if shutdown.is_cancelled() {
            return Ok(None);
        }
        if let Some(generation) = warehouse.acquire_lease(LEASE, name, ttl).await? {
            info!(%name, generation, "holding the coordinator lease");
            return Ok(Some(Fence::new(LEASE, generation)));
        }
        if !announced {
            info!("standby: another coordinator holds the lease");
            announced = true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(ttl / 3) => {}
        }
    }
}

/// Renew the lease every third of its TTL; give up leadership (cancel
/// `leadership`) as soon as a renewal fails, the lease could have expired,
/// or it was taken again under another generation than `fence`'s (another
/// coordinator held it meanwhile: what this one knows is stale).
pub(super) async fn keep_lease(
    warehouse: Arc<dyn Warehouse>,
    name: String,
    ttl: Duration,
    fence: Fence,
    leadership: CancellationToken,
) {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = leadership.cancelled() => return,
            _ = tokio::time::sleep(ttl / 3) => {}
        }
        match warehouse.acquire_lease(LEASE, &name, ttl).await {
            Ok(Some(generation)) if generation == fence.generation => {
                last_renewed = tokio::time::Instant::now();
            }
            Ok(Some(generation)) => {
                warn!(
                    held = fence.generation,
                    now = generation,
                    "the coordinator lease was held by another coordinator meanwhile (this one was paused past its TTL); stepping down"
                );
                leadership.cancel();
                return;
            }
            Ok(None) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use dorafleet_warehouse::sqlite::SqliteWarehouse;
    use std::time::Instant;
    use tokio::time::timeout;

    /// Longer than anything here takes when it works.
    const PATIENCE: Duration = Duration::from_secs(10);

    fn warehouse() -> Arc<dyn Warehouse> {
        Arc::new(SqliteWarehouse::open_in_memory().unwrap())
    }

    /// `name` waiting for the lease in the background.
    fn waiting(
        warehouse: &Arc<dyn Warehouse>,
        name: &'static str,
        ttl: Duration,
        shutdown: &CancellationToken,
    ) -> tokio::task::JoinHandle<Result<Option<Fence>, WarehouseError>> {
        let (warehouse, shutdown) = (Arc::clone(warehouse), shutdown.clone());
        tokio::spawn(async move { wait_for_lease(warehouse.as_ref(), name, ttl, &shutdown).await })
    }

    #[tokio::test]
    async fn a_second_holder_waits_while_the_first_keeps_the_lease_and_gets_it_once_released() {
        let warehouse = warehouse();
        // Renewed every 500 ms: far inside its TTL even on a busy machine.
        let ttl = Duration::from_millis(1500);
        let shutdown = CancellationToken::new();
        let fence = wait_for_lease(warehouse.as_ref(), "first", ttl, &shutdown)
            .await
            .unwrap()
            .expect("the first holds the lease");
        let leadership = CancellationToken::new();
        let keeper = tokio::spawn(keep_lease(
            Arc::clone(&warehouse),
            "first".into(),
            ttl,
            fence,
            leadership.clone(),
        ));
        let mut second = waiting(&warehouse, "second", ttl, &shutdown);

        // Past its TTL: the first renews, so the second never gets in.
        assert!(
            timeout(ttl * 2, &mut second).await.is_err(),
            "the second got the lease while the first kept it"
        );
        assert!(!leadership.is_cancelled(), "the first still leads");

        leadership.cancel();
        timeout(PATIENCE, keeper).await.unwrap().unwrap();
        release_lease(warehouse.as_ref(), "first").await.unwrap();

        let got = timeout(PATIENCE, second).await.unwrap().unwrap().unwrap();
        assert!(
            got.is_some(),
            "the second holds the lease once the first released it"
        );
        assert!(
            warehouse
                .acquire_lease(LEASE, "first", ttl)
                .await
                .unwrap()
                .is_none(),
            "and the first cannot take it back"
        );
    }

    #[tokio::test]
    async fn a_lease_left_unrenewed_passes_to_the_next_holder_after_its_ttl() {
        let warehouse = warehouse();
        let ttl = Duration::from_millis(300);
        let shutdown = CancellationToken::new();
        assert!(
            wait_for_lease(warehouse.as_ref(), "first", ttl, &shutdown)
                .await
                .unwrap()
                .is_some()
        );
        let taken = Instant::now();
        assert!(
            warehouse
                .acquire_lease(LEASE, "second", ttl)
                .await
                .unwrap()
                .is_none()
        );

        let got = timeout(PATIENCE, waiting(&warehouse, "second", ttl, &shutdown))
            .await
            .unwrap()
            .unwrap()
            .unwrap();

        assert!(got.is_some());
        assert!(
            taken.elapsed() >= ttl,
            "not before the first's lease expired"
        );
    }

    #[tokio::test]
    async fn shutdown_while_waiting_for_the_lease_returns_promptly_without_it() {
        let warehouse = warehouse();
        // A long TTL: the standby would next try in 20 s.
        let ttl = Duration::from_secs(60);
        let shutdown = CancellationToken::new();
        assert!(
            wait_for_lease(warehouse.as_ref(), "first", ttl, &shutdown)
                .await
                .unwrap()
                .is_some()
        );
        let standby_shutdown = CancellationToken::new();
        let mut second = waiting(&warehouse, "second", ttl, &standby_shutdown);
        // It tried, failed and waits (for its next try, 20 s away).
        assert!(
            timeout(Duration::from_millis(100), &mut second)
                .await
                .is_err()
        );

        let asked = Instant::now();
        standby_shutdown.cancel();
        let got = timeout(Duration::from_secs(2), second)
            .await
            .expect("returned promptly")
            .unwrap()
            .unwrap();

        assert!(got.is_none(), "shut down before getting the lease");
        assert!(asked.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_holder_already_shut_down_does_not_take_a_free_lease() {
        let warehouse = warehouse();
        let ttl = Duration::from_secs(60);
        let shutdown = CancellationToken::new();
        shutdown.cancel();

        let got = wait_for_lease(warehouse.as_ref(), "first", ttl, &shutdown)
            .await
            .unwrap();

        assert!(got.is_none());
        assert!(
            warehouse
                .acquire_lease(LEASE, "second", ttl)
                .await
                .unwrap()
                .is_some(),
            "the lease is still free"
        );
    }

    /// "first" takes the lease and a keeper renews it, until leadership ends.
    async fn first_keeps_the_lease(
        warehouse: &Arc<dyn Warehouse>,
        ttl: Duration,
    ) -> (tokio::task::JoinHandle<()>, CancellationToken) {
        let generation = warehouse.acquire_lease(LEASE, "first", ttl).await.unwrap();
        let leadership = CancellationToken::new();
        let keeper = tokio::spawn(keep_lease(
            Arc::clone(warehouse),
            "first".into(),
            ttl,
            Fence::new(LEASE, generation.expect("the lease was free")),
            leadership.clone(),
        ));
        (keeper, leadership)
    }

    #[tokio::test]
    async fn the_keeper_steps_down_when_another_holder_took_the_lease() {
        let warehouse = warehouse();
        // Its first renewal comes a second after the takeover below.
        let ttl = Duration::from_secs(3);
        let (keeper, leadership) = first_keeps_the_lease(&warehouse, ttl).await;
        // The first's lease is taken over (as after a pause longer than its TTL).
        release_lease(warehouse.as_ref(), "first").await.unwrap();
        assert!(
            warehouse
                .acquire_lease(LEASE, "second", ttl)
                .await
                .unwrap()
                .is_some()
        );

        timeout(PATIENCE, leadership.cancelled())
            .await
            .expect("the first gave up leadership");
        timeout(PATIENCE, keeper).await.unwrap().unwrap();
        assert!(
            warehouse
                .acquire_lease(LEASE, "first", ttl)
                .await
                .unwrap()
                .is_none(),
            "the second still holds it"
        );
    }

    #[tokio::test]
    async fn the_keeper_steps_down_when_it_got_the_lease_back_under_a_new_generation() {
        let warehouse = warehouse();
        let ttl = Duration::from_secs(3);
        let (keeper, leadership) = first_keeps_the_lease(&warehouse, ttl).await;
        // While the first was paused, the second held the lease and gave it
        // back: the first's next renewal takes a free lease, under a new
        // generation, and what it knew from before is stale.
        release_lease(warehouse.as_ref(), "first").await.unwrap();
        assert!(
            warehouse
                .acquire_lease(LEASE, "second", ttl)
                .await
                .unwrap()
                .is_some()
        );
        release_lease(warehouse.as_ref(), "second").await.unwrap();

        timeout(PATIENCE, leadership.cancelled())
            .await
            .expect("the first gave up leadership");
        timeout(PATIENCE, keeper).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn releasing_the_lease_lets_another_take_it_at_once() {
        let warehouse = warehouse();
        let ttl = Duration::from_secs(60);
        assert!(
            warehouse
                .acquire_lease(LEASE, "first", ttl)
                .await
                .unwrap()
                .is_some()
        );
        release_lease(warehouse.as_ref(), "second").await.unwrap();
        assert!(
            warehouse
                .acquire_lease(LEASE, "second", ttl)
                .await
                .unwrap()
                .is_none(),
            "only its holder releases a lease"
        );

        release_lease(warehouse.as_ref(), "first").await.unwrap();

        assert!(
            warehouse
                .acquire_lease(LEASE, "second", ttl)
                .await
                .unwrap()
                .is_some()
        );
    }
}
