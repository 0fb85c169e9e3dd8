//! What the alert monitor keeps in the warehouse so that it misses no gold
//! change and sends no alert twice across restarts: its named checkpoints
//! (a position in the gold change feed, or a change-stream resume token) and
//! the keys of the alerts it delivered.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An alert the monitor delivered, by its dedup key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredAlert {
    /// The alert's dedup key; one record per key.
    pub key: String,
    /// The alert as sent (JSON).
    pub payload: String,
    /// When it was recorded as delivered (UTC).
    pub delivered_at: DateTime<Utc>,
}

/// The alert monitor's checkpoints and delivered alerts.
#[async_trait]
pub trait MonitorState: Send + Sync + std::fmt::Debug {
    /// The checkpoint a monitor named `name` saved last (opaque to the warehouse).
    async fn monitor_checkpoint(&self, name: &str) -> Result<Option<String>>;

    /// Replace the checkpoint of monitor `name`.
    async fn save_monitor_checkpoint(&self, name: &str, checkpoint: &str) -> Result<()>;

    /// Whether an alert with this dedup key was delivered.
    async fn alert_delivered(&self, key: &str) -> Result<bool>;

    /// Record an alert as delivered, atomically insert-if-absent: `true`
    /// when the key was new, `false` when it was already recorded (the first
    /// record is kept).
    async fn record_delivered_alert(&self, key: &str, payload: &str) -> Result<bool>;

    /// Delivered alerts, oldest first, at most `limit`.
    async fn delivered_alerts(&self, limit: usize) -> Result<Vec<DeliveredAlert>>;
}
