//! The dead-letter archive: letters are kept whole (as JSON) plus the columns
//! operators filter on, a status, and an audit trail. Nothing here ever
//! deletes a letter.

use super::SqliteWarehouse;
use super::filters::Filters;
use super::{parse_ts, ts, unavailable};
use crate::{
    ArchivedLetter, AuditEntry, ClaimOutcome, LetterFilter, LetterStatus, Result, WarehouseError,
};
use async_trait::async_trait;
use chrono::Utc;
use dorafleet_core::{DeadLetter, TaskEnvelope};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

fn corrupt(e: impl std::error::Error + Send + Sync + 'static) -> WarehouseError {
    WarehouseError::corrupt_from("stored dead letter", e)
}

fn audit(tx: &Transaction<'_>, id: Uuid, actor: &str, action: &str, detail: &str) -> Result<()> {
    tx.prepare_cached(AUDIT)
        .and_then(|mut insert| {
            insert.execute(params![
                id.to_string(),
                ts(Utc::now()),
                actor,
                action,
                detail
            ])
        })
        .map_err(unavailable)?;
    Ok(())
}

pub(super) fn store(conn: &mut Connection, letter: &DeadLetter) -> Result<()> {
    let json = serde_json::to_string(letter).map_err(corrupt)?;
    let task = letter.envelope.as_ref();
    let tx = super::write_tx(conn)?;
    let inserted = tx
        .execute(
            "INSERT OR IGNORE INTO dead_letters (id, task_id, run_id, stage, source, team, target,
                 error_class, reason, first_failed_at, last_failed_at, letter, archived_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                letter.id.to_string(),
                task.map(|t| t.task_id.to_string()),
                task.map(|t| t.run_id.to_string()),
                letter.stage.map(|s| s.as_str()),
                letter.source.map(|s| s.as_str()),
                letter.scope.as_ref().map(|s| s.team.clone()),
                letter.scope.as_ref().and_then(|s| s.target.clone()),
                letter.error_class.as_str(),
                letter.reason,
                ts(letter.first_failed_at),
                ts(letter.last_failed_at),
                json,
                ts(Utc::now()),
            ],
        )
        .map_err(unavailable)?;
    if inserted == 1 {
        audit(&tx, letter.id, "archiver", "archived", &letter.reason)?;
    }
    tx.commit().map_err(unavailable)
}

pub(super) fn list(conn: &mut Connection, limit: usize) -> Result<Vec<DeadLetter>> {
    let filter = LetterFilter {
        limit: Some(limit),
        ..LetterFilter::default()
    };
    Ok(archived(conn, &filter)?
        .into_iter()
        .map(|a| a.letter)
        .collect())
}

pub(super) fn archived(
    conn: &mut Connection,
    filter: &LetterFilter,
) -> Result<Vec<ArchivedLetter>> {
    let mut out = Vec::new();
    if !filter.ids.is_empty() {
        // Letters named by id are looked up by key, one by one.
        let mut stmt = conn
            .prepare_cached(
                "SELECT letter, status, replay_count, archived_at FROM dead_letters WHERE id = ?1",
            )
            .map_err(unavailable)?;
        for id in &filter.ids {
            let mut rows = stmt.query(params![id.to_string()]).map_err(unavailable)?;
            if let Some(r) = rows.next().map_err(unavailable)? {
                let a = archived_row(r)?;
                if filter.matches(&a.letter, a.status) {
                    out.push(a);
                }
            }
        }
        out.sort_by_key(|a| std::cmp::Reverse(a.letter.last_failed_at));
        if let Some(limit) = filter.limit {
            out.truncate(limit);
        }
    } else {
        let filters = Filters::new()
            .equal("status", filter.status.map(|s| s.as_str().to_owned()))
            .equal("source", filter.source.map(|s| s.as_str().to_owned()))
            .equal("team", filter.team.clone())
            .equal("stage", filter.stage.map(|s| s.as_str().to_owned()));
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT letter, status, replay_count, archived_at FROM dead_letters
                 {} ORDER BY last_failed_at DESC, id DESC",
                filters.where_clause()
            ))
            .map_err(unavailable)?;
        let mut rows = stmt
            .query(filters.params(&[]).as_slice())
            .map_err(unavailable)?;
        while let Some(r) = rows.next().map_err(unavailable)? {
            let a = archived_row(r)?;
            if !filter.matches(&a.letter, a.status) {
                continue;
            }
            if filter.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            out.push(a);
        }
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT at, actor, action, detail FROM dead_letter_audit WHERE letter_id = ?1 ORDER BY seq",
        )
        .map_err(unavailable)?;
    for a in &mut out {
        let mut rows = stmt
            .query(params![a.letter.id.to_string()])
            .map_err(unavailable)?;
        while let Some(r) = rows.next().map_err(unavailable)? {
            a.audit.push(AuditEntry {
                at: parse_ts(&r.get::<_, String>(0).map_err(unavailable)?)?,
                actor: r.get(1).map_err(unavailable)?,
                action: r.get(2).map_err(unavailable)?,
                detail: r.get(3).map_err(unavailable)?,
            });
        }
    }
    Ok(out)
}

fn archived_row(r: &rusqlite::Row<'_>) -> Result<ArchivedLetter> {
    Ok(ArchivedLetter {
        letter: serde_json::from_str(&r.get::<_, String>(0).map_err(unavailable)?)
            .map_err(corrupt)?,
        status: r
            .get::<_, String>(1)
            .map_err(unavailable)?
            .parse()
            .map_err(|e: String| WarehouseError::corrupt(format!("stored dead letter: {e}")))?,
        replay_count: r.get(2).map_err(unavailable)?,
        archived_at: parse_ts(&r.get::<_, String>(3).map_err(unavailable)?)?,
        audit: Vec::new(),
    })
}

/// The next audit entry of a letter, numbered after its last one.
const AUDIT: &str = "INSERT INTO dead_letter_audit (letter_id, seq, at, actor, action, detail)
     VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM dead_letter_audit WHERE letter_id = ?1),
             ?2, ?3, ?4, ?5)";

/// Claims every claimable letter of `ids` in one IMMEDIATE transaction:
/// SQLite's single writer makes each conditional update atomic against any
/// other replay, in this process or another.
pub(super) fn claim(
    conn: &mut Connection,
    ids: &[Uuid],
    actor: &str,
    stale_after: Duration,
) -> Result<Vec<ClaimOutcome>> {
    let tx = super::write_tx(conn)?;
    // One instant for the whole batch: a claim made here is never older than
    // `stale_before`, so an id given twice is not claimed twice.
    let now = Utc::now();
    let stale_before = now - chrono::Duration::from_std(stale_after).unwrap_or_default();
    let (now, stale_before) = (ts(now), ts(stale_before));
    let mut outcomes = Vec::with_capacity(ids.len());
    {
        let mut claim = tx
            .prepare_cached(
                "UPDATE dead_letters SET status = 'replaying', claimed_by = ?2, claimed_at = ?3
                 WHERE id = ?1 AND (status = 'dead' OR (status = 'replaying' AND claimed_at < ?4))",
            )
            .map_err(unavailable)?;
        let mut audit = tx.prepare_cached(AUDIT).map_err(unavailable)?;
        let mut status = tx
            .prepare_cached("SELECT status FROM dead_letters WHERE id = ?1")
            .map_err(unavailable)?;
        for id in ids {
            let id = id.to_string();
            let claimed = claim
                .execute(params![id, actor, now, stale_before])
                .map_err(unavailable)?;
            if claimed == 1 {
                audit
                    .execute(params![
                        id,
                        now,
                        actor,
                        "replay_claimed",
                        "claimed for replay"
                    ])
                    .map_err(unavailable)?;
                outcomes.push(ClaimOutcome::Claimed);
                continue;
            }
            let found: Option<String> = status
                .query_row(params![id], |r| r.get(0))
                .optional()
                .map_err(unavailable)?;
            let found = found
                .map(|s| s.parse::<LetterStatus>())
                .transpose()
                .map_err(|e| WarehouseError::corrupt(format!("stored dead letter: {e}")))?;
            outcomes.push(ClaimOutcome::NotClaimed(found));
        }
    }
    tx.commit().map_err(unavailable)?;
    Ok(outcomes)
}

/// Marks the letters replayed, resets their tasks and reopens their runs in
/// one IMMEDIATE transaction; each run is reopened once, however many of
/// its tasks the batch holds.
pub(super) fn finish_replays(
    conn: &mut Connection,
    replayed: &[(Uuid, TaskEnvelope)],
    actor: &str,
) -> Result<()> {
    let tx = super::write_tx(conn)?;
    let now = ts(Utc::now());
    let mut runs = BTreeSet::new();
    {
        let mut mark = tx
            .prepare_cached(
                "UPDATE dead_letters SET status = 'replayed', replay_count = replay_count + 1,
                     claimed_by = NULL, claimed_at = NULL
                 WHERE id = ?1 RETURNING replay_count",
            )
            .map_err(unavailable)?;
        let mut audit = tx.prepare_cached(AUDIT).map_err(unavailable)?;
        // The run waits for the task again: its record goes back to pending.
        let mut reset = tx
            .prepare_cached(
                "UPDATE tasks SET state = 'pending', published = 1, attempts = 0, envelope = ?2,
                     updated_at = ?3
                 WHERE task_id = ?1 RETURNING run_id",
            )
            .map_err(unavailable)?;
        for (id, task) in replayed {
            let id = id.to_string();
            let count: Option<u32> = mark
                .query_row(params![id], |r| r.get(0))
                .optional()
                .map_err(unavailable)?;
            // Returning drops the transaction: nothing of the batch is written.
            let Some(count) = count else {
                return Err(WarehouseError::corrupt(format!("no dead letter {id}")));
            };
            let detail = format!(
                "republished to {} with a fresh budget of {} attempts (replay #{count})",
                task.route(),
                task.max_attempts,
            );
            audit
                .execute(params![id, now, actor, "replayed", detail])
                .map_err(unavailable)?;
            let run: Option<String> = reset
                .query_row(
                    params![
                        task.task_id.to_string(),
                        String::from_utf8_lossy(&task.encode()),
                        now
                    ],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            runs.extend(run);
        }
        // ... and its run is unfinished again until the task ends.
        let mut reopen = tx
            .prepare_cached(
                "UPDATE runs SET status = 'running', updated_at = ?2
                 WHERE run_id = ?1 AND status != 'running'",
            )
            .map_err(unavailable)?;
        for run in &runs {
            reopen.execute(params![run, now]).map_err(unavailable)?;
        }
    }
    tx.commit().map_err(unavailable)
}

pub(super) fn abandon(
    conn: &mut Connection,
    abandoned: &[(Uuid, String)],
    actor: &str,
) -> Result<()> {
    let tx = super::write_tx(conn)?;
    let now = ts(Utc::now());
    {
        let mut give_back = tx
            .prepare_cached(
                "UPDATE dead_letters SET status = 'dead', claimed_by = NULL, claimed_at = NULL
                 WHERE id = ?1 AND status = 'replaying'",
            )
            .map_err(unavailable)?;
        let mut audit = tx.prepare_cached(AUDIT).map_err(unavailable)?;
        for (id, reason) in abandoned {
            let id = id.to_string();
            if give_back.execute(params![id]).map_err(unavailable)? == 1 {
                audit
                    .execute(params![id, now, actor, "replay_abandoned", reason])
                    .map_err(unavailable)?;
            }
        }
    }
    tx.commit().map_err(unavailable)
}

pub(super) fn discard(
    conn: &mut Connection,
    ids: &[Uuid],
    actor: &str,
    reason: &str,
) -> Result<usize> {
    let tx = super::write_tx(conn)?;
    let mut discarded = 0;
    {
        let mut mark = tx
            .prepare_cached(
                "UPDATE dead_letters SET status = 'discarded' WHERE id = ?1 AND status = 'dead'",
            )
            .map_err(unavailable)?;
        for id in ids {
            if mark.execute(params![id.to_string()]).map_err(unavailable)? == 1 {
                audit(&tx, *id, actor, "discarded", reason)?;
                discarded += 1;
            }
        }
    }
    tx.commit().map_err(unavailable)?;
    Ok(discarded)
}

#[async_trait]
impl crate::LetterArchive for SqliteWarehouse {
    async fn store_dead_letter(&self, letter: &DeadLetter) -> Result<()> {
        let letter = letter.clone();
        self.with_conn(move |c| store(c, &letter)).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.with_conn(move |c| list(c, limit)).await
    }

    async fn archived_letters(&self, filter: &LetterFilter) -> Result<Vec<ArchivedLetter>> {
        let filter = filter.clone();
        self.with_conn(move |c| archived(c, &filter)).await
    }

    async fn claim_letters(
        &self,
        ids: &[Uuid],
        actor: &str,
        stale_after: Duration,
    ) -> Result<Vec<ClaimOutcome>> {
        let (ids, actor) = (ids.to_vec(), actor.to_owned());
        self.with_conn(move |c| claim(c, &ids, &actor, stale_after))
            .await
    }

    async fn finish_replays(&self, replayed: &[(Uuid, TaskEnvelope)], actor: &str) -> Result<()> {
        let (replayed, actor) = (replayed.to_vec(), actor.to_owned());
        self.with_conn(move |c| finish_replays(c, &replayed, &actor))
            .await
    }

    async fn abandon_replays(&self, abandoned: &[(Uuid, String)], actor: &str) -> Result<()> {
        let (abandoned, actor) = (abandoned.to_vec(), actor.to_owned());
        self.with_conn(move |c| abandon(c, &abandoned, &actor))
            .await
    }

    async fn discard_letters(&self, ids: &[Uuid], actor: &str, reason: &str) -> Result<usize> {
        let (ids, actor, reason) = (ids.to_vec(), actor.to_owned(), reason.to_owned());
        self.with_conn(move |c| discard(c, &ids, &actor, &reason))
            .await
    }
}
