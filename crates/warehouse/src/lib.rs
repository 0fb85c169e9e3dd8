//! The medallion warehouse behind one small, object-safe trait.
//!
//! Every role talks to the warehouse through [`Warehouse`], so the embedded
//! SQLite file and MongoDB are interchangeable (chosen by the URL scheme in
//! [`open`]); both must pass the one contract suite in [`contract`]. This crate holds the bronze layer (raw API
//! pages, immutable), the extract checkpoints that let a retried task resume
//! at its next page, the high-watermarks that make syncs incremental, and the
//! dead-letter archive.

pub mod contract;
mod error;
mod fleet;
mod holds;
mod layers;
mod letters;
mod model;
pub mod mongo;
mod monitor;
pub mod sqlite;

pub use error::WarehouseError;
pub use fleet::{RunRecord, RunStatus, TaskRecord, TaskState};
pub use holds::{Hold, HoldEvidence, HoldFilter, HoldResolution, HoldStatus};
pub use layers::{
    Coverage, GoldFilter, GoldRecord, NormalizeCounts, SilverBatch, SilverChange, SilverDeployment,
    SilverIncident, TeamSilver,
};
pub use letters::{ArchivedLetter, AuditEntry, LetterFilter, LetterStatus};
pub use model::{BronzeFilter, BronzePage, BronzeTotals, ExtractCheckpoint};
pub use monitor::{DeliveredAlert, GoldChange, GoldChangeKind};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::config::WarehouseConfig;
use dorafleet_core::{DeadLetter, Metric, Scope, Source, TaskEnvelope, Window};
use std::sync::Arc;
use uuid::Uuid;

pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

#[async_trait]
pub trait Warehouse: Send + Sync + std::fmt::Debug {
    /// Store one fetched page and the task's new checkpoint in one transaction,
    /// so a crash can never leave a page without its checkpoint or the reverse.
    /// Returns `false` when the page (task, seq) was already stored: bronze is
    /// immutable and the first copy wins.
    async fn append_bronze_page(
        &self,
        page: &BronzePage,
        checkpoint: &ExtractCheckpoint,
    ) -> Result<bool>;

    /// The last checkpoint of an extract task, if it ever stored a page.
    async fn extract_checkpoint(&self, task_id: Uuid) -> Result<Option<ExtractCheckpoint>>;

    /// Mark an extract task finished and extend its scope's coverage by the
    /// window it extracted, in one transaction: the high-watermark moves to
    /// `window.to` (never backwards), the start of coverage to `window.from`
    /// (never forwards). Everything in between is in bronze.
    async fn complete_extract(
        &self,
        checkpoint: &ExtractCheckpoint,
        source: Source,
        scope: &Scope,
        window: Window,
    ) -> Result<()>;

    /// Where the next incremental sync of this scope starts.
    async fn high_watermark(&self, source: Source, scope: &Scope) -> Result<Option<DateTime<Utc>>> {
        Ok(self.coverage(source, scope).await?.map(|c| c.to))
    }

    /// The time span this scope has been extracted over, if ever.
    async fn coverage(&self, source: Source, scope: &Scope) -> Result<Option<Coverage>>;

    /// Upsert a normalize task's output by natural keys, with its counts, in
    /// one transaction: writing the same batch twice changes nothing.
    async fn upsert_silver(&self, batch: &SilverBatch) -> Result<()>;

    /// All silver of one team.
    async fn team_silver(&self, team_id: &str) -> Result<TeamSilver>;

    /// Normalize counts recorded for a run (or all runs).
    async fn normalize_counts(&self, run_id: Option<Uuid>) -> Result<Vec<NormalizeCounts>>;

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

    /// Bronze pages in storage order (by task, then page sequence).
    async fn bronze_pages(&self, filter: &BronzeFilter) -> Result<Vec<BronzePage>>;

    /// Pages and records per source, optionally for one run.
    async fn bronze_totals(&self, run_id: Option<Uuid>) -> Result<Vec<BronzeTotals>>;

    /// Delete bronze pages fetched before `cutoff` (retention); returns how many.
    async fn purge_bronze_before(&self, cutoff: DateTime<Utc>) -> Result<u64>;

    /// Archive a dead letter. Idempotent on the letter's id: storing it twice
    /// keeps one record.
    async fn store_dead_letter(&self, letter: &DeadLetter) -> Result<()>;

    /// Dead letters, newest first.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>>;

    /// Archived letters matching `filter`, with status and audit, newest first.
    async fn archived_letters(&self, filter: &LetterFilter) -> Result<Vec<ArchivedLetter>>;

    /// Claim a letter for replay: atomically move it from `dead` (or from a
    /// `replaying` claim older than `stale_after`, left by a replay that
    /// died) to `replaying`, audited. `None` when it is not claimable.
    async fn claim_letter(
        &self,
        id: Uuid,
        actor: &str,
        stale_after: std::time::Duration,
    ) -> Result<Option<ArchivedLetter>>;

    /// The claimed letter's task was republished as `replayed`: mark it
    /// replayed (audited, replay count + 1), reset the task's record to
    /// pending and its run to running, so the run's gates wait for it again —
    /// in one transaction.
    async fn finish_replay(&self, id: Uuid, actor: &str, replayed: &TaskEnvelope) -> Result<()>;

    /// Give a claim back (the republish failed): `replaying` → `dead`, audited.
    async fn abandon_replay(&self, id: Uuid, actor: &str, reason: &str) -> Result<()>;

    /// Mark a `dead` letter discarded with a reason, audited. Returns false
    /// when the letter is not `dead` (already replayed, discarded or claimed).
    async fn discard_letter(&self, id: Uuid, actor: &str, reason: &str) -> Result<bool>;

    /// Create or update a run.
    async fn save_run(&self, run: &RunRecord) -> Result<()>;

    /// Runs, newest first.
    async fn runs(&self, limit: usize) -> Result<Vec<RunRecord>>;

    /// One run, if it exists.
    async fn run(&self, run_id: Uuid) -> Result<Option<RunRecord>>;

    /// Create or update task records (by task id), in one transaction.
    async fn save_tasks(&self, tasks: &[TaskRecord]) -> Result<()>;

    /// Every task of a run, in creation order.
    async fn run_tasks(&self, run_id: Uuid) -> Result<Vec<TaskRecord>>;

    /// Take or renew the lease `name` for `holder` until `now + ttl`. Returns
    /// whether `holder` holds it: it is free, expired, or already theirs.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool>;

    /// Give the lease up (only if `holder` holds it).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;

    /// Reserve the next slot of schedule `key`: the later of now and the
    /// schedule's next free instant; the one after it is `interval` later.
    /// Across processes sharing the warehouse, slots are never closer than
    /// `interval` (given synchronised clocks).
    async fn reserve_slot(&self, key: &str, interval: std::time::Duration)
    -> Result<DateTime<Utc>>;

    /// No slot of schedule `key` before `not_before`.
    async fn hold_slots_until(&self, key: &str, not_before: DateTime<Utc>) -> Result<()>;

    /// Store a sensor's hold. Storing the same `hold_id` again changes
    /// nothing (a retried task), whatever its status meanwhile.
    async fn save_hold(&self, hold: &Hold) -> Result<()>;

    /// The holds `filter` selects, oldest first.
    async fn holds(&self, filter: &HoldFilter) -> Result<Vec<Hold>>;

    /// Resolve every *open* hold `filter` selects as `status` (released or
    /// cleared) with who and why, in one transaction; returns the holds
    /// resolved. Holds already resolved keep their first resolution.
    async fn resolve_holds(
        &self,
        filter: &HoldFilter,
        status: HoldStatus,
        resolution: &HoldResolution,
    ) -> Result<Vec<Hold>>;
}

/// Whether a warehouse URL names MongoDB.
pub fn is_mongodb_url(url: &str) -> bool {
    url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")
}

/// Open the MongoDB warehouse a `mongodb://` URL names, as its own type (the
/// monitor follows its gold change stream).
pub async fn open_mongodb(config: &WarehouseConfig) -> Result<Arc<mongo::MongoWarehouse>> {
    let retention = (config.bronze_retention_days > 0).then(|| {
        std::time::Duration::from_secs(u64::from(config.bronze_retention_days) * 24 * 3600)
    });
    Ok(Arc::new(
        mongo::MongoWarehouse::open(&config.url, retention).await?,
    ))
}

/// Open the warehouse `config.url` names, by its scheme:
///
/// - `sqlite:PATH` or `sqlite::memory:` — the embedded SQLite file;
/// - `mongodb://…` or `mongodb+srv://…` — MongoDB (a replica set), in the
///   database the URL's path names (default `dorafleet`), with bronze expiring
///   after `bronze_retention_days` (0 keeps it).
///
/// Every role opens the warehouse through this one function.
pub async fn open(config: &WarehouseConfig) -> Result<Arc<dyn Warehouse>> {
    let url = config.url.as_str();
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.to_owned();
        let warehouse = tokio::task::spawn_blocking(move || {
            if path == ":memory:" {
                sqlite::SqliteWarehouse::open_in_memory()
            } else {
                sqlite::SqliteWarehouse::open(path)
            }
        })
        .await
        .map_err(|e| WarehouseError::Unavailable(format!("opening the warehouse failed: {e}")))??;
        return Ok(Arc::new(warehouse));
    }
    if is_mongodb_url(url) {
        return Ok(open_mongodb(config).await?);
    }
    Err(WarehouseError::Config(format!(
        "unsupported warehouse URL `{}`: expected sqlite:PATH, mongodb://… or mongodb+srv://…",
        redacted_url(url)
    )))
}

/// The URL without its `user:password@` part, for messages and logs.
pub fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> WarehouseConfig {
        WarehouseConfig {
            url: url.into(),
            ..WarehouseConfig::default()
        }
    }

    #[tokio::test]
    async fn the_url_scheme_picks_the_backend_and_unknown_schemes_are_refused() {
        let memory = open(&config("sqlite::memory:")).await.unwrap();
        assert!(format!("{memory:?}").contains("SqliteWarehouse"));
        let err = open(&config("postgres://ops:hunter2@db/dorafleet"))
            .await
            .unwrap_err();
        assert!(matches!(err, WarehouseError::Config(_)), "{err}");
        assert!(err.to_string().contains("mongodb://"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(
            redacted_url("mongodb://ops:s3cret@db1:27017,db2/dorafleet?replicaSet=rs0"),
            "mongodb://…@db1:27017,db2/dorafleet?replicaSet=rs0"
        );
        assert_eq!(redacted_url("sqlite:dorafleet.db"), "sqlite:dorafleet.db");
    }

    #[tokio::test]
    async fn a_malformed_mongodb_url_is_a_configuration_error() {
        let err = open(&config("mongodb://")).await.unwrap_err();
        assert!(matches!(err, WarehouseError::Config(_)), "{err}");
    }
}
