//! Gold: one record per (team, date, metric), and the registry of
//! definition versions. Upserts feed the gold change outbox (`monitor.rs`).

use super::SqliteWarehouse;
use super::filters::Filters;
use super::{parse_ts, parse_uuid, ts, unavailable};
use crate::GoldChange;
use crate::{GoldFilter, GoldRecord, Result, WarehouseError};
use async_trait::async_trait;
use chrono::DateTime;
use chrono::{NaiveDate, Utc};
use dorafleet_core::Metric;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

pub(super) fn upsert(conn: &mut Connection, records: &[GoldRecord]) -> Result<()> {
    let tx = super::write_tx(conn)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO gold (team_id, date, metric, value, sample_size, samples,
                     definition_version, run_id, computed_at, complete)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (team_id, date, metric) DO UPDATE SET value = excluded.value,
                     sample_size = excluded.sample_size, samples = excluded.samples,
                     definition_version = excluded.definition_version, run_id = excluded.run_id,
                     computed_at = excluded.computed_at, complete = excluded.complete",
            )
            .map_err(unavailable)?;
        let mut feed = super::monitor::GoldFeedWriter::new(&tx)?;
        for g in records {
            let samples = serde_json::to_string(&g.samples)
                .map_err(|e| WarehouseError::corrupt_from("gold samples", e))?;
            // Read before writing: the feed records only news.
            let kind = feed.change_kind(g, &samples)?;
            stmt.execute(params![
                g.team_id,
                g.date.to_string(),
                g.metric.as_str(),
                g.value,
                g.sample_size as i64,
                samples,
                g.definition_version,
                g.run_id.to_string(),
                ts(g.computed_at),
                g.complete,
            ])
            .map_err(unavailable)?;
            if let Some(kind) = kind {
                feed.append(g, kind)?;
            }
        }
    }
    tx.commit().map_err(unavailable)
}

pub(super) fn query(conn: &mut Connection, f: &GoldFilter) -> Result<Vec<GoldRecord>> {
    // The teams asked for are in the statement, so one team's page reads
    // that team's rows through the primary key rather than every team's.
    // The date range is not offered to the `gold_by_date` index (`+date`):
    // SQLite, without statistics, takes any range as selective, and for the
    // usual year of every team it read the index, then each row, then
    // sorted them all, about 1.3x slower than reading the table in key order.
    let filters = Filters::new()
        .any_of("team_id", f.teams.iter().cloned())
        .any_of("metric", f.metrics.iter().map(|m| m.as_str().to_owned()))
        .compare("+date", ">=", f.from.map(|d| d.to_string()))
        .compare("+date", "<", f.to.map(|d| d.to_string()));
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT team_id, date, metric, value, sample_size, samples, definition_version,
                    run_id, computed_at, complete
             FROM gold {} ORDER BY team_id, date, metric",
            filters.where_clause()
        ))
        .map_err(unavailable)?;
    let mut rows = stmt
        .query(filters.params(&[]).as_slice())
        .map_err(unavailable)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(unavailable)? {
        let team_id: String = r.get(0).map_err(unavailable)?;
        let metric_name: String = r.get(2).map_err(unavailable)?;
        let metric: Metric = metric_name
            .parse()
            .map_err(|e| WarehouseError::corrupt_from("gold metric", e))?;
        let date: String = r.get(1).map_err(unavailable)?;
        let samples: String = r.get(5).map_err(unavailable)?;
        out.push(GoldRecord {
            date: date
                .parse::<NaiveDate>()
                .map_err(|e| WarehouseError::corrupt_from(format!("gold date `{date}`"), e))?,
            team_id,
            metric,
            value: r.get(3).map_err(unavailable)?,
            sample_size: r.get::<_, i64>(4).map_err(unavailable)? as u64,
            samples: serde_json::from_str(&samples)
                .map_err(|e| WarehouseError::corrupt_from("gold samples", e))?,
            definition_version: r.get(6).map_err(unavailable)?,
            run_id: parse_uuid(&r.get::<_, String>(7).map_err(unavailable)?)?,
            computed_at: parse_ts(&r.get::<_, String>(8).map_err(unavailable)?)?,
            complete: r.get(9).map_err(unavailable)?,
        });
    }
    Ok(out)
}

pub(super) fn definition_version(
    conn: &mut Connection,
    metric: Metric,
    fingerprint: &str,
) -> Result<u32> {
    // IMMEDIATE: two processes registering a new definition at once get one
    // version number between them, not the same number twice.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let known: Option<u32> = tx
        .query_row(
            "SELECT version FROM definition_versions WHERE metric = ?1 AND fingerprint = ?2",
            params![metric.as_str(), fingerprint],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    if let Some(version) = known {
        return Ok(version);
    }
    let next: u32 = tx
        .query_row(
            "SELECT coalesce(max(version), 0) + 1 FROM definition_versions WHERE metric = ?1",
            params![metric.as_str()],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    tx.execute(
        "INSERT INTO definition_versions (metric, fingerprint, version, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![metric.as_str(), fingerprint, next, ts(Utc::now())],
    )
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)?;
    Ok(next)
}

#[async_trait]
impl crate::GoldStore for SqliteWarehouse {
    async fn upsert_gold(&self, records: &[GoldRecord]) -> Result<()> {
        let records = records.to_vec();
        self.with_conn(move |c| upsert(c, &records)).await
    }

    async fn gold(&self, filter: &GoldFilter) -> Result<Vec<GoldRecord>> {
        let filter = filter.clone();
        self.with_reader(move |c| query(c, &filter)).await
    }

    async fn definition_version(&self, metric: Metric, fingerprint: &str) -> Result<u32> {
        let fingerprint = fingerprint.to_owned();
        self.with_conn(move |c| definition_version(c, metric, &fingerprint))
            .await
    }

    async fn gold_changes_after(&self, after_seq: u64, limit: usize) -> Result<Vec<GoldChange>> {
        self.with_conn(move |c| super::monitor::changes_after(c, after_seq, limit))
            .await
    }

    async fn purge_gold_changes(
        &self,
        through_seq: u64,
        written_before: DateTime<Utc>,
    ) -> Result<u64> {
        self.with_conn(move |c| super::monitor::purge_changes(c, through_seq, written_before))
            .await
    }
}
