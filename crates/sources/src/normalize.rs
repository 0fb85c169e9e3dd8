//! What the sources' normalizers share (`github/normalize.rs`,
//! `jira/normalize.rs`, `jenkins/normalize.rs`): reading the valid records of
//! a bronze page with the endpoint's schema, and telling which parent a child
//! page belongs to. The normalize stage dispatches to the source's normalizer.

use crate::validate;
use dorafleet_core::TaskError;
use dorafleet_warehouse::{BronzePage, NormalizeCounts};
use serde::de::DeserializeOwned;

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
