//! The monitor's collections on MongoDB: the gold change outbox, named
//! checkpoints and delivered alerts.
//!
//! The monitor follows gold on MongoDB through a change stream (see
//! `gold_changes.rs`); the outbox exists so that both backends keep the same
//! contract (`gold_changes_after`), and that monitor purges it by age alone
//! (its rescan after a lost resume token reads gold). Its sequence comes from one
//! counter document incremented inside the gold upsert's transaction: two
//! transactions writing gold conflict on it and the driver retries one, so
//! sequence order is commit order, as on SQLite.

use super::MongoWarehouse;
use super::codec::{parse_ts, ts};
use super::indexes::{DELIVERED_ALERTS, GOLD_OUTBOX, MONITOR_CHECKPOINTS, SEQUENCES};
use super::{by_id, classify, is_duplicate_key};
use crate::{DeliveredAlert, GoldChange, GoldChangeKind, GoldRecord, Result, WarehouseError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{ClientSession, Database};

const OUTBOX_SEQUENCE: &str = "gold_outbox";

/// Append one change to the outbox inside the caller's transaction.
pub(super) async fn append(
    db: &Database,
    session: &mut ClientSession,
    record: &GoldRecord,
    kind: GoldChangeKind,
) -> mongodb::error::Result<()> {
    let counter = db
        .collection::<Document>(SEQUENCES)
        .find_one_and_update(by_id(OUTBOX_SEQUENCE), doc! { "$inc": { "seq": 1_i64 } })
        .upsert(true)
        .return_document(ReturnDocument::After)
        .session(&mut *session)
        .await?;
    let seq = counter.and_then(|c| c.get_i64("seq").ok()).unwrap_or(1);
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
    let seq = d.get_i64("_id").map_err(|e| corrupt(e.to_string()))?;
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
