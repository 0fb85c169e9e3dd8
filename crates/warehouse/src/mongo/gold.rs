//! Gold: one document per (team, date, metric) under a unique index, a batch
//! upserted in one transaction; and the registry of definition versions.

use super::codec::{corrupt, int, parse_ts, parse_uuid, ts, uint};
use super::indexes::{DEFINITION_VERSIONS, GOLD};
use super::{MongoWarehouse, classify, is_duplicate_key};
use crate::{GoldChangeKind, GoldFilter, GoldRecord, Result, WarehouseError};
use async_trait::async_trait;
use chrono::DateTime;
use chrono::{NaiveDate, Utc};
use dorafleet_core::Metric;
use futures::{FutureExt, TryStreamExt};
use mongodb::Database;
use mongodb::bson::{Document, doc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A gold record as stored; also what the gold change stream decodes.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct GoldDoc {
    team_id: String,
    /// `YYYY-MM-DD`: text order is date order.
    date: String,
    metric: String,
    value: Option<f64>,
    sample_size: i64,
    samples: Vec<f64>,
    definition_version: i64,
    run_id: String,
    computed_at: String,
    complete: bool,
}

impl GoldDoc {
    fn new(g: &GoldRecord) -> Self {
        GoldDoc {
            team_id: g.team_id.clone(),
            date: g.date.to_string(),
            metric: g.metric.as_str().to_owned(),
            value: g.value,
            sample_size: int(g.sample_size),
            samples: g.samples.clone(),
            definition_version: i64::from(g.definition_version),
            run_id: g.run_id.to_string(),
            computed_at: ts(g.computed_at),
            complete: g.complete,
        }
    }

    /// The values a reader cares about (not the run or computation time).
    fn same_values(&self, other: &GoldDoc) -> bool {
        self.value == other.value
            && self.sample_size == other.sample_size
            && self.samples == other.samples
            && self.definition_version == other.definition_version
            && self.complete == other.complete
    }

    fn natural_key(&self) -> Document {
        doc! { "team_id": &self.team_id, "date": &self.date, "metric": &self.metric }
    }

    pub(super) fn into_record(self) -> Result<GoldRecord> {
        Ok(GoldRecord {
            date: self
                .date
                .parse::<NaiveDate>()
                .map_err(|e| corrupt("gold date")(format!("`{}`: {e}", self.date)))?,
            team_id: self.team_id,
            metric: self
                .metric
                .parse()
                .map_err(|e| corrupt("gold metric")(format!("{e}")))?,
            value: self.value,
            sample_size: uint(self.sample_size),
            samples: self.samples,
            definition_version: u32::try_from(self.definition_version)
                .map_err(|e| corrupt("gold definition version")(e.to_string()))?,
            run_id: parse_uuid(&self.run_id)?,
            computed_at: parse_ts(&self.computed_at)?,
            complete: self.complete,
        })
    }
}

pub(super) async fn upsert(w: &MongoWarehouse, records: &[GoldRecord]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    // The writer slot is claimed once per handle, outside any transaction:
    // no document is written by every gold transaction (see `monitor.rs`).
    let slot = w.outbox.slot(&w.db).await?;
    // One transaction per (team, metric): a dashboard or the change stream
    // never sees half a metric's recomputation (the stream delivers a
    // transaction's events at commit). A whole team's six metrics at once
    // made transactions long enough that concurrent commits (the monitor's
    // checkpoints, other teams' tasks) kept aborting them.
    let mut groups: std::collections::BTreeMap<(&str, &str), Vec<GoldRecord>> =
        std::collections::BTreeMap::new();
    for r in records {
        groups
            .entry((r.team_id.as_str(), r.metric.as_str()))
            .or_default()
            .push(r.clone());
    }
    for group in groups.into_values() {
        upsert_group(w, slot, group).await?;
    }
    Ok(())
}

/// One (team, metric) group of gold records in one transaction.
async fn upsert_group(w: &MongoWarehouse, slot: i64, records: Vec<GoldRecord>) -> Result<()> {
    let docs: Vec<GoldDoc> = records.iter().map(GoldDoc::new).collect();
    let gold = w.db.collection::<GoldDoc>(GOLD);
    // Each insert or real value change is appended to the gold outbox in the
    // same transaction (see `monitor.rs`); an identical recomputation is not.
    let (db, ids) = (w.db.clone(), Arc::clone(&w.outbox));
    w.transaction(
        (gold, docs, records, db, ids),
        |s, (gold, docs, records, db, ids)| {
            async move {
                for (g, record) in docs.iter().zip(records.iter()) {
                    let stored = gold.find_one(g.natural_key()).session(&mut *s).await?;
                    let kind = match stored {
                        None => Some(GoldChangeKind::Inserted),
                        Some(old) if old.same_values(g) => None,
                        Some(_) => Some(GoldChangeKind::Updated),
                    };
                    gold.replace_one(g.natural_key(), g)
                        .upsert(true)
                        .session(&mut *s)
                        .await?;
                    if let Some(kind) = kind {
                        super::monitor::append(db, s, ids.next(slot), record, kind).await?;
                    }
                }
                Ok(())
            }
            .boxed()
        },
    )
    .await
}

pub(super) async fn query(db: &Database, f: &GoldFilter) -> Result<Vec<GoldRecord>> {
    let mut filter = Document::new();
    let mut date = Document::new();
    if let Some(from) = f.from {
        date.insert("$gte", from.to_string());
    }
    if let Some(to) = f.to {
        date.insert("$lt", to.to_string());
    }
    if !date.is_empty() {
        filter.insert("date", date);
    }
    if !f.teams.is_empty() {
        filter.insert("team_id", doc! { "$in": f.teams.clone() });
    }
    if !f.metrics.is_empty() {
        let metrics: Vec<&str> = f.metrics.iter().map(|m| m.as_str()).collect();
        filter.insert("metric", doc! { "$in": metrics });
    }
    let docs: Vec<GoldDoc> = db
        .collection::<GoldDoc>(GOLD)
        .find(filter)
        .sort(doc! { "team_id": 1, "date": 1, "metric": 1 })
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)?;
    docs.into_iter().map(GoldDoc::into_record).collect()
}

#[derive(Debug, Serialize, Deserialize)]
struct DefinitionDoc {
    metric: String,
    fingerprint: String,
    version: i64,
    created_at: String,
}

/// How many times a registration races another before giving up (each lost
/// race means another process registered a definition in between).
const REGISTRATION_ATTEMPTS: usize = 100;

/// The known version of a fingerprint, or the next free one. No transaction:
/// the unique indexes on (metric, fingerprint) and (metric, version) refuse
/// a racing duplicate, and the loser reads again.
pub(super) async fn definition_version(
    db: &Database,
    metric: Metric,
    fingerprint: &str,
) -> Result<u32> {
    let definitions = db.collection::<DefinitionDoc>(DEFINITION_VERSIONS);
    let known = doc! { "metric": metric.as_str(), "fingerprint": fingerprint };
    for _ in 0..REGISTRATION_ATTEMPTS {
        if let Some(d) = definitions
            .find_one(known.clone())
            .await
            .map_err(classify)?
        {
            return version(d.version);
        }
        let latest = definitions
            .find_one(doc! { "metric": metric.as_str() })
            .sort(doc! { "version": -1 })
            .await
            .map_err(classify)?
            .map_or(0, |d| d.version);
        let next = latest + 1;
        let inserted = definitions
            .insert_one(DefinitionDoc {
                metric: metric.as_str().to_owned(),
                fingerprint: fingerprint.to_owned(),
                version: next,
                created_at: ts(Utc::now()),
            })
            .await;
        match inserted {
            Ok(_) => return version(next),
            Err(e) if is_duplicate_key(&e) => continue,
            Err(e) => return Err(classify(e)),
        }
    }
    Err(WarehouseError::unavailable(format!(
        "registering a definition of {} lost {REGISTRATION_ATTEMPTS} races in a row; retry",
        metric.as_str()
    )))
}

fn version(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|e| corrupt("definition version")(e.to_string()))
}

#[async_trait]
impl crate::GoldStore for MongoWarehouse {
    async fn upsert_gold(&self, records: &[GoldRecord]) -> Result<()> {
        upsert(self, records).await
    }

    async fn gold(&self, filter: &GoldFilter) -> Result<Vec<GoldRecord>> {
        query(&self.db, filter).await
    }

    async fn definition_version(&self, metric: Metric, fingerprint: &str) -> Result<u32> {
        definition_version(&self.db, metric, fingerprint).await
    }

    async fn gold_changes_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<crate::GoldChange>> {
        super::monitor::changes_after(&self.db, after_seq, limit).await
    }

    async fn purge_gold_changes(
        &self,
        through_seq: u64,
        written_before: DateTime<Utc>,
    ) -> Result<u64> {
        super::monitor::purge_changes(&self.db, through_seq, written_before).await
    }
}
