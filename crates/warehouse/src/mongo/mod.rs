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
mod gold;
mod gold_changes;
mod holds;
mod indexes;
mod ledger;
mod monitor;
mod silver;
mod slots;

pub(crate) use errors::{abort_corrupt, classify, is_duplicate_key};

pub use gold_changes::{
    GoldChange, GoldChangeStream, GoldFeedError, decode_resume_token, encode_resume_token,
    is_change_stream_history_lost,
};
pub use mongodb::change_stream::event::ResumeToken;

use crate::Result;
use futures::future::BoxFuture;
use mongodb::options::{ClientOptions, ReadConcern, WriteConcern};
use mongodb::{Client, ClientSession, Database, bson::doc};
use std::sync::Arc;
use std::time::Duration;

/// The database used when the URL names none (`mongodb://host/` → `dorafleet`).
pub const DEFAULT_DATABASE: &str = "dorafleet";

/// The warehouse in a MongoDB replica set: every role, over one client and
/// database. Cloning shares the client.
#[derive(Debug, Clone)]
pub struct MongoWarehouse {
    client: Client,
    db: Database,
    /// Ids of this handle's gold outbox entries (see `monitor.rs`).
    outbox: Arc<monitor::OutboxIds>,
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
        Ok(MongoWarehouse {
            client,
            db,
            outbox: Arc::default(),
        })
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

    /// Run `body` in a transaction (snapshot reads, majority commit). On
    /// `TransientTransactionError` (a write conflict with a concurrent
    /// transaction) the whole body runs again after a short, jittered,
    /// growing pause, and a commit whose result is unknown is retried; so
    /// `body` must only read and write through the session and keep no
    /// other side effects. The pause is what the driver's own retry loop
    /// lacks: two conflicting transactions retried at once can abort each
    /// other until its two-minute limit (seen on the emulator, whose
    /// conflicts are strict).
    async fn transaction<C, R, F>(&self, mut context: C, mut body: F) -> Result<R>
    where
        F: for<'b> FnMut(
            &'b mut ClientSession,
            &'b mut C,
        ) -> BoxFuture<'b, mongodb::error::Result<R>>,
    {
        use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
        const ATTEMPTS: u32 = 60;
        let mut session = self.client.start_session().await.map_err(classify)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            session
                .start_transaction()
                .read_concern(ReadConcern::snapshot())
                .write_concern(WriteConcern::majority())
                .await
                .map_err(classify)?;
            let failed = match body(&mut session, &mut context).await {
                Ok(value) => loop {
                    match session.commit_transaction().await {
                        Ok(()) => return Ok(value),
                        Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
                        Err(e) => break e,
                    }
                },
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    e
                }
            };
            if !failed.contains_label(TRANSIENT_TRANSACTION_ERROR) || attempt >= ATTEMPTS {
                return Err(classify(failed));
            }
            tokio::time::sleep(conflict_pause(attempt)).await;
        }
    }
}

/// How long to wait before running a conflicted transaction again: grows
/// from about 5 ms to 400 ms, each pause jittered to between half and one and
/// a half times its step, so two conflicting writers fall out of step.
fn conflict_pause(attempt: u32) -> Duration {
    let step = 5u64.saturating_mul(1 << attempt.min(7)).min(400);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // The clock's low digits as the jitter: enough to put writers out of step.
    let jitter = 0.5 + f64::from(nanos % 1000) / 1000.0;
    Duration::from_micros((step as f64 * 1000.0 * jitter) as u64)
}

/// The document filter `{_id: id}`.
pub(crate) fn by_id(id: impl Into<mongodb::bson::Bson>) -> mongodb::bson::Document {
    doc! { "_id": id.into() }
}
