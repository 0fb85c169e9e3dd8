//! Jira pages → issues that may be incidents (all kept, with type and
//! priority). An issue's resolution is its `resolutiondate`, else the last
//! entry into the Done category its changelog pages show, when it is Done
//! (see [`super::resolution`]).

use super::crawl::changelog_key;
use super::models::{History, Issue};
use super::resolution::resolved_at;
use crate::normalize::{ScopeNormalizer, ScopeRun, all_pages, records};
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
    all_pages(Normalizer::new(config, scope, run_id), pages)
}

/// A project's scope read page by page (see [`ScopeNormalizer`]): issues
/// from the search's pages, and the changelogs of issues done without a
/// resolution date, by issue and change group (the same entry fetched by
/// several tasks counts once).
#[derive(Debug)]
pub struct Normalizer<'a> {
    run: ScopeRun<'a>,
    issues: BTreeMap<String, Issue>,
    changelogs: BTreeMap<String, BTreeMap<String, History>>,
    counts: NormalizeCounts,
}

impl<'a> Normalizer<'a> {
    /// An empty project scope.
    pub fn new(config: &'a Config, scope: &'a Scope, run_id: Uuid) -> Self {
        Normalizer {
            run: ScopeRun {
                config,
                scope,
                run_id,
            },
            issues: BTreeMap::new(),
            changelogs: BTreeMap::new(),
            counts: NormalizeCounts::default(),
        }
    }
}

impl ScopeNormalizer for Normalizer<'_> {
    fn add(&mut self, page: &BronzePage) -> Result<(), TaskError> {
        if page.status != 200 {
            return Ok(());
        }
        match page.endpoint.as_str() {
            // The approximate count after the search's pages lists no issues.
            endpoint::JIRA_SEARCH => {
                for issue in records::<Issue>(page, &mut self.counts)? {
                    self.issues.insert(issue.key.clone(), issue);
                }
            }
            endpoint::JIRA_CHANGELOG | endpoint::JIRA_ISSUE_CHANGELOG => {
                let Some(key) = changelog_key(&page.request) else {
                    return Err(TaskError::permanent(format!(
                        "bronze page {} #{} ({}) is a Jira changelog page of no issue",
                        page.task_id, page.seq, page.request
                    )));
                };
                let entries = self.changelogs.entry(key.to_owned()).or_default();
                for history in records::<History>(page, &mut self.counts)? {
                    entries.insert(history.id.clone(), history);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SilverBatch, TaskError> {
        let Normalizer {
            run,
            issues,
            changelogs,
            counts,
        } = *self;
        let (config, scope, run_id) = (run.config, run.scope, run.run_id);
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
}
