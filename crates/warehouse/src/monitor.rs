//! What the alert monitor keeps in the warehouse: the feed of gold changes,
//! its named checkpoints and the alerts it delivered.
//!
//! Gold changes are recorded by the warehouse itself, in the same transaction
//! as the gold upsert (an outbox), so a change can never be written without
//! its feed entry or the reverse. Only inserts and real value changes are
//! recorded: re-upserting identical values (a replay, a backfill that lands
//! on the same numbers) is not news and must not alert again.

use crate::GoldRecord;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a change created a gold record or changed its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoldChangeKind {
    Inserted,
    Updated,
}

impl GoldChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GoldChangeKind::Inserted => "inserted",
            GoldChangeKind::Updated => "updated",
        }
    }
}

/// One entry of the gold change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldChange {
    /// Position in the feed: strictly increasing in commit order.
    pub seq: u64,
    pub kind: GoldChangeKind,
    /// The record as written.
    pub record: GoldRecord,
    /// When the change was committed (for latency figures).
    pub written_at: DateTime<Utc>,
}

/// An alert the monitor delivered, by its dedup key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredAlert {
    pub key: String,
    /// The alert as sent (JSON).
    pub payload: String,
    pub delivered_at: DateTime<Utc>,
}
