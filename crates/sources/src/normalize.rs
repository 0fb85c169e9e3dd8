//! What the sources' normalizers share (`github/normalize.rs`,
//! `jira/normalize.rs`, `jenkins/normalize.rs`): the [`ScopeNormalizer`]
//! each of them is, which source's one a scope gets ([`normalizer`]),
//! reading the valid records of a bronze page with the endpoint's schema,
//! and telling which parent a child page belongs to.
//!
//! A normalizer is handed a scope's pages one at a time rather than all of
//! them at once, so the normalize stage can read bronze a few pages at a
//! time: what a worker holds is the scope's parsed records, never every
//! page body of a long history.

use crate::{github, jenkins, jira, validate};
use dorafleet_core::{Config, Scope, Source, TaskError};
use dorafleet_warehouse::{BronzePage, NormalizeCounts, SilverBatch};
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// One source's bronze → silver for one scope: fed the scope's pages in
/// storage order (a later copy of a record replaces an earlier one), then
/// finished into the silver batch. The batch's totals, run and scope are
/// filled by the normalize stage.
pub trait ScopeNormalizer: Send {
    /// Reads one page's records. A page that is not its endpoint's shape at
    /// all is a permanent failure naming the page.
    fn add(&mut self, page: &BronzePage) -> Result<(), TaskError>;

    /// The silver records of every page added.
    fn finish(self: Box<Self>) -> Result<SilverBatch, TaskError>;
}

/// The normalizer of `source` for `scope` in run `run_id`. Fails when the
/// scope is not one the source can normalize (a GitHub or Jenkins scope
/// without its target).
pub fn normalizer<'a>(
    source: Source,
    config: &'a Config,
    scope: &'a Scope,
    run_id: Uuid,
) -> Result<Box<dyn ScopeNormalizer + 'a>, TaskError> {
    Ok(match source {
        Source::Github => Box::new(github::Normalizer::new(config, scope, run_id)?),
        Source::Jira => Box::new(jira::Normalizer::new(config, scope, run_id)),
        Source::Jenkins => Box::new(jenkins::Normalizer::new(config, scope, run_id)?),
    })
}

/// What a normalizer reads for: the scope, the run, and the configuration
/// it maps teams and identities with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopeRun<'a> {
    pub(crate) config: &'a Config,
    pub(crate) scope: &'a Scope,
    pub(crate) run_id: Uuid,
}

/// `pages` through `normalizer`: the whole of a scope's bronze at once, as
/// tests and small callers have it.
pub(crate) fn all_pages(
    mut normalizer: impl ScopeNormalizer,
    pages: &[BronzePage],
) -> Result<SilverBatch, TaskError> {
    for page in pages {
        normalizer.add(page)?;
    }
    Box::new(normalizer).finish()
}

/// The valid records of a bronze page, typed; the rejected ones and the
/// unknown fields are added to `counts`. A body that is not the endpoint's
/// shape at all is a permanent failure naming the page (retrying cannot
/// change what is stored).
pub(crate) fn records<T: DeserializeOwned>(
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
pub(crate) fn id_after(request: &str, segment: &str) -> Option<u64> {
    let path = request.split('?').next().unwrap_or(request);
    let mut parts = path.split('/');
    while let Some(part) = parts.next() {
        if part == segment {
            return parts.next().and_then(|n| n.parse().ok());
        }
    }
    None
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
