//! Warehouse errors, by what the caller should do next.

use dorafleet_core::TaskError;

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The store is busy or unreachable; the operation may succeed if retried.
    #[error("warehouse unavailable (retry later): {0}")]
    Unavailable(String),
    /// The configuration names a warehouse that cannot be opened; fix it and restart.
    #[error("warehouse misconfigured: {0}")]
    Config(String),
    /// Stored data could not be read back (a bug or manual tampering); do not retry.
    #[error("warehouse data is corrupt: {0}")]
    Corrupt(String),
}

impl From<WarehouseError> for TaskError {
    fn from(e: WarehouseError) -> Self {
        match e {
            WarehouseError::Unavailable(_) => TaskError::Transient(e.to_string()),
            WarehouseError::Config(_) | WarehouseError::Corrupt(_) => {
                TaskError::Permanent(e.to_string())
            }
        }
    }
}
