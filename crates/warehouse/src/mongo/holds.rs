//! Holds: one document per hold, the hold itself as JSON (exact round trip,
//! as in SQLite) beside the fields the selections use.
//!
//! Resolving needs no transaction: each hold moves from `open` by one
//! conditional update (`{_id, status: "open"}`), so a hold is resolved once
//! and keeps its first resolution whoever races for it.

use super::MongoWarehouse;
use super::codec::{corrupt, ts};
use super::indexes::HOLDS;
use super::{by_id, classify};
use crate::{Hold, HoldFilter, HoldResolution, HoldStatus, Result, WarehouseError};
use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::Database;
use mongodb::bson::{Document, doc};

fn to_json(hold: &Hold) -> Result<String> {
    serde_json::to_string(hold).map_err(|e| WarehouseError::corrupt_from("hold", e))
}

/// Insert the hold unless its id is stored already (`$setOnInsert`).
pub(super) async fn save(db: &Database, hold: &Hold) -> Result<()> {
    db.collection::<Document>(HOLDS)
        .update_one(
            by_id(hold.hold_id.to_string()),
            doc! { "$setOnInsert": {
                "run_id": hold.run_id.to_string(),
                "team_id": &hold.team_id,
                "status": hold.status.as_str(),
                "created_at": ts(hold.created_at),
                "hold": to_json(hold)?,
            } },
        )
        .upsert(true)
        .await
        .map_err(classify)?;
    Ok(())
}

fn filter_doc(filter: &HoldFilter) -> Document {
    let mut d = Document::new();
    if let Some(run) = filter.run_id {
        d.insert("run_id", run.to_string());
    }
    if let Some(team) = &filter.team_id {
        d.insert("team_id", team.clone());
    }
    if let Some(status) = filter.status {
        d.insert("status", status.as_str());
    }
    if let Some(before) = filter.created_before {
        d.insert("created_at", doc! { "$lt": ts(before) });
    }
    d
}

pub(super) async fn select(db: &Database, filter: &HoldFilter) -> Result<Vec<Hold>> {
    let docs: Vec<Document> = db
        .collection::<Document>(HOLDS)
        .find(filter_doc(filter))
        .sort(doc! { "created_at": 1, "_id": 1 })
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    docs.iter()
        .map(|d| {
            let json = d
                .get_str("hold")
                .map_err(|e| WarehouseError::corrupt_from("hold", e))?;
            serde_json::from_str(json).map_err(|e| corrupt("hold")(e.to_string()))
        })
        .collect()
}

pub(super) async fn resolve(
    db: &Database,
    filter: &HoldFilter,
    status: HoldStatus,
    resolution: &HoldResolution,
) -> Result<Vec<Hold>> {
    let open = HoldFilter {
        status: Some(HoldStatus::Open),
        ..filter.clone()
    };
    let mut resolved = Vec::new();
    for mut hold in select(db, &open).await? {
        hold.status = status;
        hold.resolution = Some(resolution.clone());
        let updated = db
            .collection::<Document>(HOLDS)
            .update_one(
                doc! { "_id": hold.hold_id.to_string(), "status": HoldStatus::Open.as_str() },
                doc! { "$set": { "status": status.as_str(), "hold": to_json(&hold)? } },
            )
            .await
            .map_err(classify)?;
        if updated.modified_count == 1 {
            resolved.push(hold);
        }
    }
    Ok(resolved)
}

#[async_trait]
impl crate::HoldStore for MongoWarehouse {
    async fn save_hold(&self, hold: &crate::Hold) -> Result<()> {
        save(&self.db, hold).await
    }

    async fn holds(&self, filter: &crate::HoldFilter) -> Result<Vec<crate::Hold>> {
        select(&self.db, filter).await
    }

    async fn resolve_holds(
        &self,
        filter: &crate::HoldFilter,
        status: crate::HoldStatus,
        resolution: &crate::HoldResolution,
    ) -> Result<Vec<crate::Hold>> {
        resolve(&self.db, filter, status, resolution).await
    }
}
