//! Jira pages → issues that may be incidents (all kept, with type and
//! priority). An issue's resolution is its `resolutiondate`, else the last
//! entry into the Done category its changelog pages show, when it is Done
//! (see [`super::resolution`]).

use super::crawl::changelog_key;
use super::models::{History, Issue};
use super::resolution::resolved_at;
use crate::normalize::records;
use crate::page::endpoint;
use dorafleet_core::{Config, Scope, Source, TaskError};
use dorafleet_warehouse::NormalizeCounts;
use dorafleet_warehouse::{BronzePage, SilverBatch, SilverIncident};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The Jira bronze pages of one project's scope as silver incidents (every
/// issue, with its type and priority: the DORA definitions pick the
/// incidents among them). The totals of `counts` are filled by the normalize
/// stage.
pub fn normalize(
    config: &Config,
    scope: &Scope,
    run_id: Uuid,
    pages: &[BronzePage],
) -> Result<SilverBatch, TaskError> {
    let mut counts = NormalizeCounts::default();
    let mut issues = BTreeMap::new();
    // The search's pages; the approximate count after them lists no issues.
    let searches = pages
        .iter()
        .filter(|p| p.status == 200 && p.endpoint == endpoint::JIRA_SEARCH);
    for page in searches {
        for issue in records::<Issue>(page, &mut counts)? {
            issues.insert(issue.key.clone(), issue);
        }
    }
    // The changelogs of issues done without a resolution date, by issue and
    // change group (the same entry fetched by several tasks counts once).
    let mut changelogs: BTreeMap<String, BTreeMap<String, History>> = BTreeMap::new();
    let changelog_pages = pages.iter().filter(|p| {
        p.status == 200
            && (p.endpoint == endpoint::JIRA_CHANGELOG
                || p.endpoint == endpoint::JIRA_ISSUE_CHANGELOG)
    });
    for page in changelog_pages {
        let Some(key) = changelog_key(&page.request) else {
            return Err(TaskError::permanent(format!(
                "bronze page {} #{} ({}) is a Jira changelog page of no issue",
                page.task_id, page.seq, page.request
            )));
        };
        let entries = changelogs.entry(key.to_owned()).or_default();
        for history in records::<History>(page, &mut counts)? {
            entries.insert(history.id.clone(), history);
        }
    }
    let mut batch = SilverBatch {
        counts,
        ..SilverBatch::default()
    };
    let no_changelog = BTreeMap::new();
    for (key, issue) in issues {
        let histories: Vec<History> = changelogs
            .get(&key)
            .unwrap_or(&no_changelog)
            .values()
            .cloned()
            .collect();
        let resolved_at = resolved_at(&issue, &histories, &config.definitions);
        if resolved_at.is_some() && issue.fields.resolutiondate.is_none() {
            batch.counts.incidents_resolved_by_status += 1;
        }
        let project = issue
            .fields
            .project
            .as_ref()
            .map(|p| p.key.clone())
            .or_else(|| key.split('-').next().map(str::to_owned))
            .unwrap_or_default();
        batch.incidents.push(SilverIncident {
            project,
            team_id: scope.team.clone(),
            issue_type: issue.issue_type().unwrap_or("").to_owned(),
            priority: issue.priority().map(str::to_owned),
            created_at: issue.created_at(),
            resolved_at,
            reporter: issue
                .fields
                .reporter
                .as_ref()
                .and_then(|r| r.email_address.as_deref())
                .map(|email| config.contributor_id(Source::Jira, email)),
            run_id,
            key,
        });
    }
    Ok(batch)
}
