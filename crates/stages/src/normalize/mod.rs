//! Normalize: bronze → silver.
//!
//! Each source's pages are parsed record by record with the typed models of
//! `dorafleet-sources` (timestamps already in UTC): a record that fails
//! schema validation is skipped and counted (`rejected_records`), and fields
//! nobody knows are counted by name (`unknown_fields`), as at extract. The
//! extract stage already failed every task with too many of them. Identities are resolved to one contributor_id,
//! targets are mapped to their team, and bots, aborted builds and other
//! non-events are left out with their counts kept. The output is upserted by
//! natural key, so normalizing the same bronze twice changes nothing.

mod github;
mod jenkins;
mod jira;

use async_trait::async_trait;
use dorafleet_core::{Config, Scope, Source, TaskEnvelope, TaskError, TaskStats};
use dorafleet_sources::validate;
use dorafleet_warehouse::{BronzeFilter, BronzePage, NormalizeCounts, SilverBatch, Warehouse};
use dorafleet_worker::{HandlerOutcome, StageHandler};
use serde::de::DeserializeOwned;
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
    let mut batch = match source {
        Source::Github => github::normalize(config, scope, run_id, pages)?,
        Source::Jira => jira::normalize(config, scope, run_id, pages)?,
        Source::Jenkins => jenkins::normalize(config, scope, run_id, pages)?,
    };
    batch.counts.run_id = run_id;
    batch.counts.source = Some(source);
    batch.counts.scope = Some(scope.clone());
    batch.counts.pages = pages.len() as u64;
    batch.counts.deployments = batch.deployments.len() as u64;
    batch.counts.changes = batch.changes.len() as u64;
    batch.counts.incidents = batch.incidents.len() as u64;
    Ok(batch)
}

/// The valid records of a bronze page, typed; the rejected ones and the
/// unknown fields are added to `counts`. A body that is not the endpoint's
/// shape at all is a permanent failure naming the page (retrying cannot
/// change what is stored).
fn records<T: DeserializeOwned>(
    page: &BronzePage,
    counts: &mut NormalizeCounts,
) -> Result<Vec<T>, TaskError> {
    let checked = validate::check::<T>(&page.endpoint, &page.body).map_err(|e| {
        TaskError::permanent(format!(
            "bronze page {} #{} ({} {}) does not match the {} schema: {e}",
            page.task_id, page.seq, page.source_system, page.request, page.endpoint
        ))
    })?;
    counts.rejected_records += checked.quality.rejected_count();
    for (name, n) in checked.quality.unknown_fields {
        *counts.unknown_fields.entry(name).or_default() += n;
    }
    Ok(checked.valid)
}

/// The number in `/{segment}/{number}/` of a request path, e.g. the PR of
/// `/repos/o/r/pulls/12/commits`.
fn id_after(request: &str, segment: &str) -> Option<u64> {
    let path = request.split('?').next().unwrap_or(request);
    let mut parts = path.split('/');
    while let Some(part) = parts.next() {
        if part == segment {
            return parts.next().and_then(|n| n.parse().ok());
        }
    }
    None
}

#[derive(Debug, Clone)]
pub struct NormalizeHandler {
    warehouse: Arc<dyn Warehouse>,
    config: Arc<Config>,
}

impl NormalizeHandler {
    pub fn new(warehouse: Arc<dyn Warehouse>, config: Arc<Config>) -> Self {
        NormalizeHandler { warehouse, config }
    }

    async fn run(&self, task: &TaskEnvelope) -> Result<NormalizeCounts, TaskError> {
        let source = task
            .source
            .ok_or_else(|| TaskError::permanent("normalize task without a source"))?;
        let pages = self
            .warehouse
            .bronze_pages(&BronzeFilter {
                run_id: Some(task.run_id),
                source: Some(source),
                team: Some(task.scope.team.clone()),
                target: task.scope.target.clone(),
                ..BronzeFilter::default()
            })
            .await?;
        let batch = normalize_scope(&self.config, source, &task.scope, task.run_id, &pages)?;
        self.warehouse.upsert_silver(&batch).await?;
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

#[cfg(test)]
mod tests {
    use super::id_after;

    #[test]
    fn ids_are_read_from_child_request_paths() {
        assert_eq!(
            id_after("/repos/acme/x/pulls/12/commits?per_page=100", "pulls"),
            Some(12)
        );
        assert_eq!(
            id_after(
                "http://h/github/repos/a/b/deployments/99/statuses",
                "deployments"
            ),
            Some(99)
        );
        assert_eq!(id_after("/repos/acme/x/pulls?page=2", "pulls"), None);
    }
}
