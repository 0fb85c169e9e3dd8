//! The medallion warehouse, one small trait per role.
//!
//! Each concern of the warehouse is its own object-safe trait, next to the
//! records it stores: [`BronzeStore`] (raw pages, checkpoints, coverage),
//! [`SilverStore`], [`GoldStore`] (with its change feed), [`MonitorState`],
//! [`LetterArchive`], [`RunLedger`] (runs, tasks, leases), [`RequestSlots`] and
//! [`HoldStore`]. [`Warehouse`] is all of them together, for the places that
//! open the store and hand it on; everything else takes the narrowest role it
//! needs, so a reader sees at a glance what a component can touch.
//!
//! Two backends implement every role, each role in its own module: the
//! embedded SQLite file ([`sqlite`]) and MongoDB ([`mongo`]), chosen by the URL
//! scheme in [`open`]. Both must pass the same contract suite (the
//! `testsuite` feature, one file per role).

#![warn(missing_docs, unreachable_pub)]

mod bronze;
#[cfg(feature = "testsuite")]
// Each check's name is its documentation: `pub async fn <sentence>(w)`.
#[allow(missing_docs)]
pub mod contract;
mod error;
mod gold;
mod holds;
mod ledger;
mod letters;
pub mod mongo;
mod monitor;
mod silver;
mod slots;
pub mod sqlite;

pub use bronze::{
    BRONZE_PAGES_PER_READ, BronzeFilter, BronzePage, BronzeStore, BronzeTotals, Coverage,
    ExtractCheckpoint, PageRef, each_bronze_page,
};
pub use error::WarehouseError;
pub use gold::{GoldChange, GoldChangeKind, GoldFilter, GoldRecord, GoldStore};
pub use holds::{Hold, HoldEvidence, HoldFilter, HoldResolution, HoldStatus, HoldStore};
pub use ledger::{Fence, RunLedger, RunRecord, RunStatus, TaskRecord, TaskState};
pub use letters::{
    ArchivedLetter, AuditEntry, ClaimOutcome, LetterArchive, LetterFilter, LetterStatus,
};
pub use monitor::{DeliveredAlert, MonitorState};
pub use silver::{
    DeploymentOutcome, NormalizeCounts, SilverBatch, SilverChange, SilverCommit, SilverDeployment,
    SilverIncident, SilverStore, TeamSilver,
};
pub use slots::RequestSlots;

use dorafleet_core::config::WarehouseConfig;
use std::sync::Arc;

/// The warehouse's result type: [`WarehouseError`] unless said otherwise.
pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

/// The whole warehouse: every role. Held by what opens the store and hands
/// it on (the roles' entry points, the standalone runner); a component that
/// uses the store takes the role traits it needs instead.
pub trait Warehouse:
    BronzeStore
    + SilverStore
    + GoldStore
    + MonitorState
    + LetterArchive
    + RunLedger
    + RequestSlots
    + HoldStore
    + std::fmt::Debug
{
}

impl<T> Warehouse for T where
    T: BronzeStore
        + SilverStore
        + GoldStore
        + MonitorState
        + LetterArchive
        + RunLedger
        + RequestSlots
        + HoldStore
        + std::fmt::Debug
{
}

/// Whether a warehouse URL names MongoDB.
pub fn is_mongodb_url(url: &str) -> bool {
    url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")
}

/// Open the MongoDB warehouse a `mongodb://` URL names, as its own type (the
/// monitor follows its gold change stream).
pub async fn open_mongodb(config: &WarehouseConfig) -> Result<Arc<mongo::MongoWarehouse>> {
    let retention = (config.bronze_retention_days > 0).then(|| {
        std::time::Duration::from_secs(u64::from(config.bronze_retention_days) * 24 * 3600)
    });
    Ok(Arc::new(
        mongo::MongoWarehouse::open(&config.url, retention).await?,
    ))
}

/// Open the warehouse `config.url` names, by its scheme:
///
/// - `sqlite:PATH` or `sqlite::memory:` — the embedded SQLite file;
/// - `mongodb://…` or `mongodb+srv://…` — MongoDB (a replica set), in the
///   database the URL's path names (default `dorafleet`), with bronze expiring
///   after `bronze_retention_days` (0 keeps it).
///
/// Every role opens the warehouse through this one function.
pub async fn open(config: &WarehouseConfig) -> Result<Arc<dyn Warehouse>> {
    let url = config.url.as_str();
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.to_owned();
        let warehouse = tokio::task::spawn_blocking(move || {
            if path == ":memory:" {
                sqlite::SqliteWarehouse::open_in_memory()
            } else {
                sqlite::SqliteWarehouse::open(path)
            }
        })
        .await
        .map_err(|e| WarehouseError::unavailable_from("opening the warehouse failed", e))??;
        return Ok(Arc::new(warehouse));
    }
    if is_mongodb_url(url) {
        return Ok(open_mongodb(config).await?);
    }
    Err(WarehouseError::config(format!(
        "unsupported warehouse URL `{}`: expected sqlite:PATH, mongodb://… or mongodb+srv://…",
        redacted_url(url)
    )))
}

/// The URL without its `user:password@` part, for messages and logs.
pub fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> WarehouseConfig {
        WarehouseConfig {
            url: url.into(),
            ..WarehouseConfig::default()
        }
    }

    #[tokio::test]
    async fn the_url_scheme_picks_the_backend_and_unknown_schemes_are_refused() {
        let memory = open(&config("sqlite::memory:")).await.unwrap();
        assert!(format!("{memory:?}").contains("SqliteWarehouse"));
        let err = open(&config("postgres://ops:hunter2@db/dorafleet"))
            .await
            .unwrap_err();
        assert!(matches!(err, WarehouseError::Config { .. }), "{err}");
        assert!(err.to_string().contains("mongodb://"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(
            redacted_url("mongodb://ops:s3cret@db1:27017,db2/dorafleet?replicaSet=rs0"),
            "mongodb://…@db1:27017,db2/dorafleet?replicaSet=rs0"
        );
        assert_eq!(redacted_url("sqlite:dorafleet.db"), "sqlite:dorafleet.db");
    }

    #[tokio::test]
    async fn a_malformed_mongodb_url_is_a_configuration_error() {
        let err = open(&config("mongodb://")).await.unwrap_err();
        assert!(matches!(err, WarehouseError::Config { .. }), "{err}");
    }
}
