//! Holds: one row per hold, the hold itself as JSON beside the columns the
//! selections use.

use super::SqliteWarehouse;
use super::filters::Filters;
use super::{parse_uuid, ts, unavailable};
use crate::{Hold, HoldFilter, HoldResolution, HoldStatus, Result, WarehouseError};
use async_trait::async_trait;
use rusqlite::{Connection, Transaction, params};

fn to_json(hold: &Hold) -> Result<String> {
    serde_json::to_string(hold).map_err(|e| WarehouseError::corrupt_from("hold", e))
}

pub(super) fn save(conn: &mut Connection, hold: &Hold) -> Result<()> {
    conn.execute(
        "INSERT INTO holds (hold_id, run_id, team_id, status, created_at, hold)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (hold_id) DO NOTHING",
        params![
            hold.hold_id.to_string(),
            hold.run_id.to_string(),
            hold.team_id,
            hold.status.as_str(),
            ts(hold.created_at),
            to_json(hold)?,
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn select_in(conn: &Connection, filter: &HoldFilter) -> Result<Vec<Hold>> {
    let filters = Filters::new()
        .equal("run_id", filter.run_id.map(|u| u.to_string()))
        .equal("team_id", filter.team_id.clone())
        .equal("status", filter.status.map(|s| s.as_str().to_owned()))
        .compare("created_at", "<", filter.created_before.map(ts));
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT hold_id, hold FROM holds {} ORDER BY created_at, hold_id",
            filters.where_clause()
        ))
        .map_err(unavailable)?;
    let mut rows = stmt
        .query(filters.params(&[]).as_slice())
        .map_err(unavailable)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(unavailable)? {
        let id: String = row.get(0).map_err(unavailable)?;
        let json: String = row.get(1).map_err(unavailable)?;
        let hold: Hold = serde_json::from_str(&json).map_err(|e| {
            WarehouseError::corrupt(format!("hold {}: {e}", parse_uuid(&id).unwrap_or_default()))
        })?;
        out.push(hold);
    }
    Ok(out)
}

pub(super) fn select(conn: &mut Connection, filter: &HoldFilter) -> Result<Vec<Hold>> {
    select_in(conn, filter)
}

pub(super) fn resolve(
    conn: &mut Connection,
    filter: &HoldFilter,
    status: HoldStatus,
    resolution: &HoldResolution,
) -> Result<Vec<Hold>> {
    let tx = super::write_tx(conn)?;
    let open = HoldFilter {
        status: Some(HoldStatus::Open),
        ..filter.clone()
    };
    let mut resolved = select_in(&tx, &open)?;
    for hold in &mut resolved {
        hold.status = status;
        hold.resolution = Some(resolution.clone());
        update(&tx, hold)?;
    }
    tx.commit().map_err(unavailable)?;
    Ok(resolved)
}

fn update(tx: &Transaction<'_>, hold: &Hold) -> Result<()> {
    tx.execute(
        "UPDATE holds SET status = ?2, hold = ?3 WHERE hold_id = ?1",
        params![
            hold.hold_id.to_string(),
            hold.status.as_str(),
            to_json(hold)?
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl crate::HoldStore for SqliteWarehouse {
    async fn save_hold(&self, hold: &crate::Hold) -> Result<()> {
        let hold = hold.clone();
        self.with_conn(move |c| save(c, &hold)).await
    }

    async fn holds(&self, filter: &crate::HoldFilter) -> Result<Vec<crate::Hold>> {
        let filter = filter.clone();
        self.with_reader(move |c| select(c, &filter)).await
    }

    async fn resolve_holds(
        &self,
        filter: &crate::HoldFilter,
        status: crate::HoldStatus,
        resolution: &crate::HoldResolution,
    ) -> Result<Vec<crate::Hold>> {
        let (filter, resolution) = (filter.clone(), resolution.clone());
        self.with_conn(move |c| resolve(c, &filter, status, &resolution))
            .await
    }
}
