//! Bronze pages, extract checkpoints and high-watermarks.
//!
//! A record reusing a page on a `304` is stored without payload and joined
//! to the page it reuses when read (one `LEFT JOIN` on the primary key).

use super::SqliteWarehouse;
use super::filters::Filters;
use super::page_body::StoredBody;
use super::{parse_source, parse_ts, parse_uuid, ts, unavailable};
use crate::{BronzeFilter, BronzePage, BronzeTotals, Coverage, ExtractCheckpoint, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::{Scope, Source, Window};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

/// Stores `page` with `checkpoint` inside the caller's transaction (see
/// [`appends`](super::appends), which commits it); `true` when the page was new.
pub(super) fn append_in(
    tx: &Connection,
    page: &BronzePage,
    checkpoint: &ExtractCheckpoint,
) -> Result<bool> {
    if !moves_forward(tx, checkpoint)? {
        return Ok(false);
    }
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
    save_checkpoint(tx, checkpoint)?;
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

pub(super) fn pages(conn: &mut Connection, f: &BronzeFilter) -> Result<Vec<BronzePage>> {
    let (sql, filters, limit) = pages_query(f);
    let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
    let limit = limit.as_ref().map(|n| n as &dyn rusqlite::ToSql);
    let rows = stmt
        .query_map(filters.params(limit.as_slice()).as_slice(), raw_page)
        .map_err(unavailable)?;
    let mut pages = Vec::new();
    for row in rows {
        pages.push(row.map_err(unavailable)?.into_page()?);
    }
    Ok(pages)
}

/// The statement reading the pages `f` selects, its filters' values, and
/// its limit's (the parameter after them), if any.
fn pages_query(f: &BronzeFilter) -> (String, Filters, Option<i64>) {
    // Only the filters given are in the statement (see `filters`): with
    // the columns named, the run's index (or the scope's) serves a
    // normalize read in storage order, a range of it, without sorting the
    // pages' bodies first.
    let filters = Filters::new()
        .equal("b.execution_id", f.run_id.map(|u| u.to_string()))
        .equal("b.task_id", f.task_id.map(|u| u.to_string()))
        .equal("b.source_system", f.source.map(|s| s.as_str().to_owned()))
        .equal("b.team", f.team.clone())
        .equal("b.target", f.target.clone())
        .after_page("b.task_id", "b.seq", f.after);
    let wanted = filters.where_clause();
    let limit = f.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let limit_clause = match limit {
        Some(_) => format!("LIMIT ?{}", filters.next_number()),
        None => String::new(),
    };
    let sql = format!(
        "SELECT b.task_id, b.seq, b.execution_id, b.source_system, b.team, b.target,
                b.endpoint, b.request, b.cursor, coalesce(o.status, b.status), b.fetched_at,
                coalesce(o.record_count, b.record_count), coalesce(o.body, b.body),
                coalesce(o.etag, b.etag), coalesce(o.last_modified, b.last_modified),
                coalesce(o.link_next, b.link_next), b.reuses_task_id, b.reuses_seq
         FROM bronze_pages b
         LEFT JOIN bronze_pages o ON o.task_id = b.reuses_task_id AND o.seq = b.reuses_seq
         {wanted}
         ORDER BY b.task_id, b.seq {limit_clause}"
    );
    (sql, filters, limit)
}

/// A row as stored; converted after the borrow of the statement ends.
struct RawPage {
    task_id: String,
    seq: u32,
    execution_id: String,
    source: String,
    team: String,
    target: Option<String>,
    endpoint: String,
    request: String,
    cursor: String,
    status: u16,
    fetched_at: String,
    record_count: i64,
    body: StoredBody,
    etag: Option<String>,
    last_modified: Option<String>,
    link_next: Option<String>,
    reuses_task_id: Option<String>,
    reuses_seq: Option<u32>,
}

fn raw_page(r: &Row<'_>) -> rusqlite::Result<RawPage> {
    Ok(RawPage {
        task_id: r.get(0)?,
        seq: r.get(1)?,
        execution_id: r.get(2)?,
        source: r.get(3)?,
        team: r.get(4)?,
        target: r.get(5)?,
        endpoint: r.get(6)?,
        request: r.get(7)?,
        cursor: r.get(8)?,
        status: r.get(9)?,
        fetched_at: r.get(10)?,
        record_count: r.get(11)?,
        body: r.get(12)?,
        etag: r.get(13)?,
        last_modified: r.get(14)?,
        link_next: r.get(15)?,
        reuses_task_id: r.get(16)?,
        reuses_seq: r.get(17)?,
    })
}

impl RawPage {
    fn into_page(self) -> Result<BronzePage> {
        Ok(BronzePage {
            task_id: parse_uuid(&self.task_id)?,
            seq: self.seq,
            execution_id: parse_uuid(&self.execution_id)?,
            source_system: parse_source(&self.source)?,
            scope: Scope {
                team: self.team,
                target: self.target,
            },
            endpoint: self.endpoint,
            request: self.request,
            cursor: self.cursor,
            status: self.status,
            fetched_at: parse_ts(&self.fetched_at)?,
            record_count: self.record_count.max(0) as u64,
            body: self.body.into_text()?,
            etag: self.etag,
            last_modified: self.last_modified,
            link_next: self.link_next,
            reuses: match (self.reuses_task_id, self.reuses_seq) {
                (Some(task_id), Some(seq)) => Some(crate::PageRef {
                    task_id: parse_uuid(&task_id)?,
                    seq,
                }),
                _ => None,
            },
        })
    }
}

pub(super) fn revalidatable(
    conn: &mut Connection,
    source: Source,
    request: &str,
    fetched_after: DateTime<Utc>,
) -> Result<Option<BronzePage>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT task_id, seq, execution_id, source_system, team, target, endpoint, request,
                    cursor, status, fetched_at, record_count, body, etag, last_modified,
                    link_next, reuses_task_id, reuses_seq
             FROM bronze_pages
             WHERE source_system = ?1 AND request = ?2 AND fetched_at >= ?3
               AND reuses_task_id IS NULL AND status BETWEEN 200 AND 299
               AND (etag IS NOT NULL OR last_modified IS NOT NULL)
             ORDER BY fetched_at DESC LIMIT 1",
        )
        .map_err(unavailable)?;
    let row = stmt
        .query_row(
            params![source.as_str(), request, ts(fetched_after)],
            raw_page,
        )
        .optional()
        .map_err(unavailable)?;
    row.map(RawPage::into_page).transpose()
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
    async fn append_bronze_page(
        &self,
        page: &BronzePage,
        checkpoint: &ExtractCheckpoint,
    ) -> Result<bool> {
        self.append_in_group(page.clone(), checkpoint.clone()).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PageRef;

    /// How SQLite plans the read of `f`'s pages, one step per line.
    fn plan(conn: &Connection, f: &BronzeFilter) -> String {
        let (sql, filters, limit) = pages_query(f);
        let limit = limit.as_ref().map(|n| n as &dyn rusqlite::ToSql);
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps = stmt
            .query_map(filters.params(limit.as_slice()).as_slice(), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        steps.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn a_scopes_pages_are_read_in_chunks_off_an_index_without_sorting_their_bodies() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let scope = BronzeFilter {
            source: Some(Source::Github),
            team: Some("payments".into()),
            target: Some("acme/ledger".into()),
            after: Some(PageRef {
                task_id: Uuid::nil(),
                seq: 3,
            }),
            limit: Some(32),
            ..BronzeFilter::default()
        };
        let of_run = BronzeFilter {
            run_id: Some(Uuid::nil()),
            ..scope.clone()
        };
        for (filter, index) in [(&of_run, "bronze_by_run"), (&scope, "bronze_by_scope")] {
            let plan = plan(&conn, filter);
            assert!(plan.contains(&format!("INDEX {index} (")), "{plan}");
            assert!(
                plan.contains("task_id") && plan.contains(">"),
                "a range: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");
        }
    }
}
