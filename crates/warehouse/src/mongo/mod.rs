//! The fleet warehouse: MongoDB through the official driver.
//!
//! It keeps every promise the SQLite warehouse keeps (the contract suite runs
//! against both), using the cheapest MongoDB mechanism that gives the same
//! guarantee:
//!
//! - single-document atomic operations where one document carries the state
//!   (claiming a dead letter with its audit entry, leases, request slots,
//!   run upserts), so no transaction and no retry loop is needed;
//! - unique indexes plus an optimistic retry where a new row must be unique
//!   (definition versions);
//! - multi-document transactions where SQLite relies on one transaction
//!   across rows (a bronze page with its checkpoint, a finished extract with
//!   its coverage, a silver batch, a gold batch, a batch of task records, a
//!   finished replay). Transactions need a replica set, which change streams
//!   need anyway: [`MongoWarehouse::open`] refuses a standalone server.
//!
//! Writes use per-document upserts and `insert_one`, never the client-level
//! `bulkWrite` (MongoDB 8.0 only). Indexes are created when the warehouse is
//! opened; bronze has a TTL index on `fetched_at` for retention.

mod bronze;
mod codec;
mod dead_letters;
mod errors;
mod extract;
mod fleet;
mod gold;
mod gold_changes;
mod holds;
mod indexes;
mod monitor;
mod silver;

pub(crate) use errors::{abort_corrupt, classify, is_duplicate_key};

pub use gold_changes::{
    GoldChange, GoldChangeStream, GoldFeedError, decode_resume_token, encode_resume_token,
    is_change_stream_history_lost,
};
pub use mongodb::change_stream::event::ResumeToken;

use crate::{
    ArchivedLetter, BronzeFilter, BronzePage, BronzeTotals, Coverage, ExtractCheckpoint,
    GoldFilter, GoldRecord, LetterFilter, NormalizeCounts, Result, RunRecord, SilverBatch,
    TaskRecord, TeamSilver, Warehouse,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::{DeadLetter, Metric, Scope, Source, TaskEnvelope, Window};
use futures::future::BoxFuture;
use mongodb::options::{ClientOptions, ReadConcern, WriteConcern};
use mongodb::{Client, ClientSession, Database, bson::doc};
use std::time::Duration;
use uuid::Uuid;

/// The database used when the URL names none (`mongodb://host/` → `dorafleet`).
pub const DEFAULT_DATABASE: &str = "dorafleet";

#[derive(Debug, Clone)]
pub struct MongoWarehouse {
    client: Client,
    db: Database,
}

impl MongoWarehouse {
    /// Connect to the deployment a `mongodb://` or `mongodb+srv://` URL names,
    /// in the database of its path (default [`DEFAULT_DATABASE`]); check that
    /// it is a replica set; create the indexes; set bronze retention
    /// (`None` keeps pages for the longest TTL MongoDB accepts, 68 years).
    pub async fn open(url: &str, bronze_retention: Option<Duration>) -> Result<Self> {
        let options = ClientOptions::parse(url).await.map_err(classify)?;
        let database = options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        Self::connect(options, &database, bronze_retention).await
    }

    /// Like [`open`](Self::open), in the database `database` whatever the URL says.
    pub async fn open_database(
        url: &str,
        database: &str,
        bronze_retention: Option<Duration>,
    ) -> Result<Self> {
        let options = ClientOptions::parse(url).await.map_err(classify)?;
        Self::connect(options, database, bronze_retention).await
    }

    async fn connect(
        mut options: ClientOptions,
        database: &str,
        bronze_retention: Option<Duration>,
    ) -> Result<Self> {
        options
            .app_name
            .get_or_insert_with(|| "dorafleet".to_owned());
        let client = Client::with_options(options).map_err(classify)?;
        let db = client.database(database);
        indexes::require_replica_set(&db).await?;
        indexes::ensure(&db, bronze_retention).await?;
        Ok(MongoWarehouse { client, db })
    }

    /// The database holding the warehouse (tests drop it when done).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Follow changes to gold from `resume_after` (or from now): see
    /// [`GoldChangeStream`].
    pub async fn watch_gold(
        &self,
        resume_after: Option<ResumeToken>,
    ) -> Result<GoldChangeStream, GoldFeedError> {
        gold_changes::watch(&self.db, resume_after).await
    }

    /// Run `body` in a transaction (snapshot reads, majority commit). The
    /// driver retries the whole body on `TransientTransactionError` (e.g. a
    /// write conflict with a concurrent transaction) and the commit on
    /// `UnknownTransactionCommitResult`, so `body` must only read and write
    /// through the session and keep no other side effects.
    async fn transaction<C, R, F>(&self, context: C, body: F) -> Result<R>
    where
        F: for<'b> FnMut(
            &'b mut ClientSession,
            &'b mut C,
        ) -> BoxFuture<'b, mongodb::error::Result<R>>,
    {
        let mut session = self.client.start_session().await.map_err(classify)?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .and_run(context, body)
            .await
            .map_err(classify)
    }
}

#[async_trait]
impl Warehouse for MongoWarehouse {
    async fn append_bronze_page(
        &self,
        page: &BronzePage,
        checkpoint: &ExtractCheckpoint,
    ) -> Result<bool> {
        bronze::append_page(self, page, checkpoint).await
    }

    async fn extract_checkpoint(&self, task_id: Uuid) -> Result<Option<ExtractCheckpoint>> {
        extract::checkpoint(&self.db, task_id).await
    }

    async fn complete_extract(
        &self,
        checkpoint: &ExtractCheckpoint,
        source: Source,
        scope: &Scope,
        window: Window,
    ) -> Result<()> {
        extract::complete(self, checkpoint, source, scope, window).await
    }

    async fn coverage(&self, source: Source, scope: &Scope) -> Result<Option<Coverage>> {
        extract::coverage(&self.db, source, scope).await
    }

    async fn upsert_silver(&self, batch: &SilverBatch) -> Result<()> {
        silver::upsert(self, batch).await
    }

    async fn team_silver(&self, team_id: &str) -> Result<TeamSilver> {
        silver::team(&self.db, team_id).await
    }

    async fn normalize_counts(&self, run_id: Option<Uuid>) -> Result<Vec<NormalizeCounts>> {
        silver::counts(&self.db, run_id).await
    }

    async fn upsert_gold(&self, records: &[GoldRecord]) -> Result<()> {
        gold::upsert(self, records).await
    }

    async fn gold(&self, filter: &GoldFilter) -> Result<Vec<GoldRecord>> {
        gold::query(&self.db, filter).await
    }

    async fn definition_version(&self, metric: Metric, fingerprint: &str) -> Result<u32> {
        gold::definition_version(&self.db, metric, fingerprint).await
    }

    async fn bronze_pages(&self, filter: &BronzeFilter) -> Result<Vec<BronzePage>> {
        bronze::pages(&self.db, filter).await
    }

    async fn bronze_totals(&self, run_id: Option<Uuid>) -> Result<Vec<BronzeTotals>> {
        bronze::totals(&self.db, run_id).await
    }

    async fn purge_bronze_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        bronze::purge_before(&self.db, cutoff).await
    }

    async fn store_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        dead_letters::store(&self.db, letter).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        dead_letters::list(&self.db, limit).await
    }

    async fn archived_letters(&self, filter: &LetterFilter) -> Result<Vec<ArchivedLetter>> {
        dead_letters::archived(&self.db, filter).await
    }

    async fn claim_letter(
        &self,
        id: Uuid,
        actor: &str,
        stale_after: Duration,
    ) -> Result<Option<ArchivedLetter>> {
        dead_letters::claim(&self.db, id, actor, stale_after).await
    }

    async fn finish_replay(&self, id: Uuid, actor: &str, replayed: &TaskEnvelope) -> Result<()> {
        dead_letters::finish_replay(self, id, actor, replayed).await
    }

    async fn abandon_replay(&self, id: Uuid, actor: &str, reason: &str) -> Result<()> {
        dead_letters::abandon(&self.db, id, actor, reason).await
    }

    async fn discard_letter(&self, id: Uuid, actor: &str, reason: &str) -> Result<bool> {
        dead_letters::discard(&self.db, id, actor, reason).await
    }

    async fn save_run(&self, run: &RunRecord) -> Result<()> {
        fleet::save_run(&self.db, run).await
    }

    async fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        fleet::runs(&self.db, None, limit).await
    }

    async fn run(&self, run_id: Uuid) -> Result<Option<RunRecord>> {
        Ok(fleet::runs(&self.db, Some(run_id), 1)
            .await?
            .into_iter()
            .next())
    }

    async fn save_tasks(&self, tasks: &[TaskRecord]) -> Result<()> {
        fleet::save_tasks(self, tasks).await
    }

    async fn run_tasks(&self, run_id: Uuid) -> Result<Vec<TaskRecord>> {
        fleet::run_tasks(&self.db, run_id).await
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        fleet::acquire_lease(&self.db, name, holder, ttl).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        fleet::release_lease(&self.db, name, holder).await
    }

    async fn reserve_slot(&self, key: &str, interval: Duration) -> Result<DateTime<Utc>> {
        fleet::reserve_slot(&self.db, key, interval).await
    }

    async fn hold_slots_until(&self, key: &str, not_before: DateTime<Utc>) -> Result<()> {
        fleet::hold_slots_until(&self.db, key, not_before).await
    }

    async fn gold_changes_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<crate::GoldChange>> {
        monitor::changes_after(&self.db, after_seq, limit).await
    }

    async fn purge_gold_changes(
        &self,
        through_seq: u64,
        written_before: DateTime<Utc>,
    ) -> Result<u64> {
        monitor::purge_changes(&self.db, through_seq, written_before).await
    }

    async fn monitor_checkpoint(&self, name: &str) -> Result<Option<String>> {
        monitor::checkpoint(&self.db, name).await
    }

    async fn save_monitor_checkpoint(&self, name: &str, checkpoint: &str) -> Result<()> {
        monitor::save_checkpoint(&self.db, name, checkpoint).await
    }

    async fn alert_delivered(&self, key: &str) -> Result<bool> {
        monitor::alert_delivered(&self.db, key).await
    }

    async fn record_delivered_alert(&self, key: &str, payload: &str) -> Result<bool> {
        monitor::record_delivered(&self.db, key, payload).await
    }

    async fn delivered_alerts(&self, limit: usize) -> Result<Vec<crate::DeliveredAlert>> {
        monitor::delivered(&self.db, limit).await
    }

    async fn save_hold(&self, hold: &crate::Hold) -> Result<()> {
        holds::save(&self.db, hold).await
    }

    async fn holds(&self, filter: &crate::HoldFilter) -> Result<Vec<crate::Hold>> {
        holds::select(&self.db, filter).await
    }

    async fn resolve_holds(
        &self,
        filter: &crate::HoldFilter,
        status: crate::HoldStatus,
        resolution: &crate::HoldResolution,
    ) -> Result<Vec<crate::Hold>> {
        holds::resolve(&self.db, filter, status, resolution).await
    }
}

/// The document filter `{_id: id}`.
pub(crate) fn by_id(id: impl Into<mongodb::bson::Bson>) -> mongodb::bson::Document {
    doc! { "_id": id.into() }
}
