//! Request-slot schedules: one document per schedule with its next free
//! instant. A slot is reserved by one `find_one_and_update` whose pipeline
//! computes the slot and the next free instant on the server, so concurrent
//! workers never get the same slot and no transaction is needed.

use super::codec::{from_nanos, nanos};
use super::indexes::SLOT_SCHEDULES;
use super::{MongoWarehouse, by_id, classify, codec::corrupt, is_duplicate_key};
use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::Database;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use std::num::NonZeroU32;
use std::time::Duration;

pub(super) async fn reserve_slots(
    db: &Database,
    key: &str,
    interval: Duration,
    count: NonZeroU32,
) -> Result<DateTime<Utc>> {
    let now = nanos(Utc::now())?;
    let step = i64::try_from(interval.as_nanos())
        .unwrap_or(i64::MAX)
        .saturating_mul(i64::from(count.get()));
    // Two stages: the slot is the later of now and the next free instant;
    // the next free instant is `count` intervals after the slot. The whole
    // pipeline runs atomically on the one document, so no two callers get
    // the same slot. With `upsert`, a first reservation starts from `{_id}`.
    let pipeline = vec![
        doc! { "$set": { "slot_ns": { "$max": [ { "$ifNull": [ "$next_at_ns", now ] }, now ] } } },
        doc! { "$set": { "next_at_ns": { "$add": [ "$slot_ns", step ] } } },
    ];
    let schedules = db.collection::<Document>(SLOT_SCHEDULES);
    let mut attempts_left = 3;
    let schedule = loop {
        let reserved = schedules
            .find_one_and_update(by_id(key), pipeline.clone())
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        match reserved {
            Ok(schedule) => break schedule,
            // Two first reservations of a key both try to insert it. The
            // server retries such an `_id` upsert itself (MongoDB 4.2+);
            // retrying here as well covers servers that answer E11000.
            Err(e) if is_duplicate_key(&e) && attempts_left > 0 => attempts_left -= 1,
            Err(e) => return Err(classify(e)),
        }
    };
    match schedule.as_ref().and_then(|d| d.get("slot_ns")) {
        Some(Bson::Int64(slot)) => Ok(from_nanos(*slot)),
        other => Err(corrupt("slot schedule")(format!(
            "`{key}` has slot {other:?}"
        ))),
    }
}

pub(super) async fn hold_slots_until(
    db: &Database,
    key: &str,
    not_before: DateTime<Utc>,
) -> Result<()> {
    // `$max` never moves the next free instant backwards; on a missing
    // schedule the upsert creates it with this value.
    db.collection::<Document>(SLOT_SCHEDULES)
        .update_one(
            by_id(key),
            doc! { "$max": { "next_at_ns": nanos(not_before)? } },
        )
        .upsert(true)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl crate::RequestSlots for MongoWarehouse {
    async fn reserve_slots(
        &self,
        key: &str,
        interval: Duration,
        count: NonZeroU32,
    ) -> Result<DateTime<Utc>> {
        reserve_slots(&self.db, key, interval, count).await
    }

    async fn hold_slots_until(&self, key: &str, not_before: DateTime<Utc>) -> Result<()> {
        hold_slots_until(&self.db, key, not_before).await
    }
}
