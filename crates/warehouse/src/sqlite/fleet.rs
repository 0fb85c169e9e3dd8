//! Runs, task states, leases and request-slot schedules.

use super::{parse_ts, parse_uuid, ts, unavailable};
use crate::{Result, RunRecord, TaskRecord, WarehouseError};
use chrono::{DateTime, Utc};
use dorafleet_core::Window;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::time::Duration;
use uuid::Uuid;

fn corrupt(what: &str) -> impl Fn(String) -> WarehouseError + '_ {
    move |e| WarehouseError::Corrupt(format!("{what}: {e}"))
}

pub(super) fn save_run(conn: &mut Connection, run: &RunRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO runs (run_id, kind, window_from, window_to, status, created_at, updated_at,
             traceparent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
        params![
            run.run_id.to_string(),
            run.kind,
            ts(run.window.from),
            ts(run.window.to),
            run.status.as_str(),
            ts(run.created_at),
            ts(run.updated_at),
            run.traceparent,
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn run(conn: &mut Connection, run_id: Uuid) -> Result<Option<RunRecord>> {
    Ok(select_runs(conn, Some(run_id), 1)?.into_iter().next())
}

pub(super) fn runs(conn: &mut Connection, limit: usize) -> Result<Vec<RunRecord>> {
    select_runs(conn, None, limit)
}

fn select_runs(
    conn: &mut Connection,
    run_id: Option<Uuid>,
    limit: usize,
) -> Result<Vec<RunRecord>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT run_id, kind, window_from, window_to, status, created_at, updated_at,
                 traceparent
             FROM runs WHERE (?1 IS NULL OR run_id = ?1)
             ORDER BY created_at DESC, run_id DESC LIMIT ?2",
        )
        .map_err(unavailable)?;
    let mut rows = stmt
        .query(params![run_id.map(|u| u.to_string()), limit as i64])
        .map_err(unavailable)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(unavailable)? {
        let text = |i: usize| r.get::<_, String>(i).map_err(unavailable);
        out.push(RunRecord {
            run_id: parse_uuid(&text(0)?)?,
            kind: text(1)?,
            window: Window {
                from: parse_ts(&text(2)?)?,
                to: parse_ts(&text(3)?)?,
            },
            status: text(4)?.parse().map_err(corrupt("run status"))?,
            created_at: parse_ts(&text(5)?)?,
            updated_at: parse_ts(&text(6)?)?,
            traceparent: r.get(7).map_err(unavailable)?,
        });
    }
    Ok(out)
}

pub(super) fn save_tasks(conn: &mut Connection, tasks: &[TaskRecord]) -> Result<()> {
    let tx = super::write_tx(conn)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO tasks (task_id, run_id, stage, source, team, target, state, published,
                     worker, attempts, envelope, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (task_id) DO UPDATE SET state = excluded.state,
                     published = excluded.published, worker = excluded.worker,
                     attempts = excluded.attempts, envelope = excluded.envelope,
                     updated_at = excluded.updated_at",
            )
            .map_err(unavailable)?;
        for t in tasks {
            let e = &t.envelope;
            stmt.execute(params![
                e.task_id.to_string(),
                e.run_id.to_string(),
                e.stage.as_str(),
                e.source.map(|s| s.as_str()),
                e.scope.team,
                e.scope.target,
                t.state.as_str(),
                t.published,
                t.worker,
                t.attempts,
                String::from_utf8_lossy(&e.encode()),
                ts(t.updated_at),
            ])
            .map_err(unavailable)?;
        }
    }
    tx.commit().map_err(unavailable)
}

pub(super) fn run_tasks(conn: &mut Connection, run_id: Uuid) -> Result<Vec<TaskRecord>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT envelope, state, published, worker, attempts, updated_at
             FROM tasks WHERE run_id = ?1 ORDER BY task_id",
        )
        .map_err(unavailable)?;
    let mut rows = stmt
        .query(params![run_id.to_string()])
        .map_err(unavailable)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(unavailable)? {
        let envelope: String = r.get(0).map_err(unavailable)?;
        let state: String = r.get(1).map_err(unavailable)?;
        out.push(TaskRecord {
            envelope: dorafleet_core::TaskEnvelope::decode(envelope.as_bytes())
                .map_err(|e| WarehouseError::Corrupt(format!("stored task: {e}")))?,
            state: state.parse().map_err(corrupt("task state"))?,
            published: r.get(2).map_err(unavailable)?,
            worker: r.get(3).map_err(unavailable)?,
            attempts: r.get(4).map_err(unavailable)?,
            updated_at: parse_ts(&r.get::<_, String>(5).map_err(unavailable)?)?,
        });
    }
    Ok(out)
}

pub(super) fn acquire_lease(
    conn: &mut Connection,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool> {
    let now = Utc::now();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or_default();
    let changed = conn
        .execute(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.holder = excluded.holder OR leases.expires_at < ?4",
            params![name, holder, ts(expires), ts(now)],
        )
        .map_err(unavailable)?;
    Ok(changed == 1)
}

pub(super) fn release_lease(conn: &mut Connection, name: &str, holder: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
        params![name, holder],
    )
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn reserve_slot(
    conn: &mut Connection,
    key: &str,
    interval: Duration,
) -> Result<DateTime<Utc>> {
    // IMMEDIATE: read-then-write under the write lock, so two processes never
    // get the same slot.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let next: Option<String> = tx
        .query_row(
            "SELECT next_at FROM slot_schedules WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    let now = Utc::now();
    let slot = match next {
        Some(t) => parse_ts(&t)?.max(now),
        None => now,
    };
    let after = slot + chrono::Duration::from_std(interval).unwrap_or_default();
    tx.execute(
        "INSERT INTO slot_schedules (key, next_at) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET next_at = excluded.next_at",
        params![key, ts(after)],
    )
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
