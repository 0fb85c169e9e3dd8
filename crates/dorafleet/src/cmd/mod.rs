//! One module per role, plus the few helpers they share.

pub mod backfill;
pub mod config;
pub mod coordinator;
pub mod demo;
pub mod dlq;
pub mod dlq_filter;
pub mod dlq_view;
pub mod dora_table;
pub mod fleet;
pub mod metrics;
pub mod runs;
pub mod shutdown;
pub mod sim;
pub mod standalone;
pub mod summary;
pub mod worker;

use anyhow::Context;
use dorafleet_core::{Config, Source};
use dorafleet_sources::SourceClient;
use std::path::Path;

/// Load the configuration: the given file (or `dorafleet.toml` if present), then env.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let default = Path::new("dorafleet.toml");
    let path = path.or_else(|| default.exists().then_some(default));
    Ok(Config::load(path)?)
}

/// One client per source, as configured.
pub fn source_clients(config: &Config) -> anyhow::Result<Vec<(SourceClient, u32)>> {
    Source::ALL
        .into_iter()
        .map(|source| {
            let c = config.sources.get(source);
            let client = SourceClient::new(source, c)
                .with_context(|| format!("configuring the {source} client"))?;
            Ok((client, c.page_size))
        })
        .collect()
}
