//! The embedded warehouse: one SQLite file in WAL mode.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool
//! against one connection behind a mutex. One writer at a time is what SQLite
//! allows anyway, and WAL keeps readers (the CLI, other processes sharing the
//! file) from blocking it. The schema is created and migrated by the program.

mod bronze;
mod dead_letters;
mod fleet;
mod gold;
mod holds;
mod monitor;
mod schema;
mod silver;

use crate::{
    ArchivedLetter, BronzeFilter, BronzePage, BronzeTotals, Coverage, DeliveredAlert,
    ExtractCheckpoint, GoldChange, GoldFilter, GoldRecord, LetterFilter, NormalizeCounts, Result,
    RunRecord, SilverBatch, TaskRecord, TeamSilver, Warehouse, WarehouseError,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use dorafleet_core::{DeadLetter, Metric, Scope, Source, TaskEnvelope, Window};
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct SqliteWarehouse {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteWarehouse {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                WarehouseError::Config(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| WarehouseError::Config(format!("cannot open {}: {e}", path.display())))?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(unavailable)?;
        Self::init(conn)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(unavailable)?;
        // Switching a new file to WAL takes an exclusive lock for which SQLite
        // does not always wait (two processes opening the same new file), so
        // that step is retried for a bounded time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
                Ok(_) => break,
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(unavailable)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteWarehouse {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| WarehouseError::Unavailable("connection mutex poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| WarehouseError::Unavailable(format!("warehouse task failed: {e}")))?
    }
}

/// A write transaction. IMMEDIATE takes the write lock up front: a deferred
/// transaction that reads and then writes cannot wait for another process's
/// write (SQLite answers "database is locked" at once instead of waiting),
/// so every transaction that writes starts as a writer.
pub(crate) fn write_tx(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(unavailable)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub(crate) fn unavailable(e: rusqlite::Error) -> WarehouseError {
    WarehouseError::Unavailable(e.to_string())
}

/// Timestamps are stored as fixed-width RFC 3339 UTC text, so text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| WarehouseError::Corrupt(format!("bad timestamp `{s}`: {e}")))
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| WarehouseError::Corrupt(format!("bad uuid `{s}`: {e}")))
}

pub(crate) fn parse_source(s: &str) -> Result<Source> {
    s.parse()
        .map_err(|e| WarehouseError::Corrupt(format!("{e}")))
}

#[async_trait]
impl Warehouse for SqliteWarehouse {
    async fn append_bronze_page(
        &self,
        page: &BronzePage,
        checkpoint: &ExtractCheckpoint,
    ) -> Result<bool> {
        let (page, checkpoint) = (page.clone(), checkpoint.clone());
        self.with_conn(move |c| bronze::append_page(c, &page, &checkpoint))
            .await
    }

    async fn extract_checkpoint(&self, task_id: Uuid) -> Result<Option<ExtractCheckpoint>> {
        self.with_conn(move |c| bronze::checkpoint(c, task_id))
            .await
    }

    async fn complete_extract(
        &self,
        checkpoint: &ExtractCheckpoint,
        source: Source,
        scope: &Scope,
        window: Window,
    ) -> Result<()> {
        let (checkpoint, scope) = (checkpoint.clone(), scope.clone());
        self.with_conn(move |c| bronze::complete(c, &checkpoint, source, &scope, window))
            .await
    }

    async fn coverage(&self, source: Source, scope: &Scope) -> Result<Option<Coverage>> {
        let scope = scope.clone();
        self.with_conn(move |c| bronze::coverage(c, source, &scope))
            .await
    }

    async fn upsert_silver(&self, batch: &SilverBatch) -> Result<()> {
        let batch = batch.clone();
        self.with_conn(move |c| silver::upsert(c, &batch)).await
    }

    async fn team_silver(&self, team_id: &str) -> Result<TeamSilver> {
        let team_id = team_id.to_owned();
        self.with_conn(move |c| silver::team(c, &team_id)).await
    }

    async fn normalize_counts(&self, run_id: Option<Uuid>) -> Result<Vec<NormalizeCounts>> {
        self.with_conn(move |c| silver::counts(c, run_id)).await
    }

    async fn upsert_gold(&self, records: &[GoldRecord]) -> Result<()> {
        let records = records.to_vec();
        self.with_conn(move |c| gold::upsert(c, &records)).await
    }

    async fn gold(&self, filter: &GoldFilter) -> Result<Vec<GoldRecord>> {
        let filter = filter.clone();
        self.with_conn(move |c| gold::query(c, &filter)).await
    }

    async fn definition_version(&self, metric: Metric, fingerprint: &str) -> Result<u32> {
        let fingerprint = fingerprint.to_owned();
        self.with_conn(move |c| gold::definition_version(c, metric, &fingerprint))
            .await
    }

    async fn gold_changes_after(&self, after_seq: u64, limit: usize) -> Result<Vec<GoldChange>> {
        self.with_conn(move |c| monitor::changes_after(c, after_seq, limit))
            .await
    }

    async fn purge_gold_changes(
        &self,
        through_seq: u64,
        written_before: DateTime<Utc>,
    ) -> Result<u64> {
        self.with_conn(move |c| monitor::purge_changes(c, through_seq, written_before))
            .await
    }

    async fn monitor_checkpoint(&self, name: &str) -> Result<Option<String>> {
        let name = name.to_owned();
        self.with_conn(move |c| monitor::checkpoint(c, &name)).await
    }

    async fn save_monitor_checkpoint(&self, name: &str, checkpoint: &str) -> Result<()> {
        let (name, checkpoint) = (name.to_owned(), checkpoint.to_owned());
        self.with_conn(move |c| monitor::save_checkpoint(c, &name, &checkpoint))
            .await
    }

    async fn alert_delivered(&self, key: &str) -> Result<bool> {
        let key = key.to_owned();
        self.with_conn(move |c| monitor::alert_delivered(c, &key))
            .await
    }

    async fn record_delivered_alert(&self, key: &str, payload: &str) -> Result<bool> {
        let (key, payload) = (key.to_owned(), payload.to_owned());
        self.with_conn(move |c| monitor::record_delivered(c, &key, &payload))
            .await
    }

    async fn delivered_alerts(&self, limit: usize) -> Result<Vec<DeliveredAlert>> {
        self.with_conn(move |c| monitor::delivered(c, limit)).await
    }

    async fn bronze_pages(&self, filter: &BronzeFilter) -> Result<Vec<BronzePage>> {
        let filter = filter.clone();
        self.with_conn(move |c| bronze::pages(c, &filter)).await
    }

    async fn bronze_totals(&self, run_id: Option<Uuid>) -> Result<Vec<BronzeTotals>> {
        self.with_conn(move |c| bronze::totals(c, run_id)).await
    }

    async fn purge_bronze_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        self.with_conn(move |c| bronze::purge_before(c, cutoff))
            .await
    }

    async fn store_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        let letter = letter.clone();
        self.with_conn(move |c| dead_letters::store(c, &letter))
            .await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.with_conn(move |c| dead_letters::list(c, limit)).await
    }

    async fn archived_letters(&self, filter: &LetterFilter) -> Result<Vec<ArchivedLetter>> {
        let filter = filter.clone();
        self.with_conn(move |c| dead_letters::archived(c, &filter))
            .await
    }

    async fn claim_letter(
        &self,
        id: Uuid,
        actor: &str,
        stale_after: std::time::Duration,
    ) -> Result<Option<ArchivedLetter>> {
        let actor = actor.to_owned();
        self.with_conn(move |c| dead_letters::claim(c, id, &actor, stale_after))
            .await
    }

    async fn finish_replay(&self, id: Uuid, actor: &str, replayed: &TaskEnvelope) -> Result<()> {
        let (actor, replayed) = (actor.to_owned(), replayed.clone());
        self.with_conn(move |c| dead_letters::finish_replay(c, id, &actor, &replayed))
            .await
    }

    async fn abandon_replay(&self, id: Uuid, actor: &str, reason: &str) -> Result<()> {
        let (actor, reason) = (actor.to_owned(), reason.to_owned());
        self.with_conn(move |c| dead_letters::abandon(c, id, &actor, &reason))
            .await
    }

    async fn discard_letter(&self, id: Uuid, actor: &str, reason: &str) -> Result<bool> {
        let (actor, reason) = (actor.to_owned(), reason.to_owned());
        self.with_conn(move |c| dead_letters::discard(c, id, &actor, &reason))
            .await
    }

    async fn save_run(&self, run: &RunRecord) -> Result<()> {
        let run = run.clone();
        self.with_conn(move |c| fleet::save_run(c, &run)).await
    }

    async fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        self.with_conn(move |c| fleet::runs(c, limit)).await
    }

    async fn run(&self, run_id: Uuid) -> Result<Option<RunRecord>> {
        self.with_conn(move |c| fleet::run(c, run_id)).await
    }

    async fn save_tasks(&self, tasks: &[TaskRecord]) -> Result<()> {
        let tasks = tasks.to_vec();
        self.with_conn(move |c| fleet::save_tasks(c, &tasks)).await
    }

    async fn run_tasks(&self, run_id: Uuid) -> Result<Vec<TaskRecord>> {
        self.with_conn(move |c| fleet::run_tasks(c, run_id)).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.with_conn(move |c| fleet::acquire_lease(c, &name, &holder, ttl))
            .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.with_conn(move |c| fleet::release_lease(c, &name, &holder))
            .await
    }

    async fn reserve_slot(
        &self,
        key: &str,
        interval: std::time::Duration,
    ) -> Result<DateTime<Utc>> {
        let key = key.to_owned();
        self.with_conn(move |c| fleet::reserve_slot(c, &key, interval))
            .await
    }

    async fn hold_slots_until(&self, key: &str, not_before: DateTime<Utc>) -> Result<()> {
        let key = key.to_owned();
        self.with_conn(move |c| fleet::hold_slots_until(c, &key, not_before))
            .await
    }

    async fn save_hold(&self, hold: &crate::Hold) -> Result<()> {
        let hold = hold.clone();
        self.with_conn(move |c| holds::save(c, &hold)).await
    }

    async fn holds(&self, filter: &crate::HoldFilter) -> Result<Vec<crate::Hold>> {
        let filter = filter.clone();
        self.with_conn(move |c| holds::select(c, &filter)).await
    }

    async fn resolve_holds(
        &self,
        filter: &crate::HoldFilter,
        status: crate::HoldStatus,
        resolution: &crate::HoldResolution,
    ) -> Result<Vec<crate::Hold>> {
        let (filter, resolution) = (filter.clone(), resolution.clone());
        self.with_conn(move |c| holds::resolve(c, &filter, status, &resolution))
            .await
    }
}
