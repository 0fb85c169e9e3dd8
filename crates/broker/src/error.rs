//! Broker errors, by what the caller should do next.

/// Why a broker operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The broker cannot be reached or refused the publish; retry after reconnecting.
    #[error("broker unavailable (retry after reconnecting): {0}")]
    Unavailable(String),
    /// No queue is bound for the message: a topology or routing bug, do not retry blindly.
    #[error("message unroutable (check the topology): {0}")]
    Unroutable(String),
    /// The broker was shut down; stop consuming.
    #[error("broker closed")]
    Closed,
}
