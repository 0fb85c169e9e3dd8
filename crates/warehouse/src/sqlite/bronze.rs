//! Bronze pages, extract checkpoints and high-watermarks.
//!
//! A record reusing a page on a `304` is stored without payload and joined
//! to the page it reuses when read (one `LEFT JOIN` on the primary key;
//! the reads are in `bronze_reads`).

use super::SqliteWarehouse;
use super::bronze_reads::{pages, revalidatable};
use super::filters::Filters;
use super::page_body::StoredBody;
use super::{parse_source, parse_ts, parse_uuid, ts, unavailable};
use crate::{BronzeFilter, BronzePage, BronzeTotals, Coverage, ExtractCheckpoint, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::{Scope, Source, Window};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

/// Stores a task's consecutive `pages` and the `checkpoint` after them
/// inside the caller's transaction (see [`appends`](super::appends), which
/// commits it); for each page, `true` when it was new.
pub(super) fn append_in(
    tx: &Connection,
    pages: &[BronzePage],
    checkpoint: &ExtractCheckpoint,
) -> Result<Vec<bool>> {
    if !moves_forward(tx, checkpoint)? {
        return Ok(vec![false; pages.len()]);
    }
    let stored = pages
        .iter()
        .map(|page| insert_page(tx, page))
        .collect::<Result<Vec<bool>>>()?;
    save_checkpoint(tx, checkpoint)?;
    Ok(stored)
}

/// Inserts `page` unless its (task, seq) is already stored; `true` when it
/// was new.
fn insert_page(tx: &Connection, page: &BronzePage) -> Result<bool> {
    // A record reusing a page on a 304 is stored without payload (what
    // `BronzePage::as_stored` describes), written here from the page's own
    // fields rather than from a copy of the page and its body.
    let reused = page.reuses.is_some();
    let payload = |value: &Option<String>| if reused { None } else { value.clone() };
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO bronze_pages (task_id, seq, execution_id, source_system, team,
                 target, endpoint, request, cursor, status, fetched_at, record_count, body,
                 etag, last_modified, link_next, reuses_task_id, reuses_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                 ?14, ?15, ?16, ?17, ?18)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                page.task_id.to_string(),
                page.seq,
                page.execution_id.to_string(),
                page.source_system.as_str(),
                page.scope.team,
                page.scope.target,
                page.endpoint,
                page.request,
                page.cursor,
                if reused { 304 } else { page.status },
                ts(page.fetched_at),
                if reused { 0 } else { page.record_count as i64 },
                StoredBody::of(if reused { "" } else { page.body.as_str() }),
                payload(&page.etag),
                payload(&page.last_modified),
                payload(&page.link_next),
                page.reuses.map(|r| r.task_id.to_string()),
                page.reuses.map(|r| r.seq),
            ])
        })
        .map_err(unavailable)?;
    Ok(inserted == 1)
}

/// Whether `c` is ahead of the stored checkpoint of its task: checkpoints
/// only move forward, and a completed one is final. A late append (from an
/// attempt whose task another worker has since taken further) writes nothing.
fn moves_forward(conn: &Connection, c: &ExtractCheckpoint) -> Result<bool> {
    let stored: Option<(u32, bool)> = conn
        .prepare_cached("SELECT pages_done, completed FROM extract_checkpoints WHERE task_id = ?1")
        .and_then(|mut select| {
            select.query_row(params![c.task_id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .optional()
        .map_err(unavailable)?;
    Ok(stored.is_none_or(|(pages_done, completed)| !completed && pages_done < c.pages_done))
}

fn save_checkpoint(conn: &Connection, c: &ExtractCheckpoint) -> Result<()> {
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO extract_checkpoints (task_id, run_id, pages_done, state, newest_seen, completed, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (task_id) DO UPDATE SET run_id = excluded.run_id,
             pages_done = excluded.pages_done, state = excluded.state,
             newest_seen = excluded.newest_seen, completed = excluded.completed,
             updated_at = excluded.updated_at",
        )
        .map_err(unavailable)?;
    upsert
        .execute(params![
            c.task_id.to_string(),
            c.run_id.to_string(),
            c.pages_done,
            c.state,
            c.newest_seen.map(ts),
            c.completed,
            ts(Utc::now()),
        ])
        .map_err(unavailable)?;
    Ok(())
}

pub(super) fn checkpoint(
    conn: &mut Connection,
    task_id: Uuid,
) -> Result<Option<ExtractCheckpoint>> {
    let row = conn
        .query_row(
            "SELECT run_id, pages_done, state, newest_seen, completed
             FROM extract_checkpoints WHERE task_id = ?1",
            params![task_id.to_string()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, bool>(4)?,
                ))
            },
        )
        .optional()
        .map_err(unavailable)?;
    row.map(|(run_id, pages_done, state, newest, completed)| {
        Ok(ExtractCheckpoint {
            task_id,
            run_id: parse_uuid(&run_id)?,
            pages_done,
            state,
            newest_seen: newest.as_deref().map(parse_ts).transpose()?,
            completed,
        })
    })
    .transpose()
}

pub(super) fn complete(
    conn: &mut Connection,
    checkpoint: &ExtractCheckpoint,
    source: Source,
    scope: &Scope,
    window: Window,
) -> Result<()> {
    let tx = super::write_tx(conn)?;
    let mut done = checkpoint.clone();
    done.completed = true;
    save_checkpoint(&tx, &done)?;
    // Text comparison is time comparison (fixed-width RFC 3339). Coverage only
    // ever claims time that was extracted: a window after the watermark with a
    // gap restarts coverage there, a window before its start with a gap is
    // not joined to it.
    tx.execute(
        "INSERT INTO high_watermarks (source, team, target, synced_from, watermark, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (source, team, target) DO UPDATE SET
             synced_from = CASE
                 WHEN excluded.synced_from > watermark THEN excluded.synced_from
                 WHEN excluded.watermark < coalesce(synced_from, watermark) THEN synced_from
                 ELSE min(coalesce(synced_from, excluded.synced_from), excluded.synced_from) END,
             watermark = CASE
                 WHEN excluded.synced_from > watermark THEN excluded.watermark
                 ELSE max(watermark, excluded.watermark) END,
             updated_at = excluded.updated_at",
        params![
            source.as_str(),
            scope.team,
            scope.target.clone().unwrap_or_default(),
            ts(window.from),
            ts(window.to),
            ts(Utc::now()),
        ],
    )
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)
}

pub(super) fn coverage(
    conn: &mut Connection,
    source: Source,
    scope: &Scope,
) -> Result<Option<Coverage>> {
    let row: Option<(Option<String>, String)> = conn
        .query_row(
            "SELECT synced_from, watermark FROM high_watermarks
             WHERE source = ?1 AND team = ?2 AND target = ?3",
            params![
                source.as_str(),
                scope.team,
                scope.target.clone().unwrap_or_default()
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    row.map(|(from, to)| {
        let to = parse_ts(&to)?;
        Ok(Coverage {
            from: from.as_deref().map(parse_ts).transpose()?.unwrap_or(to),
            to,
        })
    })
    .transpose()
}

pub(super) fn totals(conn: &mut Connection, run_id: Option<Uuid>) -> Result<Vec<BronzeTotals>> {
    let filters = Filters::new().equal("execution_id", run_id.map(|u| u.to_string()));
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT source_system, count(*), coalesce(sum(record_count), 0) FROM bronze_pages
             {} GROUP BY source_system ORDER BY source_system",
            filters.where_clause()
        ))
        .map_err(unavailable)?;
    let rows = stmt
        .query_map(filters.params(&[]).as_slice(), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(unavailable)?;
    let mut totals = Vec::new();
    for row in rows {
        let (source, pages, records) = row.map_err(unavailable)?;
        totals.push(BronzeTotals {
            source: parse_source(&source)?,
            pages: pages as u64,
            records: records as u64,
        });
    }
    Ok(totals)
}

pub(super) fn purge_before(conn: &mut Connection, cutoff: DateTime<Utc>) -> Result<u64> {
    let n = conn
        .execute(
            "DELETE FROM bronze_pages WHERE fetched_at < ?1 AND NOT EXISTS (
                 SELECT 1 FROM bronze_pages r
                 WHERE r.reuses_task_id = bronze_pages.task_id
                   AND r.reuses_seq = bronze_pages.seq AND r.fetched_at >= ?1)",
            params![ts(cutoff)],
        )
        .map_err(unavailable)?;
    Ok(n as u64)
}

#[async_trait]
impl crate::BronzeStore for SqliteWarehouse {
    async fn append_bronze_pages(
        &self,
        pages: Vec<BronzePage>,
        checkpoint: ExtractCheckpoint,
    ) -> Result<Vec<bool>> {
        self.append_in_group(pages, checkpoint).await
    }

    async fn extract_checkpoint(&self, task_id: Uuid) -> Result<Option<ExtractCheckpoint>> {
        self.with_reader(move |c| checkpoint(c, task_id)).await
    }

    async fn complete_extract(
        &self,
        checkpoint: &ExtractCheckpoint,
        source: Source,
        scope: &Scope,
        window: Window,
    ) -> Result<()> {
        let (checkpoint, scope) = (checkpoint.clone(), scope.clone());
        self.with_conn(move |c| complete(c, &checkpoint, source, &scope, window))
            .await
    }

    async fn coverage(&self, source: Source, scope: &Scope) -> Result<Option<Coverage>> {
        let scope = scope.clone();
        self.with_reader(move |c| coverage(c, source, &scope)).await
    }

    async fn revalidatable_page(
        &self,
        source: Source,
        request: &str,
        fetched_after: DateTime<Utc>,
    ) -> Result<Option<BronzePage>> {
        let request = request.to_owned();
        self.with_reader(move |c| revalidatable(c, source, &request, fetched_after))
            .await
    }

    async fn bronze_pages(&self, filter: &BronzeFilter) -> Result<Vec<BronzePage>> {
        let filter = filter.clone();
        self.with_reader(move |c| pages(c, &filter)).await
    }

    async fn bronze_totals(&self, run_id: Option<Uuid>) -> Result<Vec<BronzeTotals>> {
        self.with_reader(move |c| totals(c, run_id)).await
    }

    async fn purge_bronze_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        self.with_conn(move |c| purge_before(c, cutoff)).await
    }
}
