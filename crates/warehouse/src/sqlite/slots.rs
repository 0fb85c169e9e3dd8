//! Request-slot schedules: one row per schedule with its next free instant,
//! read and moved in one IMMEDIATE transaction so that two processes never
//! get the same slot (or overlapping runs of slots).

use super::SqliteWarehouse;
use super::{parse_ts, ts, unavailable};
use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::num::NonZeroU32;
use std::time::Duration;

pub(super) fn reserve_slots(
    conn: &mut Connection,
    key: &str,
    interval: Duration,
    count: NonZeroU32,
) -> Result<DateTime<Utc>> {
    // IMMEDIATE: read-then-write under the write lock, so two processes never
    // get the same slot.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    // Cached statements: a busy worker reserves many times a second.
    let next: Option<String> = tx
        .prepare_cached("SELECT next_at FROM slot_schedules WHERE key = ?1")
        .and_then(|mut select| select.query_row(params![key], |r| r.get(0)).optional())
        .map_err(unavailable)?;
    let now = Utc::now();
    let slot = match next {
        Some(t) => parse_ts(&t)?.max(now),
        None => now,
    };
    let after = slot + chrono::Duration::from_std(interval * count.get()).unwrap_or_default();
    tx.prepare_cached(
        "INSERT INTO slot_schedules (key, next_at) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET next_at = excluded.next_at",
    )
    .and_then(|mut upsert| upsert.execute(params![key, ts(after)]))
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)?;
    Ok(slot)
}

pub(super) fn hold_slots_until(
    conn: &mut Connection,
    key: &str,
    not_before: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO slot_schedules (key, next_at) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET next_at = max(next_at, excluded.next_at)",
        params![key, ts(not_before)],
    )
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl crate::RequestSlots for SqliteWarehouse {
    async fn reserve_slots(
        &self,
        key: &str,
        interval: Duration,
        count: NonZeroU32,
    ) -> Result<DateTime<Utc>> {
        let key = key.to_owned();
        self.with_conn(move |c| reserve_slots(c, &key, interval, count))
            .await
    }

    async fn hold_slots_until(&self, key: &str, not_before: DateTime<Utc>) -> Result<()> {
        let key = key.to_owned();
        self.with_conn(move |c| hold_slots_until(c, &key, not_before))
            .await
    }
}
