//! Runs, task states and leases.

use super::SqliteWarehouse;
use super::filters::Filters;
use super::{parse_ts, parse_uuid, ts, unavailable};
use crate::ledger::fenced_message;
use crate::{Fence, Result, RunRecord, TaskRecord, WarehouseError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::Window;
use rusqlite::{Connection, OptionalExtension, params};
use std::time::Duration;
use uuid::Uuid;

fn corrupt(what: &str) -> impl Fn(String) -> WarehouseError + '_ {
    move |e| WarehouseError::corrupt(format!("{what}: {e}"))
}

pub(super) fn save_run(conn: &Connection, run: &RunRecord) -> Result<()> {
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
    let filters = Filters::new().equal("run_id", run_id.map(|u| u.to_string()));
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT run_id, kind, window_from, window_to, status, created_at, updated_at,
                 traceparent
             FROM runs {} ORDER BY created_at DESC, run_id DESC LIMIT ?{}",
            filters.where_clause(),
            filters.next_number()
        ))
        .map_err(unavailable)?;
    let limit = limit as i64;
    let mut rows = stmt
        .query(filters.params(&[&limit]).as_slice())
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
    insert_tasks(&tx, tasks)?;
    tx.commit().map_err(unavailable)
}

/// [`save_run`] in one transaction with the check of `fence`.
fn save_run_fenced(conn: &mut Connection, run: &RunRecord, fence: &Fence) -> Result<()> {
    let tx = super::write_tx(conn)?;
    check_fence(&tx, fence)?;
    save_run(&tx, run)?;
    tx.commit().map_err(unavailable)
}

/// [`save_tasks`] in one transaction with the check of `fence`.
fn save_tasks_fenced(conn: &mut Connection, tasks: &[TaskRecord], fence: &Fence) -> Result<()> {
    let tx = super::write_tx(conn)?;
    check_fence(&tx, fence)?;
    insert_tasks(&tx, tasks)?;
    tx.commit().map_err(unavailable)
}

/// Refuse unless `fence` is the lease's current generation. Inside a write
/// transaction (which SQLite serialises with every other writer, lease
/// takeovers included), so the check holds until the commit.
fn check_fence(conn: &Connection, fence: &Fence) -> Result<()> {
    let current: Option<i64> = conn
        .query_row(
            "SELECT generation FROM leases WHERE name = ?1",
            params![fence.name],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    let current = current.and_then(|g| u64::try_from(g).ok());
    if current == Some(fence.generation) {
        Ok(())
    } else {
        Err(WarehouseError::fenced(fenced_message(fence, current)))
    }
}

fn insert_tasks(tx: &Connection, tasks: &[TaskRecord]) -> Result<()> {
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
    Ok(())
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
                .map_err(|e| WarehouseError::corrupt_from("stored task", e))?,
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
) -> Result<Option<u64>> {
    let now = Utc::now();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or_default();
    // One statement, so atomic: the upsert changes the row only when it is
    // the holder's or expired, and a takeover moves the generation on (SET
    // expressions read the row as it was).
    let generation: Option<i64> = conn
        .query_row(
            "INSERT INTO leases (name, holder, expires_at, generation) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (name) DO UPDATE SET
                 generation = CASE WHEN leases.holder = excluded.holder
                     THEN leases.generation ELSE leases.generation + 1 END,
                 holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.holder = excluded.holder OR leases.expires_at < ?4
             RETURNING generation",
            params![name, holder, ts(expires), ts(now)],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    generation
        .map(|g| u64::try_from(g).map_err(|e| WarehouseError::corrupt_from("lease generation", e)))
        .transpose()
}

pub(super) fn release_lease(conn: &mut Connection, name: &str, holder: &str) -> Result<()> {
    // The row stays, expired and without a holder: its generation must
    // never go back.
    conn.execute(
        "UPDATE leases SET holder = '', expires_at = ?3 WHERE name = ?1 AND holder = ?2",
        params![name, holder, ts(DateTime::UNIX_EPOCH)],
    )
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl crate::RunLedger for SqliteWarehouse {
    async fn save_run(&self, run: &RunRecord) -> Result<()> {
        let run = run.clone();
        self.with_conn(move |c| save_run(c, &run)).await
    }

    async fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        self.with_reader(move |c| runs(c, limit)).await
    }

    async fn run(&self, run_id: Uuid) -> Result<Option<RunRecord>> {
        self.with_reader(move |c| run(c, run_id)).await
    }

    async fn save_tasks(&self, tasks: &[TaskRecord]) -> Result<()> {
        let tasks = tasks.to_vec();
        self.with_conn(move |c| save_tasks(c, &tasks)).await
    }

    async fn run_tasks(&self, run_id: Uuid) -> Result<Vec<TaskRecord>> {
        self.with_reader(move |c| run_tasks(c, run_id)).await
    }

    async fn save_run_fenced(&self, run: &RunRecord, fence: &Fence) -> Result<()> {
        let (run, fence) = (run.clone(), fence.clone());
        self.with_conn(move |c| save_run_fenced(c, &run, &fence))
            .await
    }

    async fn save_tasks_fenced(&self, tasks: &[TaskRecord], fence: &Fence) -> Result<()> {
        let (tasks, fence) = (tasks.to_vec(), fence.clone());
        self.with_conn(move |c| save_tasks_fenced(c, &tasks, &fence))
            .await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<u64>> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.with_conn(move |c| acquire_lease(c, &name, &holder, ttl))
            .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.with_conn(move |c| release_lease(c, &name, &holder))
            .await
    }
}
