//! Reading bronze pages back: the statement that selects a filter's pages
//! (in storage order, a chunk at a time, straight off an index), the one
//! that finds the page a conditional request revalidates, and a stored row
//! turned back into a [`BronzePage`] (its body decompressed, see
//! [`page_body`](super::page_body)).

use super::filters::Filters;
use super::page_body::StoredBody;
use super::{parse_source, parse_ts, parse_uuid, ts, unavailable};
use crate::{BronzeFilter, BronzePage, Result};
use chrono::{DateTime, Utc};
use dorafleet_core::{Scope, Source};
use rusqlite::{Connection, OptionalExtension, Row, params};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PageRef;
    use uuid::Uuid;

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
