//! The monitor's tables: the gold change outbox, named checkpoints and
//! delivered alerts.
//!
//! The outbox sequence is an `AUTOINCREMENT` key assigned inside the gold
//! upsert's write transaction. Write transactions are serialised (IMMEDIATE),
//! so sequence order is commit order: a reader that has seen sequence `n`
//! can never later find a newly committed row below `n`.

use super::SqliteWarehouse;
use super::{parse_ts, ts, unavailable};
use crate::{DeliveredAlert, GoldChange, GoldChangeKind, GoldRecord, Result, WarehouseError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{CachedStatement, Connection, OptionalExtension, Transaction, params};

/// Decides, per record, whether an upsert is news, and appends it to the outbox.
pub(super) struct GoldFeedWriter<'t> {
    current: CachedStatement<'t>,
    append: CachedStatement<'t>,
}

impl<'t> GoldFeedWriter<'t> {
    pub(super) fn new(tx: &'t Transaction<'_>) -> Result<Self> {
        Ok(GoldFeedWriter {
            current: tx
                .prepare_cached(
                    "SELECT value, sample_size, samples, definition_version, complete
                     FROM gold WHERE team_id = ?1 AND date = ?2 AND metric = ?3",
                )
                .map_err(unavailable)?,
            append: tx
                .prepare_cached(
                    "INSERT INTO gold_outbox (team_id, date, metric, kind, record, written_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(unavailable)?,
        })
    }

    /// `None` when the stored record already has these values (run id and
    /// computation time do not count: recomputing the same number is not news).
    pub(super) fn change_kind(
        &mut self,
        g: &GoldRecord,
        samples: &str,
    ) -> Result<Option<GoldChangeKind>> {
        type Stored = (Option<f64>, i64, String, u32, bool);
        let stored: Option<Stored> = self
            .current
            .query_row(
                params![g.team_id, g.date.to_string(), g.metric.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(unavailable)?;
        Ok(match stored {
            None => Some(GoldChangeKind::Inserted),
            Some(s)
                if s == (
                    g.value,
                    g.sample_size as i64,
                    samples.to_owned(),
                    g.definition_version,
                    g.complete,
                ) =>
            {
                None
            }
            Some(_) => Some(GoldChangeKind::Updated),
        })
    }

    pub(super) fn append(&mut self, g: &GoldRecord, kind: GoldChangeKind) -> Result<()> {
        let record =
            serde_json::to_string(g).map_err(|e| WarehouseError::corrupt_from("gold change", e))?;
        self.append
            .execute(params![
                g.team_id,
                g.date.to_string(),
                g.metric.as_str(),
                kind.as_str(),
                record,
                ts(Utc::now()),
            ])
            .map_err(unavailable)?;
        Ok(())
    }
}

pub(super) fn changes_after(
    conn: &mut Connection,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<GoldChange>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, kind, record, written_at FROM gold_outbox
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .map_err(unavailable)?;
    let rows = stmt
        .query_map(
            params![
                i64::try_from(after_seq).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, kind, record, written_at) = row.map_err(unavailable)?;
        let kind = match kind.as_str() {
            "inserted" => GoldChangeKind::Inserted,
            "updated" => GoldChangeKind::Updated,
            other => {
                return Err(WarehouseError::corrupt(format!(
                    "gold change kind `{other}`"
                )));
            }
        };
        out.push(GoldChange {
            seq: seq as u64,
            kind,
            record: serde_json::from_str(&record)
                .map_err(|e| WarehouseError::corrupt_from(format!("gold change {seq}"), e))?,
            written_at: parse_ts(&written_at)?,
        });
    }
    Ok(out)
}

pub(super) fn purge_changes(
    conn: &mut Connection,
    through_seq: u64,
    written_before: DateTime<Utc>,
) -> Result<u64> {
    // `written_at` is fixed-width RFC 3339 in UTC: text order is time order.
    let deleted = conn
        .execute(
            "DELETE FROM gold_outbox WHERE seq <= ?1 AND written_at < ?2",
            params![
                i64::try_from(through_seq).unwrap_or(i64::MAX),
                ts(written_before)
            ],
        )
        .map_err(unavailable)?;
    Ok(deleted as u64)
}

pub(super) fn checkpoint(conn: &mut Connection, name: &str) -> Result<Option<String>> {
    conn.query_row(
        "SELECT checkpoint FROM monitor_checkpoints WHERE name = ?1",
        params![name],
        |r| r.get(0),
    )
    .optional()
    .map_err(unavailable)
}

pub(super) fn save_checkpoint(conn: &mut Connection, name: &str, checkpoint: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO monitor_checkpoints (name, checkpoint, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint,
             updated_at = excluded.updated_at",
        params![name, checkpoint, ts(Utc::now())],
    )
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn alert_delivered(conn: &mut Connection, key: &str) -> Result<bool> {
    conn.query_row(
        "SELECT 1 FROM delivered_alerts WHERE key = ?1",
        params![key],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
    .map_err(unavailable)
}

pub(super) fn record_delivered(conn: &mut Connection, key: &str, payload: &str) -> Result<bool> {
    let inserted = conn
        .execute(
            "INSERT INTO delivered_alerts (key, payload, delivered_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO NOTHING",
            params![key, payload, ts(Utc::now())],
        )
        .map_err(unavailable)?;
    Ok(inserted == 1)
}

pub(super) fn delivered(conn: &mut Connection, limit: usize) -> Result<Vec<DeliveredAlert>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT key, payload, delivered_at FROM delivered_alerts
             ORDER BY delivered_at, key LIMIT ?1",
        )
        .map_err(unavailable)?;
    let rows = stmt
        .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for row in rows {
        let (key, payload, at) = row.map_err(unavailable)?;
        out.push(DeliveredAlert {
            key,
            payload,
            delivered_at: parse_ts(&at)?,
        });
    }
    Ok(out)
}

#[async_trait]
impl crate::MonitorState for SqliteWarehouse {
    async fn monitor_checkpoint(&self, name: &str) -> Result<Option<String>> {
        let name = name.to_owned();
        self.with_conn(move |c| checkpoint(c, &name)).await
    }

    async fn save_monitor_checkpoint(&self, name: &str, checkpoint: &str) -> Result<()> {
        let (name, checkpoint) = (name.to_owned(), checkpoint.to_owned());
        self.with_conn(move |c| save_checkpoint(c, &name, &checkpoint))
            .await
    }

    async fn alert_delivered(&self, key: &str) -> Result<bool> {
        let key = key.to_owned();
        self.with_conn(move |c| alert_delivered(c, &key)).await
    }

    async fn record_delivered_alert(&self, key: &str, payload: &str) -> Result<bool> {
        let (key, payload) = (key.to_owned(), payload.to_owned());
        self.with_conn(move |c| record_delivered(c, &key, &payload))
            .await
    }

    async fn delivered_alerts(&self, limit: usize) -> Result<Vec<DeliveredAlert>> {
        self.with_conn(move |c| delivered(c, limit)).await
    }
}
