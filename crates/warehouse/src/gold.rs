//! The gold layer: one value per (day, team, metric), its definition
//! versions, and the feed of gold changes the alert monitor follows.
//!
//! Gold changes are recorded by the warehouse itself, in the same transaction
//! as the gold upsert (an outbox), so a change can never be written without
//! its feed entry or the reverse. Only inserts and real value changes are
//! recorded: re-upserting identical values (a replay, a backfill that lands
//! on the same numbers) is not news and must not alert again.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use dorafleet_core::Metric;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One day's value of one metric for one team. Its absence means "unknown".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldRecord {
    /// The UTC day the value is for.
    pub date: NaiveDate,
    /// The team's configured id (`[[teams]] id`).
    pub team_id: String,
    /// Which DORA metric this is.
    pub metric: Metric,
    /// `None` when the metric is undefined that day (no sample), which is
    /// different from unknown: the inputs were complete and there was nothing.
    pub value: Option<f64>,
    /// Number of observations behind the value (for deployment frequency,
    /// the day's deployments).
    pub sample_size: u64,
    /// The individual observations behind a median or a rate (hours, or 0/1
    /// per deployment), so a range can be summarised exactly.
    pub samples: Vec<f64>,
    /// The version of the metric's definition the value was computed under
    /// (see [`GoldStore::definition_version`]).
    pub definition_version: u32,
    /// The run that computed the value.
    pub run_id: Uuid,
    /// When the value was computed (UTC).
    pub computed_at: DateTime<Utc>,
    /// All sources of the team succeeded for that day.
    pub complete: bool,
}

/// Which gold records [`GoldStore::gold`] returns; the default selects all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GoldFilter {
    /// Only these teams (by id); empty means every team.
    pub teams: Vec<String>,
    /// Only these metrics; empty means every metric.
    pub metrics: Vec<Metric>,
    /// First day included (inclusive).
    pub from: Option<NaiveDate>,
    /// Day the range ends before (exclusive).
    pub to: Option<NaiveDate>,
}

/// Whether a change created a gold record or changed its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoldChangeKind {
    /// The first record for its (date, team, metric).
    Inserted,
    /// An existing record whose values changed.
    Updated,
}

impl GoldChangeKind {
    /// The snake_case name, as serialized and stored.
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
    /// Whether the record was created or changed.
    pub kind: GoldChangeKind,
    /// The record as written.
    pub record: GoldRecord,
    /// When the change was committed (for latency figures).
    pub written_at: DateTime<Utc>,
}

/// Daily metrics, their definition versions and the change feed.
#[async_trait]
pub trait GoldStore: Send + Sync + std::fmt::Debug {
    /// Upsert gold records by (date, team, metric) in one transaction. Each
    /// record that is new or whose values changed (value, samples, definition
    /// version, completeness — not its run or computation time) is appended
    /// to the gold change feed in the same transaction.
    async fn upsert_gold(&self, records: &[GoldRecord]) -> Result<()>;

    /// Gold records, ordered by team, date and metric.
    async fn gold(&self, filter: &GoldFilter) -> Result<Vec<GoldRecord>>;

    /// The version of `metric`'s definition with this fingerprint: the known
    /// one, or the next number when the definition is new.
    async fn definition_version(&self, metric: Metric, fingerprint: &str) -> Result<u32>;

    /// Gold changes with a sequence above `after_seq`, oldest first, at most `limit`.
    async fn gold_changes_after(&self, after_seq: u64, limit: usize) -> Result<Vec<GoldChange>>;

    /// Drop gold changes at or below `through_seq` that were written before
    /// `written_before` (retention: a reader has passed them and they are
    /// old); returns how many.
    async fn purge_gold_changes(
        &self,
        through_seq: u64,
        written_before: DateTime<Utc>,
    ) -> Result<u64>;
}
