//! Bronze retention where no TTL index does it: the embedded warehouse
//! deletes pages older than `warehouse.bronze_retention_days` when a run
//! starts (MongoDB expires them by itself).

use crate::OperationError;
use chrono::Utc;
use dorafleet_core::Config;
use dorafleet_warehouse::BronzeStore;

/// Delete bronze pages fetched more than the retention ago; returns how
/// many (0 when retention is off).
pub async fn purge_expired_bronze(
    warehouse: &dyn BronzeStore,
    config: &Config,
) -> Result<u64, OperationError> {
    let days = config.warehouse.bronze_retention_days;
    if days == 0 {
        return Ok(0);
    }
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
    Ok(warehouse.purge_bronze_before(cutoff).await?)
}
