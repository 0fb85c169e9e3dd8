//! Collection names and the indexes the warehouse relies on, created when it
//! is opened. `createIndexes` with a spec that already exists is a no-op, so
//! every process may run this at start.
//!
//! The unique indexes are what make upserts by natural key safe under
//! concurrency (two upserts of one key cannot both insert), and what makes
//! definition versions unique. Bronze retention is a TTL index on the BSON
//! date `fetched_at`; MongoDB's TTL monitor deletes expired pages about once
//! a minute, and `purge_bronze_before` still deletes exactly on demand.

use super::classify;
use super::codec::number;
use crate::{Result, WarehouseError};
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use std::time::Duration;

pub(crate) const BRONZE_PAGES: &str = "bronze_pages";
pub(crate) const EXTRACT_CHECKPOINTS: &str = "extract_checkpoints";
pub(crate) const COVERAGE: &str = "coverage";
pub(crate) const SILVER_DEPLOYMENTS: &str = "silver_deployments";
pub(crate) const SILVER_CHANGES: &str = "silver_changes";
pub(crate) const SILVER_INCIDENTS: &str = "silver_incidents";
pub(crate) const SILVER_COMMITS: &str = "silver_commits";
pub(crate) const NORMALIZE_COUNTS: &str = "normalize_counts";
pub(crate) const GOLD: &str = "gold";
pub(crate) const DEFINITION_VERSIONS: &str = "definition_versions";
pub(crate) const DEAD_LETTERS: &str = "dead_letters";
pub(crate) const RUNS: &str = "runs";
pub(crate) const TASKS: &str = "tasks";
pub(crate) const LEASES: &str = "leases";
pub(crate) const SLOT_SCHEDULES: &str = "slot_schedules";
pub(crate) const HOLDS: &str = "holds";
pub(crate) const SEQUENCES: &str = "sequences";
pub(crate) const GOLD_OUTBOX: &str = "gold_outbox";
pub(crate) const MONITOR_CHECKPOINTS: &str = "monitor_checkpoints";
pub(crate) const DELIVERED_ALERTS: &str = "delivered_alerts";

/// The TTL index on bronze, found again by name to change its expiry.
const BRONZE_TTL: &str = "bronze_ttl";

/// The largest `expireAfterSeconds` MongoDB accepts (about 68 years): what
/// "keep bronze forever" means here.
const TTL_FOREVER_SECS: u64 = i32::MAX as u64;

fn index(name: &str, keys: Document, unique: bool) -> IndexModel {
    let mut options = IndexOptions::default();
    options.name = Some(name.to_owned());
    if unique {
        options.unique = Some(true);
    }
    IndexModel::builder().keys(keys).options(options).build()
}

fn unique(name: &str, keys: Document) -> IndexModel {
    index(name, keys, true)
}

fn plain(name: &str, keys: Document) -> IndexModel {
    index(name, keys, false)
}

pub(super) async fn ensure(db: &Database, bronze_retention: Option<Duration>) -> Result<()> {
    let wanted: [(&str, Vec<IndexModel>); 17] = [
        (
            BRONZE_PAGES,
            vec![
                unique("bronze_by_task_seq", doc! { "task_id": 1, "seq": 1 }),
                plain(
                    "bronze_by_run",
                    doc! { "execution_id": 1, "source_system": 1 },
                ),
                plain(
                    "bronze_by_scope",
                    doc! { "source_system": 1, "team": 1, "target": 1 },
                ),
                plain(
                    "bronze_by_request",
                    doc! { "source_system": 1, "request": 1, "fetched_at_exact": -1 },
                ),
            ],
        ),
        (
            EXTRACT_CHECKPOINTS,
            vec![plain("checkpoints_by_run", doc! { "run_id": 1 })],
        ),
        (
            COVERAGE,
            vec![unique(
                "coverage_by_scope",
                doc! { "source": 1, "team": 1, "target": 1 },
            )],
        ),
        (
            SILVER_DEPLOYMENTS,
            vec![
                unique("deployments_by_key", doc! { "source": 1, "key": 1 }),
                plain(
                    "deployments_by_team",
                    doc! { "team_id": 1, "finished_at": 1 },
                ),
            ],
        ),
        (
            SILVER_CHANGES,
            vec![
                unique("changes_by_key", doc! { "repo": 1, "number": 1 }),
                plain("changes_by_team", doc! { "team_id": 1, "merged_at": 1 }),
            ],
        ),
        (
            SILVER_INCIDENTS,
            vec![
                unique("incidents_by_key", doc! { "key": 1 }),
                plain("incidents_by_team", doc! { "team_id": 1, "created_at": 1 }),
            ],
        ),
        (
            SILVER_COMMITS,
            vec![
                unique("commits_by_key", doc! { "repo": 1, "sha": 1 }),
                plain("commits_by_team", doc! { "team_id": 1, "repo": 1 }),
            ],
        ),
        (
            NORMALIZE_COUNTS,
            vec![unique(
                "counts_by_task_scope",
                doc! { "run_id": 1, "source": 1, "team": 1, "target": 1 },
            )],
        ),
        (
            GOLD,
            vec![
                unique("gold_by_key", doc! { "team_id": 1, "date": 1, "metric": 1 }),
                plain("gold_by_date", doc! { "date": 1 }),
            ],
        ),
        (
            DEFINITION_VERSIONS,
            vec![
                unique(
                    "definitions_by_fingerprint",
                    doc! { "metric": 1, "fingerprint": 1 },
                ),
                unique("definitions_by_version", doc! { "metric": 1, "version": 1 }),
            ],
        ),
        (
            DEAD_LETTERS,
            vec![
                plain("letters_by_time", doc! { "last_failed_at": -1, "_id": -1 }),
                plain("letters_by_status", doc! { "status": 1 }),
            ],
        ),
        (
            RUNS,
            vec![
                plain("runs_by_time", doc! { "created_at": -1, "_id": -1 }),
                plain("runs_by_status", doc! { "status": 1 }),
            ],
        ),
        (
            TASKS,
            vec![plain("tasks_by_run", doc! { "run_id": 1, "_id": 1 })],
        ),
        // Leases and slot schedules are looked up by `_id` only.
        (LEASES, Vec::new()),
        (SLOT_SCHEDULES, Vec::new()),
        (
            HOLDS,
            vec![
                plain("holds_by_team", doc! { "team_id": 1, "status": 1 }),
                plain("holds_by_run", doc! { "run_id": 1 }),
                plain("holds_by_creation", doc! { "created_at": 1, "_id": 1 }),
            ],
        ),
        // The outbox, checkpoints and sequences are read by `_id`.
        (
            DELIVERED_ALERTS,
            vec![plain(
                "delivered_alerts_by_time",
                doc! { "delivered_at": 1, "_id": 1 },
            )],
        ),
    ];
    for (collection, models) in wanted {
        if models.is_empty() {
            continue;
        }
        db.collection::<Document>(collection)
            .create_indexes(models)
            .await
            .map_err(classify)?;
    }
    bronze_ttl(db, bronze_retention).await
}

/// Create the bronze TTL index, or change its expiry (`collMod`) when the
/// configured retention changed since it was created.
async fn bronze_ttl(db: &Database, retention: Option<Duration>) -> Result<()> {
    let seconds = retention.map_or(TTL_FOREVER_SECS, |d| d.as_secs().min(TTL_FOREVER_SECS));
    let pages = db.collection::<Document>(BRONZE_PAGES);
    // Read as plain documents: an index made by hand (e.g. in mongosh) may
    // carry `expireAfterSeconds` as a double, which the typed model refuses.
    let existing: Vec<Document> = pages
        .list_indexes()
        .await
        .map_err(classify)?
        .with_type::<Document>()
        .try_collect()
        .await
        .map_err(classify)?;
    let current = existing
        .iter()
        .find(|index| index.get_str("name") == Ok(BRONZE_TTL))
        .map(|index| index.get("expireAfterSeconds").map(|s| number(Some(s))));
    match current {
        None => {
            let mut options = IndexOptions::default();
            options.name = Some(BRONZE_TTL.to_owned());
            options.expire_after = Some(Duration::from_secs(seconds));
            pages
                .create_index(
                    IndexModel::builder()
                        .keys(doc! { "fetched_at": 1 })
                        .options(options)
                        .build(),
                )
                .await
                .map_err(classify)?;
        }
        Some(expiry) if expiry != Some(seconds) => {
            db.run_command(doc! {
                "collMod": BRONZE_PAGES,
                "index": { "keyPattern": { "fetched_at": 1 }, "expireAfterSeconds": seconds as i64 },
            })
            .await
            .map_err(classify)?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Transactions and change streams need a replica set (or a sharded
/// cluster); a standalone server would fail later and less clearly.
pub(super) async fn require_replica_set(db: &Database) -> Result<()> {
    let hello = db
        .run_command(doc! { "hello": 1 })
        .await
        .map_err(classify)?;
    let replica_set = hello.get_str("setName").is_ok();
    let sharded = hello.get_str("msg") == Ok("isdbgrid");
    if replica_set || sharded {
        Ok(())
    } else {
        Err(WarehouseError::config(
            "the MongoDB warehouse needs a replica set (transactions and change streams): \
             start mongod with --replSet rs0 and run rs.initiate(), a single node is enough",
        ))
    }
}
