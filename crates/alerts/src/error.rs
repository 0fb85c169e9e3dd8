//! Monitor errors, by what the caller should do next.

use dorafleet_warehouse::WarehouseError;

/// Why the monitor failed, classed by what the caller should do next.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The warehouse is busy or unreachable: retry later; nothing was lost,
    /// the checkpoint did not move past the change being handled.
    #[error("warehouse unavailable (retrying): {0}")]
    Unavailable(String),
    /// A stored checkpoint or record cannot be read: fix or reset the
    /// checkpoint (`monitor.name`) and restart.
    #[error("monitor state is corrupt: {0}")]
    Corrupt(String),
    /// The configuration cannot work (e.g. a webhook client cannot be built): fix it and restart.
    #[error("monitor misconfigured: {0}")]
    Config(String),
    /// The warehouse failed; its own class says what to do (unavailable:
    /// retry, nothing was lost; misconfigured or corrupt: fix and restart).
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

impl MonitorError {
    /// Whether the monitor loop should wait and try again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MonitorError::Unavailable(_)
                | MonitorError::Warehouse(WarehouseError::Unavailable { .. })
        )
    }
}
