//! Normalize: bronze → silver.
//!
//! This stage reads a scope's bronze pages a chunk at a time, hands each to
//! the source's normalizer (`dorafleet_sources::{github,jira,jenkins}`'s
//! `Normalizer`, next to that source's models and schema) and upserts the
//! silver records. A worker so holds the scope's parsed records, not every
//! page body the run stored for it.
//!
//! Each source's pages are parsed record by record with the typed models of
//! `dorafleet-sources` (timestamps already in UTC): a record that fails
//! schema validation is skipped and counted (`rejected_records`), and fields
//! nobody knows are counted by name (`unknown_fields`), as at extract. The
//! extract stage already failed every task with too many of them. Identities are resolved to one contributor_id,
//! targets are mapped to their team, and bots, aborted builds and other
//! non-events are left out with their counts kept. The output is upserted by
//! natural key, so normalizing the same bronze twice changes nothing.

use async_trait::async_trait;
use dorafleet_core::{Config, Scope, Source, TaskEnvelope, TaskError, TaskStats};
use dorafleet_sources::ScopeNormalizer;
use dorafleet_warehouse::{
    BronzeFilter, BronzePage, DeploymentOutcome, NormalizeCounts, SilverBatch, SilverDeployment,
    Warehouse, each_bronze_page,
};
use dorafleet_worker::{HandlerOutcome, StageHandler};
use std::sync::Arc;
use uuid::Uuid;

/// Turn the bronze pages of one scope into silver. Pages are applied in
/// storage order, so a later copy of a record replaces an earlier one.
pub fn normalize_scope(
    config: &Config,
    source: Source,
    scope: &Scope,
    run_id: Uuid,
    pages: &[BronzePage],
) -> Result<SilverBatch, TaskError> {
    let mut normalizer = dorafleet_sources::normalizer(source, config, scope, run_id)?;
    for page in pages {
        normalizer.add(page)?;
    }
    finish(normalizer, source, scope, run_id, pages.len() as u64)
}

/// The batch of `normalizer`, with its totals, run and scope filled in.
fn finish(
    normalizer: Box<dyn ScopeNormalizer + '_>,
    source: Source,
    scope: &Scope,
    run_id: Uuid,
    pages: u64,
) -> Result<SilverBatch, TaskError> {
    let mut batch = normalizer.finish()?;
    batch.counts.run_id = run_id;
    batch.counts.source = Some(source);
    batch.counts.scope = Some(scope.clone());
    batch.counts.pages = pages;
    batch.counts.deployments = batch.deployments.len() as u64;
    batch.counts.changes = batch.changes.len() as u64;
    batch.counts.incidents = batch.incidents.len() as u64;
    Ok(batch)
}

/// The bronze pages `pages` selects (of `source` in `scope`), read a chunk
/// at a time ([`each_bronze_page`]) and normalized as they come; then the
/// deployments the batch found deleted but does not hold (watched ones an
/// earlier run listed) marked `deleted` from what silver holds, then the
/// batch upserted. What the normalize stage and a backfill from bronze both
/// do.
pub async fn normalize_into_silver(
    warehouse: &dyn Warehouse,
    config: &Config,
    source: Source,
    scope: &Scope,
    run_id: Uuid,
    pages: &BronzeFilter,
) -> Result<SilverBatch, TaskError> {
    let mut normalizer = dorafleet_sources::normalizer(source, config, scope, run_id)?;
    let read = each_bronze_page(warehouse, pages, |page| normalizer.add(&page)).await?;
    let mut batch = finish(normalizer, source, scope, run_id, read)?;
    if !batch.gone_deployments.is_empty() {
        let stored = warehouse.team_silver(&scope.team).await?;
        for (gone_source, key) in std::mem::take(&mut batch.gone_deployments) {
            if let Some(known) = stored
                .deployments
                .iter()
                .find(|d| d.source == gone_source && d.key == key)
            {
                batch.deployments.push(SilverDeployment {
                    status: DeploymentOutcome::Deleted,
                    finished_at: None,
                    run_id,
                    ..known.clone()
                });
            }
        }
        batch.counts.deployments = batch.deployments.len() as u64;
    }
    dorafleet_worker::still_held()?;
    warehouse.upsert_silver(&batch).await?;
    Ok(batch)
}

/// The normalize stage's handler: a scope's bronze pages into silver records.
#[derive(Debug, Clone)]
pub struct NormalizeHandler {
    warehouse: Arc<dyn Warehouse>,
    config: Arc<Config>,
}

impl NormalizeHandler {
    /// Reads bronze from and upserts silver into `warehouse`; `config`
    /// supplies the teams, identities and definitions the normalizers use.
    pub fn new(warehouse: Arc<dyn Warehouse>, config: Arc<Config>) -> Self {
        NormalizeHandler { warehouse, config }
    }

    async fn run(&self, task: &TaskEnvelope) -> Result<NormalizeCounts, TaskError> {
        let source = task
            .source
            .ok_or_else(|| TaskError::permanent("normalize task without a source"))?;
        let pages = BronzeFilter {
            run_id: Some(task.run_id),
            source: Some(source),
            team: Some(task.scope.team.clone()),
            target: task.scope.target.clone(),
            ..BronzeFilter::default()
        };
        let batch = normalize_into_silver(
            self.warehouse.as_ref(),
            &self.config,
            source,
            &task.scope,
            task.run_id,
            &pages,
        )
        .await?;
        dorafleet_telemetry::metrics::records_written(
            "silver",
            (batch.deployments.len() + batch.changes.len() + batch.incidents.len()) as u64,
        );
        Ok(batch.counts)
    }
}

#[async_trait]
impl StageHandler for NormalizeHandler {
    async fn handle(&self, task: &TaskEnvelope) -> HandlerOutcome {
        let span = tracing::info_span!("normalize", source = task.source.map_or("none", |s| s.as_str()), team = %task.scope.team);
        match tracing::Instrument::instrument(self.run(task), span).await {
            Ok(counts) => HandlerOutcome::ok(TaskStats {
                pages: counts.pages,
                records: counts.deployments + counts.changes + counts.incidents,
                ..TaskStats::default()
            }),
            Err(e) => HandlerOutcome::failed(TaskStats::default(), e),
        }
    }
}
