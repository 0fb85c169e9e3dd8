//! The pipeline's stages: extract (API pages into bronze, with the
//! pagination sensor), normalize (bronze into silver) and aggregate (silver
//! into gold, behind the volume sensor and the holds).
//!
//! Each stage is a [`StageHandler`](dorafleet_worker::StageHandler); the
//! worker runtime in `dorafleet-worker` runs them with retries, dead letters
//! and events. [`handlers`] builds the set a worker runs.

#![warn(missing_docs, unreachable_pub)]

pub mod aggregate;
pub mod coverage;
pub mod extract;
pub mod guard;
pub mod normalize;
pub mod sensors;

pub use aggregate::AggregateHandler;
pub use extract::ExtractHandler;
pub use normalize::NormalizeHandler;

use dorafleet_core::{Config, Stage};
use dorafleet_sources::SourceClient;
use dorafleet_warehouse::Warehouse;
use dorafleet_worker::Handlers;
use std::sync::Arc;

/// The real handlers of `stages`: extract through `clients` (each with its
/// page size), normalize and aggregate under `config`, all writing to
/// `warehouse`. What every worker — fleet or standalone — runs. Every
/// handler sits behind [`guard::Guarded`]: tasks outside the configuration
/// or outside [`sync.earliest`, now] are refused before they run.
pub fn handlers(
    stages: &[Stage],
    warehouse: &Arc<dyn Warehouse>,
    config: &Arc<Config>,
    clients: impl IntoIterator<Item = (SourceClient, u32)>,
) -> Handlers {
    let mut handlers = Handlers::default();
    if stages.contains(&Stage::Extract) {
        let mut extract = ExtractHandler::new(Arc::clone(warehouse))
            .with_max_rejected_ratio(config.quality.max_rejected_ratio)
            .with_time(config.sync.watch(), config.clock.clone())
            .with_done_statuses(config.definitions.done_statuses.clone())
            .with_jira_api(config.sources.jira.api.unwrap_or_default())
            .with_bronze_retention_days(config.warehouse.bronze_retention_days);
        for (client, page_size) in clients {
            extract = extract.with_client(client, page_size);
        }
        handlers = handlers.with(Stage::Extract, guarded(extract, config));
    }
    if stages.contains(&Stage::Normalize) {
        let handler = NormalizeHandler::new(Arc::clone(warehouse), Arc::clone(config));
        handlers = handlers.with(Stage::Normalize, guarded(handler, config));
    }
    if stages.contains(&Stage::Aggregate) {
        let handler = AggregateHandler::new(Arc::clone(warehouse), Arc::clone(config));
        handlers = handlers.with(Stage::Aggregate, guarded(handler, config));
    }
    handlers
}

fn guarded(
    handler: impl dorafleet_worker::StageHandler + 'static,
    config: &Arc<Config>,
) -> Arc<dyn dorafleet_worker::StageHandler> {
    Arc::new(guard::Guarded::new(Arc::new(handler), Arc::clone(config)))
}
