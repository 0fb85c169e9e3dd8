//! The monitor's collections on MongoDB: the gold change outbox, named
//! checkpoints and delivered alerts.
//!
//! The monitor follows gold on MongoDB through a change stream (see
//! `gold_changes.rs`), never this outbox: its rescan after a lost resume
//! token reads gold itself, and it only purges the outbox by age. The outbox
//! is kept so that both backends serve the same `GoldStore` contract
//! (`gold_changes_after`), but its ids come from no shared document: a
//! counter incremented in every gold transaction made concurrent aggregate
//! tasks conflict on that one document on a replica set (the driver retried
//! whole gold transactions against each other). Instead each warehouse
//! handle claims a writer slot once (one counter increment per process, not
//! per transaction) and numbers its changes
//! `(microseconds since 2020-01-01, strictly increasing per handle) << 12 | slot`.
//! Ids are unique across processes (distinct slots) and increase within one
//! process and over time (so they are never reused after a purge, and they
//! are far above the small ids of the former counter), but across processes
//! their order is clock order, not commit order: unlike SQLite's, this
//! outbox is not a gap-free feed for a reader that follows it concurrently
//! with several writers. That is why the monitor reads the change stream.

use super::MongoWarehouse;
use super::codec::{parse_ts, ts};
use super::indexes::{DELIVERED_ALERTS, GOLD_OUTBOX, MONITOR_CHECKPOINTS, SEQUENCES};
use super::{by_id, classify, is_duplicate_key};
use crate::{DeliveredAlert, GoldChange, GoldChangeKind, GoldRecord, Result, WarehouseError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{ClientSession, Database};
use std::sync::Mutex;
use tokio::sync::OnceCell;

/// The counter document handing out writer slots (one increment per
/// warehouse handle that writes gold).
pub(crate) const OUTBOX_WRITERS: &str = "gold_outbox_writers";

/// Low bits of an outbox id: the writer slot.
const SLOT_BITS: u32 = 12;

/// Outbox ids count microseconds from here (2020-01-01T00:00:00Z), so that
/// `micros << SLOT_BITS` fits an `i64` until about 2091.
const EPOCH_MICROS: i64 = 1_577_836_800_000_000;

/// The outbox ids one warehouse handle (and its clones) hands out.
#[derive(Debug, Default)]
pub(super) struct OutboxIds {
    slot: OnceCell<i64>,
    last_micros: Mutex<i64>,
}

impl OutboxIds {
    /// This handle's writer slot, claimed on first use.
    pub(super) async fn slot(&self, db: &Database) -> Result<i64> {
        self.slot.get_or_try_init(|| claim_slot(db)).await.copied()
    }

    /// The next id of this handle: after every id it handed out before, and
    /// (clock permitting) after every id of an earlier process.
    pub(super) fn next(&self, slot: i64) -> i64 {
        let now = Utc::now().timestamp_micros() - EPOCH_MICROS;
        let mut last = self
            .last_micros
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = now.max(*last + 1);
        (*last << SLOT_BITS) | slot
    }
}

/// Take the next writer slot: one atomic increment of a counter document.
async fn claim_slot(db: &Database) -> Result<i64> {
    let counters = db.collection::<Document>(SEQUENCES);
    let counter = match counters
        .find_one_and_update(by_id(OUTBOX_WRITERS), doc! { "$inc": { "seq": 1_i64 } })
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await
    {
        Ok(counter) => counter,
        Err(e) => {
            // The server refuses `$inc` on a value that is not a number:
            // say that the counter is corrupt rather than "unavailable".
            if let Ok(Some(stored)) = counters.find_one(by_id(OUTBOX_WRITERS)).await
                && let Err(why) = counter_value(&stored, "seq")
            {
                return Err(WarehouseError::corrupt(format!(
                    "outbox writer counter: {why}"
                )));
            }
            return Err(classify(e));
        }
    }
    .ok_or_else(|| {
        WarehouseError::corrupt("the outbox writer counter was not returned by its upsert")
    })?;
    let claimed = counter_value(&counter, "seq")
        .map_err(|e| WarehouseError::corrupt(format!("outbox writer counter: {e}")))?;
    Ok(claimed.rem_euclid(1 << SLOT_BITS))
}

/// A counter field as an integer, whatever numeric BSON type holds it
/// (`Int32`, `Int64`, or a `Double` with an integral value: a shell or
/// another driver may have written it so); anything else is an error,
/// never a default that would hand out an id again.
pub(crate) fn counter_value(d: &Document, field: &str) -> std::result::Result<i64, String> {
    match d.get(field) {
        Some(Bson::Int64(n)) => Ok(*n),
        Some(Bson::Int32(n)) => Ok(i64::from(*n)),
        Some(Bson::Double(x))
            if x.is_finite() && x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 =>
        {
            // Integral and below 2^53: exact as an i64.
            #[allow(clippy::cast_possible_truncation)]
            Ok(*x as i64)
        }
        Some(other) => Err(format!("`{field}` is {other:?}, not an integer")),
        None => Err(format!("`{field}` is missing")),
    }
}

/// Append one change to the outbox inside the caller's transaction, under
/// id `seq` (see [`OutboxIds`]).
pub(super) async fn append(
    db: &Database,
    session: &mut ClientSession,
    seq: i64,
    record: &GoldRecord,
    kind: GoldChangeKind,
) -> mongodb::error::Result<()> {
    let json = serde_json::to_string(record)
        .map_err(|e| super::errors::abort_corrupt(format!("gold change does not encode: {e}")))?;
    db.collection::<Document>(GOLD_OUTBOX)
        .insert_one(doc! {
            "_id": seq,
            "kind": kind.as_str(),
            "record": json,
            "written_at": ts(Utc::now()),
        })
        .session(&mut *session)
        .await?;
    Ok(())
}

pub(super) async fn changes_after(
    db: &Database,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<GoldChange>> {
    let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
    let docs: Vec<Document> = db
        .collection::<Document>(GOLD_OUTBOX)
        .find(doc! { "_id": { "$gt": after } })
        .sort(doc! { "_id": 1 })
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    docs.iter().map(decode_change).collect()
}

/// `_id` is the sequence; `written_at` is fixed-width RFC 3339 in UTC, so
/// string order is time order.
pub(super) async fn purge_changes(
    db: &Database,
    through_seq: u64,
    written_before: DateTime<Utc>,
) -> Result<u64> {
    let through = i64::try_from(through_seq).unwrap_or(i64::MAX);
    let deleted = db
        .collection::<Document>(GOLD_OUTBOX)
        .delete_many(doc! {
            "_id": { "$lte": through },
            "written_at": { "$lt": ts(written_before) },
        })
        .await
        .map_err(classify)?;
    Ok(deleted.deleted_count)
}

fn decode_change(d: &Document) -> Result<GoldChange> {
    let corrupt = |e: String| WarehouseError::corrupt(format!("gold change: {e}"));
    let seq = counter_value(d, "_id").map_err(corrupt)?;
    let kind = match d.get_str("kind").map_err(|e| corrupt(e.to_string()))? {
        "inserted" => GoldChangeKind::Inserted,
        "updated" => GoldChangeKind::Updated,
        other => return Err(corrupt(format!("kind `{other}`"))),
    };
    let record = d.get_str("record").map_err(|e| corrupt(e.to_string()))?;
    Ok(GoldChange {
        seq: u64::try_from(seq).map_err(|e| corrupt(e.to_string()))?,
        kind,
        record: serde_json::from_str(record).map_err(|e| corrupt(e.to_string()))?,
        written_at: parse_ts(
            d.get_str("written_at")
                .map_err(|e| corrupt(e.to_string()))?,
        )?,
    })
}

pub(super) async fn checkpoint(db: &Database, name: &str) -> Result<Option<String>> {
    let found = db
        .collection::<Document>(MONITOR_CHECKPOINTS)
        .find_one(by_id(name))
        .await
        .map_err(classify)?;
    Ok(found.and_then(|d| d.get_str("checkpoint").ok().map(str::to_owned)))
}

pub(super) async fn save_checkpoint(db: &Database, name: &str, checkpoint: &str) -> Result<()> {
    db.collection::<Document>(MONITOR_CHECKPOINTS)
        .update_one(
            by_id(name),
            doc! { "$set": { "checkpoint": checkpoint, "updated_at": ts(Utc::now()) } },
        )
        .upsert(true)
        .await
        .map_err(classify)?;
    Ok(())
}

pub(super) async fn alert_delivered(db: &Database, key: &str) -> Result<bool> {
    Ok(db
        .collection::<Document>(DELIVERED_ALERTS)
        .find_one(by_id(key))
        .await
        .map_err(classify)?
        .is_some())
}

/// Insert-if-absent by `_id`: the unique `_id` decides the race.
pub(super) async fn record_delivered(db: &Database, key: &str, payload: &str) -> Result<bool> {
    let inserted = db
        .collection::<Document>(DELIVERED_ALERTS)
        .insert_one(doc! { "_id": key, "payload": payload, "delivered_at": ts(Utc::now()) })
        .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_duplicate_key(&e) => Ok(false),
        Err(e) => Err(classify(e)),
    }
}

pub(super) async fn delivered(db: &Database, limit: usize) -> Result<Vec<DeliveredAlert>> {
    let docs: Vec<Document> = db
        .collection::<Document>(DELIVERED_ALERTS)
        .find(doc! {})
        .sort(doc! { "delivered_at": 1, "_id": 1 })
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    docs.iter()
        .map(|d| {
            let text = |f: &str| {
                d.get_str(f)
                    .map(str::to_owned)
                    .map_err(|e| WarehouseError::corrupt_from("delivered alert", e))
            };
            Ok(DeliveredAlert {
                key: text("_id")?,
                payload: text("payload")?,
                delivered_at: parse_ts(&text("delivered_at")?)?,
            })
        })
        .collect()
}

#[async_trait]
impl crate::MonitorState for MongoWarehouse {
    async fn monitor_checkpoint(&self, name: &str) -> Result<Option<String>> {
        checkpoint(&self.db, name).await
    }

    async fn save_monitor_checkpoint(&self, name: &str, checkpoint: &str) -> Result<()> {
        save_checkpoint(&self.db, name, checkpoint).await
    }

    async fn alert_delivered(&self, key: &str) -> Result<bool> {
        alert_delivered(&self.db, key).await
    }

    async fn record_delivered_alert(&self, key: &str, payload: &str) -> Result<bool> {
        record_delivered(&self.db, key, payload).await
    }

    async fn delivered_alerts(&self, limit: usize) -> Result<Vec<crate::DeliveredAlert>> {
        delivered(&self.db, limit).await
    }
}
