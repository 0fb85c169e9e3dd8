//! GitHub pages → deployments (with their latest status) and changes (merged
//! pull requests with their first human commit).
//!
//! A child list that answered 404 (see `PageRequest::is_child`) means its
//! item was deleted after it was listed: a deleted deployment is written as
//! `deleted` (never counted), or, when this run did not list it (a watched
//! one), named in the batch for the stage to mark; a deleted pull request is
//! left out. Both are counted as gone.

use super::models::{Deployment, DeploymentStatus, PullCommit, PullRequest};
use crate::normalize::{id_after, records};
use crate::page::endpoint;
use dorafleet_core::{Config, Scope, Source, TaskError};
use dorafleet_warehouse::{
    BronzePage, DeploymentOutcome, NormalizeCounts, SilverBatch, SilverChange, SilverDeployment,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Statuses after which a deployment is over.
const FINAL_STATES: &[&str] = &["success", "failure", "error"];

/// The GitHub bronze pages of one repo's scope as silver deployments and
/// changes. `counts` holds what was rejected, filtered and skipped; the
/// totals, run and scope are filled by the normalize stage.
pub fn normalize(
    config: &Config,
    scope: &Scope,
    run_id: Uuid,
    pages: &[BronzePage],
) -> Result<SilverBatch, TaskError> {
    let repo = scope
        .target
        .clone()
        .ok_or_else(|| TaskError::permanent("GitHub normalize task without a repo"))?;
    let mut pulls: BTreeMap<u64, PullRequest> = BTreeMap::new();
    let mut commits: BTreeMap<u64, BTreeMap<String, PullCommit>> = BTreeMap::new();
    let mut deployments: BTreeMap<u64, Deployment> = BTreeMap::new();
    let mut statuses: BTreeMap<u64, BTreeMap<u64, DeploymentStatus>> = BTreeMap::new();
    let mut gone_pulls: BTreeSet<u64> = BTreeSet::new();
    let mut gone_deployments: BTreeSet<u64> = BTreeSet::new();
    let mut counts = NormalizeCounts::default();
    for page in pages.iter().filter(|p| p.status == 200 || p.status == 404) {
        if page.status == 404 {
            match page.endpoint.as_str() {
                endpoint::PULL_COMMITS => gone_pulls.insert(child_id(page, "pulls")?),
                endpoint::DEPLOYMENT_STATUSES => {
                    gone_deployments.insert(child_id(page, "deployments")?)
                }
                _ => false,
            };
            continue;
        }
        match page.endpoint.as_str() {
            endpoint::PULLS => {
                for pr in records::<PullRequest>(page, &mut counts)? {
                    pulls.insert(pr.number, pr);
                }
            }
            endpoint::PULL_COMMITS => {
                let number = child_id(page, "pulls")?;
                let list = commits.entry(number).or_default();
                for c in records::<PullCommit>(page, &mut counts)? {
                    list.insert(c.sha.clone(), c);
                }
            }
            endpoint::DEPLOYMENTS => {
                for d in records::<Deployment>(page, &mut counts)? {
                    deployments.insert(d.id, d);
                }
            }
            endpoint::DEPLOYMENT_STATUSES => {
                let id = child_id(page, "deployments")?;
                let list = statuses.entry(id).or_default();
                for s in records::<DeploymentStatus>(page, &mut counts)? {
                    list.insert(s.id, s);
                }
            }
            other => {
                return Err(TaskError::permanent(format!(
                    "GitHub bronze page of unknown endpoint `{other}`"
                )));
            }
        }
    }

    let mut batch = SilverBatch {
        counts,
        ..SilverBatch::default()
    };
    let defs = &config.definitions;
    let no_statuses = BTreeMap::new();
    batch.counts.items_gone = (gone_pulls.len() + gone_deployments.len()) as u64;
    for (number, pr) in &pulls {
        if gone_pulls.contains(number) {
            continue;
        }
        if pr.merged_at.is_none() {
            batch.counts.unmerged_changes_skipped += 1;
            continue;
        }
        // Commits are fetched only for PRs merged inside the task's window;
        // the others belong to another run.
        let Some(pr_commits) = commits.get(number) else {
            continue;
        };
        let (human, bots): (Vec<&PullCommit>, Vec<&PullCommit>) =
            pr_commits.values().partition(|c| !commit_is_bot(c, defs));
        batch.counts.bot_commits_filtered += bots.len() as u64;
        let Some(first_commit_at) = human.iter().filter_map(|c| c.authored_at()).min() else {
            // Only bots wrote it; or GitHub listed no commit we could use
            // (none, or all rejected), which says nothing about who wrote it.
            if bots.is_empty() {
                batch.counts.changes_without_commits += 1;
            } else {
                batch.counts.bot_changes_filtered += 1;
            }
            continue;
        };
        batch.changes.push(SilverChange {
            repo: repo.clone(),
            number: *number,
            team_id: scope.team.clone(),
            author: pr
                .author_login()
                .map(|login| config.contributor_id(Source::Github, login)),
            first_commit_at,
            merged_at: pr.merged_at.unwrap_or(first_commit_at),
            merge_sha: pr.merge_commit_sha.clone(),
            run_id,
        });
    }
    for id in &gone_deployments {
        if !deployments.contains_key(id) {
            batch
                .gone_deployments
                .push((Source::Github, format!("{repo}#{id}")));
        }
    }
    for (id, deployment) in &deployments {
        let gone = gone_deployments.contains(id);
        // Statuses are fetched only for deployments created inside the
        // window, or watched; the others belong to another run.
        let Some(list) = statuses.get(id).or(gone.then_some(&no_statuses)) else {
            continue;
        };
        // GitHub marks superseded deployments `inactive`; what counts is the
        // last real outcome before that.
        let latest = list
            .values()
            .filter(|s| s.state != "inactive")
            .max_by_key(|s| (s.created_at, s.id));
        let (status, finished_at) = if gone {
            (DeploymentOutcome::Deleted, None)
        } else {
            (
                DeploymentOutcome::from(latest.map_or("pending", |s| s.state.as_str())),
                latest
                    .filter(|s| FINAL_STATES.contains(&s.state.as_str()))
                    .map(|s| s.created_at),
            )
        };
        batch.deployments.push(SilverDeployment {
            source: Source::Github,
            key: format!("{repo}#{id}"),
            team_id: scope.team.clone(),
            repo: repo.clone(),
            job: None,
            environment: deployment.environment.clone(),
            status,
            started_at: deployment.created_at,
            finished_at,
            sha: Some(deployment.sha.clone()),
            deployer: deployment
                .creator
                .as_ref()
                .map(|u| config.contributor_id(Source::Github, &u.login)),
            run_id,
        });
    }
    Ok(batch)
}

fn child_id(page: &BronzePage, segment: &str) -> Result<u64, TaskError> {
    id_after(&page.request, segment).ok_or_else(|| {
        TaskError::permanent(format!(
            "cannot tell which {segment} item bronze page {} belongs to",
            page.request
        ))
    })
}

fn commit_is_bot(c: &PullCommit, defs: &dorafleet_core::Definitions) -> bool {
    match (
        &c.author,
        c.commit.author.as_ref().and_then(|a| a.name.as_deref()),
    ) {
        (Some(user), _) => user.is_bot() || defs.is_bot(&user.login),
        (None, Some(name)) => defs.is_bot(name),
        (None, None) => false,
    }
}
