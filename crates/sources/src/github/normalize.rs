//! GitHub pages → deployments (with their latest status), changes (merged
//! pull requests with their first human commit, title and branch) and the
//! default branch's commits with their parents.
//!
//! A child list that answered 404 (see `PageRequest::is_child`) means its
//! item was deleted after it was listed: a deleted deployment is written as
//! `deleted` (never counted), or, when this run did not list it (a watched
//! one), named in the batch for the stage to mark; a deleted pull request is
//! left out. Both are counted as gone.

use super::models::{Deployment, DeploymentStatus, PullCommit, PullRequest};
use crate::normalize::{ScopeNormalizer, ScopeRun, all_pages, id_after, records};
use crate::page::endpoint;
use dorafleet_core::{Config, Scope, Source, TaskError};
use dorafleet_warehouse::{
    BronzePage, DeploymentOutcome, NormalizeCounts, SilverBatch, SilverChange, SilverCommit,
    SilverDeployment,
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
    all_pages(Normalizer::new(config, scope, run_id)?, pages)
}

/// A repo's scope read page by page (see [`ScopeNormalizer`]): the records
/// by their ids, so a later copy replaces an earlier one, and the children
/// found gone.
#[derive(Debug)]
pub struct Normalizer<'a> {
    run: ScopeRun<'a>,
    repo: String,
    pulls: BTreeMap<u64, PullRequest>,
    commits: BTreeMap<u64, BTreeMap<String, PullCommit>>,
    deployments: BTreeMap<u64, Deployment>,
    statuses: BTreeMap<u64, BTreeMap<u64, DeploymentStatus>>,
    gone_pulls: BTreeSet<u64>,
    gone_deployments: BTreeSet<u64>,
    history: BTreeMap<String, PullCommit>,
    counts: NormalizeCounts,
}

impl<'a> Normalizer<'a> {
    /// Fails when the scope names no repo.
    pub fn new(config: &'a Config, scope: &'a Scope, run_id: Uuid) -> Result<Self, TaskError> {
        let repo = scope
            .target
            .clone()
            .ok_or_else(|| TaskError::permanent("GitHub normalize task without a repo"))?;
        Ok(Normalizer {
            run: ScopeRun {
                config,
                scope,
                run_id,
            },
            repo,
            pulls: BTreeMap::new(),
            commits: BTreeMap::new(),
            deployments: BTreeMap::new(),
            statuses: BTreeMap::new(),
            gone_pulls: BTreeSet::new(),
            gone_deployments: BTreeSet::new(),
            history: BTreeMap::new(),
            counts: NormalizeCounts::default(),
        })
    }
}

impl ScopeNormalizer for Normalizer<'_> {
    fn add(&mut self, page: &BronzePage) -> Result<(), TaskError> {
        let counts = &mut self.counts;
        match page.status {
            200 => {}
            404 => {
                match page.endpoint.as_str() {
                    endpoint::PULL_COMMITS => self.gone_pulls.insert(child_id(page, "pulls")?),
                    endpoint::DEPLOYMENT_STATUSES => {
                        self.gone_deployments.insert(child_id(page, "deployments")?)
                    }
                    _ => false,
                };
                return Ok(());
            }
            _ => return Ok(()),
        }
        match page.endpoint.as_str() {
            endpoint::PULLS => {
                for pr in records::<PullRequest>(page, counts)? {
                    self.pulls.insert(pr.number, pr);
                }
            }
            endpoint::PULL_COMMITS => {
                let number = child_id(page, "pulls")?;
                let list = self.commits.entry(number).or_default();
                for c in records::<PullCommit>(page, counts)? {
                    list.insert(c.sha.clone(), c);
                }
            }
            endpoint::DEPLOYMENTS => {
                for d in records::<Deployment>(page, counts)? {
                    self.deployments.insert(d.id, d);
                }
            }
            endpoint::DEPLOYMENT_STATUSES => {
                let id = child_id(page, "deployments")?;
                let list = self.statuses.entry(id).or_default();
                for s in records::<DeploymentStatus>(page, counts)? {
                    list.insert(s.id, s);
                }
            }
            endpoint::REPO_COMMITS => {
                for c in records::<PullCommit>(page, counts)? {
                    self.history.insert(c.sha.clone(), c);
                }
            }
            other => {
                return Err(TaskError::permanent(format!(
                    "GitHub bronze page of unknown endpoint `{other}`"
                )));
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SilverBatch, TaskError> {
        let Normalizer {
            run,
            repo,
            pulls,
            commits,
            deployments,
            statuses,
            gone_pulls,
            gone_deployments,
            history,
            counts,
        } = *self;
        let (config, scope, run_id) = (run.config, run.scope, run.run_id);
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
                title: pr.title.clone(),
                head_ref: pr.head.as_ref().map(|h| h.name.clone()),
                run_id,
            });
        }
        for (sha, commit) in history {
            // The schema requires the committer date; a record without any date
            // was rejected above.
            let Some(committed_at) = commit.committed_at() else {
                continue;
            };
            batch.commits.push(SilverCommit {
                repo: repo.clone(),
                sha,
                team_id: scope.team.clone(),
                parents: commit.parents.into_iter().map(|p| p.sha).collect(),
                committed_at,
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
                ref_name: deployment.git_ref.clone(),
                deployer: deployment
                    .creator
                    .as_ref()
                    .map(|u| config.contributor_id(Source::Github, &u.login)),
                run_id,
            });
        }
        Ok(batch)
    }
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

#[cfg(test)]
mod tests {
    use super::normalize;
    use crate::page::endpoint;
    use chrono::Utc;
    use dorafleet_core::{Config, Scope, Source};
    use dorafleet_warehouse::BronzePage;
    use serde_json::{Value, json};
    use uuid::Uuid;

    const REPO: &str = "acme/shop";

    fn scope() -> Scope {
        Scope {
            team: "payments".into(),
            target: Some(REPO.into()),
        }
    }

    fn page(endpoint: &str, request: String, records: Vec<Value>) -> BronzePage {
        BronzePage {
            task_id: Uuid::nil(),
            seq: 0,
            execution_id: Uuid::nil(),
            source_system: Source::Github,
            scope: scope(),
            endpoint: endpoint.into(),
            request,
            cursor: "1".into(),
            status: 200,
            fetched_at: Utc::now(),
            record_count: records.len() as u64,
            body: Value::Array(records).to_string(),
            etag: None,
            last_modified: None,
            link_next: None,
            reuses: None,
        }
    }

    fn merged_pull(number: u64) -> Value {
        json!({
            "number": number,
            "state": "closed",
            "user": {"login": "alice", "type": "User"},
            "created_at": "2026-03-01T09:00:00Z",
            "updated_at": "2026-03-02T10:00:00Z",
            "closed_at": "2026-03-02T10:00:00Z",
            "merged_at": "2026-03-02T10:00:00Z",
            "merge_commit_sha": format!("m{number}")
        })
    }

    fn commit(sha: &str, login: &str, kind: &str) -> Value {
        json!({
            "sha": sha,
            "commit": {"author": {"name": login, "email": "x@example.com",
                                  "date": "2026-03-01T08:00:00Z"}},
            "author": {"login": login, "type": kind}
        })
    }

    fn pages_for(number: u64, commits: Vec<Value>) -> Vec<BronzePage> {
        vec![
            page(
                endpoint::PULLS,
                format!("/repos/{REPO}/pulls?state=closed&page=1"),
                vec![merged_pull(number)],
            ),
            page(
                endpoint::PULL_COMMITS,
                format!("/repos/{REPO}/pulls/{number}/commits?per_page=100"),
                commits,
            ),
        ]
    }

    fn run(pages: &[BronzePage]) -> dorafleet_warehouse::SilverBatch {
        normalize(&Config::default(), &scope(), Uuid::nil(), pages).unwrap()
    }

    #[test]
    fn a_merged_pull_with_an_empty_commit_list_counts_as_without_commits_not_as_a_bot_change() {
        let batch = run(&pages_for(7, vec![]));
        assert!(batch.changes.is_empty(), "{:?}", batch.changes);
        assert_eq!(batch.counts.changes_without_commits, 1);
        assert_eq!(batch.counts.bot_changes_filtered, 0);
        assert_eq!(batch.counts.bot_commits_filtered, 0);
    }

    #[test]
    fn a_merged_pull_whose_commits_are_all_rejected_counts_as_without_commits_not_as_a_bot_change()
    {
        // `commit.author.date` renamed: the commit fails its schema.
        let drifted = json!({
            "sha": "c1",
            "commit": {"author": {"name": "alice", "when": "2026-03-01T08:00:00Z"}},
            "author": {"login": "alice", "type": "User"}
        });
        let without_sha = json!({"commit": {}, "author": {"login": "bob", "type": "User"}});
        let batch = run(&pages_for(8, vec![drifted, without_sha]));
        assert!(batch.changes.is_empty(), "{:?}", batch.changes);
        assert_eq!(batch.counts.rejected_records, 2, "{:?}", batch.counts);
        assert_eq!(batch.counts.changes_without_commits, 1);
        assert_eq!(batch.counts.bot_changes_filtered, 0);
    }

    #[test]
    fn a_merged_pull_with_only_bot_commits_still_counts_as_a_bot_change() {
        let batch = run(&pages_for(
            9,
            vec![
                commit("b1", "dependabot[bot]", "Bot"),
                commit("b2", "renovate[bot]", "Bot"),
            ],
        ));
        assert!(batch.changes.is_empty(), "{:?}", batch.changes);
        assert_eq!(batch.counts.bot_changes_filtered, 1);
        assert_eq!(batch.counts.bot_commits_filtered, 2);
        assert_eq!(batch.counts.changes_without_commits, 0);
    }

    #[test]
    fn a_merged_pull_with_a_human_commit_is_written_as_a_change() {
        let batch = run(&pages_for(10, vec![commit("h1", "alice", "User")]));
        assert_eq!(batch.changes.len(), 1);
        assert_eq!(batch.changes[0].number, 10);
        assert_eq!(
            (
                batch.counts.changes_without_commits,
                batch.counts.bot_changes_filtered
            ),
            (0, 0)
        );
    }
}
