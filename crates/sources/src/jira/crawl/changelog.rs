//! The changelog pages of a Jira crawl: Data Center's issue with its
//! embedded changelog, and Cloud's paged `/changelog`. They only matter for
//! issues done without a resolution date; the search walk is in the parent.

use super::*;

/// The paging of a Data Center issue's embedded changelog.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EmbeddedChangelog {
    #[serde(default)]
    total: Option<u64>,
}

/// A Data Center issue with its changelog (`changelog.histories`): all of
/// it in one answer. A changelog whose `total` says more entries than it
/// holds cannot be completed (the issue endpoint has no paging of it): a
/// gap.
pub(super) fn issue_changelog_steps(page: &FetchedPage) -> Result<CrawlStep, TaskError> {
    let body = parse_body(Source::Jira, page)?;
    let histories = checked::<History>(Source::Jira, page, &body)?;
    let embedded = body
        .get("changelog")
        .map(EmbeddedChangelog::deserialize)
        .transpose()
        .map_err(|e| {
            page_error(
                Source::Jira,
                page,
                &format!("body does not match the expected schema: {e}"),
            )
        })?
        .unwrap_or_default();
    let held = histories.quality.records;
    let mut step = CrawlStep {
        records: held,
        quality: histories.quality,
        ..CrawlStep::default()
    };
    if let Some(total) = embedded.total.filter(|t| *t > held) {
        step.pagination_gap = Some(format!(
            "the issue's changelog holds {held} of {total} entries: the rest is unreachable"
        ));
    }
    Ok(step)
}

/// A page of an issue's changelog: its change groups, and the next page
/// while `isLast` is false (or, without `isLast`, while `total` says more
/// follow). The next page starts after the entries this one held, whatever
/// page size the server chose; a page that holds none yet says more follow
/// is a gap, not a loop.
pub(super) fn changelog_steps(page: &FetchedPage) -> Result<CrawlStep, TaskError> {
    let body = parse_body(Source::Jira, page)?;
    let histories = checked::<History>(Source::Jira, page, &body)?;
    let cursor = ChangelogCursor::deserialize(&body).map_err(|e| {
        page_error(
            Source::Jira,
            page,
            &format!("body does not match the expected schema: {e}"),
        )
    })?;
    let held = histories.quality.records;
    let start_at = cursor.start_at.unwrap_or(0);
    let more = match (cursor.is_last, cursor.total) {
        (Some(is_last), _) => !is_last,
        (None, Some(total)) => start_at + held < total,
        (None, None) => false,
    };
    let mut step = CrawlStep {
        records: held,
        quality: histories.quality,
        ..CrawlStep::default()
    };
    if more && held == 0 {
        step.pagination_gap = Some(format!(
            "the changelog page at startAt {start_at} is empty but not the last (total {}): the rest of the changelog is unreachable",
            cursor
                .total
                .map_or_else(|| "unknown".to_owned(), |t| t.to_string())
        ));
    } else if more {
        let url = with_query_param(&page.request.url, "startAt", &(start_at + held).to_string())
            .map_err(|e| page_error(Source::Jira, page, &e.to_string()))?;
        step.follow_ups.push(next_page(page, url));
    }
    Ok(step)
}

/// The paging of a changelog page, next to its `values` (a
/// [`ChangelogPage`](super::ChangelogPage) without them).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ChangelogCursor {
    #[serde(default)]
    start_at: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    is_last: Option<bool>,
}
