//! The dead-letter archive: letters are kept whole (as JSON) plus the columns
//! operators filter on. Nothing here ever deletes a letter.

use super::{ts, unavailable};
use crate::{Result, WarehouseError};
use chrono::Utc;
use dorafleet_core::DeadLetter;
use rusqlite::{Connection, params};

pub(super) fn store(conn: &mut Connection, letter: &DeadLetter) -> Result<()> {
    let json = serde_json::to_string(letter)
        .map_err(|e| WarehouseError::Corrupt(format!("dead letter does not serialize: {e}")))?;
    let task = letter.envelope.as_ref();
    conn.execute(
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
    Ok(())
}

pub(super) fn list(conn: &mut Connection, limit: usize) -> Result<Vec<DeadLetter>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT letter FROM dead_letters ORDER BY last_failed_at DESC, id DESC LIMIT ?1",
        )
        .map_err(unavailable)?;
    let rows = stmt
        .query_map(params![limit as i64], |r| r.get::<_, String>(0))
        .map_err(unavailable)?;
    let mut letters = Vec::new();
    for row in rows {
        let json = row.map_err(unavailable)?;
        letters.push(
            serde_json::from_str(&json)
                .map_err(|e| WarehouseError::Corrupt(format!("stored dead letter: {e}")))?,
        );
    }
    Ok(letters)
}
