//! Jenkins pages → deployments: builds of configured deploy jobs. Aborted
//! builds are filtered out; running ones are kept as `in_progress` (so later
//! runs watch them and read them again once finished); CI jobs' builds are
//! not deployments; all are counted. A multibranch deploy job's builds are
//! its branch jobs' builds, keyed `{job}/{branch}#{number}`; only branches
//! in `sources.jenkins.deploy_branches` deploy.

use super::crawl::{is_multibranch, job_of_url, percent_decode};
use super::models::Build;
use crate::normalize::{ScopeNormalizer, ScopeRun, all_pages, records};
use crate::page::endpoint;
use dorafleet_core::config::glob_match;
use dorafleet_core::{Config, Scope, Source, TaskError};
use dorafleet_warehouse::NormalizeCounts;
use dorafleet_warehouse::{BronzePage, DeploymentOutcome, SilverBatch, SilverDeployment};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The Jenkins bronze pages of one job's scope as silver deployments, if the
/// team configures the job as a deploy job. The totals of `counts` are
/// filled by the normalize stage.
pub fn normalize(
    config: &Config,
    scope: &Scope,
    run_id: Uuid,
    pages: &[BronzePage],
) -> Result<SilverBatch, TaskError> {
    all_pages(Normalizer::new(config, scope, run_id)?, pages)
}

/// A job's scope read page by page (see [`ScopeNormalizer`]): builds by job
/// path, the target itself or `target/branch` for the branch jobs of a
/// multibranch project.
#[derive(Debug)]
pub struct Normalizer<'a> {
    run: ScopeRun<'a>,
    target: String,
    jobs: BTreeMap<String, BTreeMap<u64, Build>>,
    counts: NormalizeCounts,
}

impl<'a> Normalizer<'a> {
    /// Fails when the scope names no job.
    pub fn new(config: &'a Config, scope: &'a Scope, run_id: Uuid) -> Result<Self, TaskError> {
        let target = scope
            .target
            .clone()
            .ok_or_else(|| TaskError::permanent("Jenkins normalize task without a job"))?;
        Ok(Normalizer {
            run: ScopeRun {
                config,
                scope,
                run_id,
            },
            target,
            jobs: BTreeMap::new(),
            counts: NormalizeCounts::default(),
        })
    }
}

impl ScopeNormalizer for Normalizer<'_> {
    fn add(&mut self, page: &BronzePage) -> Result<(), TaskError> {
        if page.status != 200 {
            return Ok(());
        }
        let target = &self.target;
        let job = match page.endpoint.as_str() {
            endpoint::JENKINS_BUILDS => target.clone(),
            endpoint::JENKINS_BRANCH_BUILDS => match branch_of(&page.request, target) {
                Some(branch) => format!("{target}/{branch}"),
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        if is_multibranch_parent(&page.body) {
            return Ok(());
        }
        let builds = self.jobs.entry(job).or_default();
        for build in records::<Build>(page, &mut self.counts)? {
            builds.insert(build.number, build);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SilverBatch, TaskError> {
        let Normalizer {
            run,
            target,
            jobs,
            counts,
        } = *self;
        let (config, scope) = (run.config, run.scope);
        let mut batch = SilverBatch {
            counts,
            ..SilverBatch::default()
        };
        let deploys_repo = config
            .teams
            .iter()
            .find(|t| t.id == scope.team)
            .and_then(|t| t.deploy_jobs.get(&target));
        let branches = &config.sources.jenkins.deploy_branches;
        for (job, builds) in jobs {
            let deploys = deploys_repo.filter(|_| match job.strip_prefix(&format!("{target}/")) {
                None => true,
                Some(branch) => deploys_branch(branches, branch),
            });
            let Some(repo) = deploys else {
                batch.counts.non_deploy_builds_skipped += builds.len() as u64;
                continue;
            };
            deployments(run, &target, &job, repo, builds, &mut batch);
        }
        Ok(batch)
    }
}

/// Whether branch job `name` (Jenkins' name: `/` written `%2F`) is one of
/// the `deploy_branches` globs.
pub(crate) fn deploys_branch(deploy_branches: &[String], name: &str) -> bool {
    let branch = percent_decode(name);
    deploy_branches.iter().any(|p| glob_match(p, &branch))
}

/// The branch job's name in a branch builds request of `target`.
fn branch_of(request: &str, target: &str) -> Option<String> {
    let job = job_of_url(request)?;
    let parent = target.trim_matches('/');
    let branch = job.strip_prefix(parent)?.strip_prefix('/')?;
    (!branch.is_empty()).then(|| branch.to_owned())
}

/// A multibranch project's own answer: no builds, only its class.
fn is_multibranch_parent(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("allBuilds").is_none() && is_multibranch(&v))
}

/// The deployments of one deploy job (or deploying branch job) `job`.
fn deployments(
    run: ScopeRun<'_>,
    target: &str,
    job: &str,
    repo: &str,
    builds: BTreeMap<u64, Build>,
    batch: &mut SilverBatch,
) {
    let ScopeRun {
        config,
        scope,
        run_id,
    } = run;
    for (number, build) in builds {
        let Some(started_at) = build.started_at() else {
            continue;
        };
        let (status, finished_at) = match (build.result.as_deref(), build.finished_at()) {
            (Some(result), Some(finished_at)) => {
                (DeploymentOutcome::from(result), Some(finished_at))
            }
            _ => {
                batch.counts.running_builds_skipped += 1;
                (DeploymentOutcome::InProgress, None)
            }
        };
        if matches!(&status, DeploymentOutcome::Other(r) if r == "aborted" || r == "not_built") {
            batch.counts.aborted_builds_filtered += 1;
            continue;
        }
        batch.deployments.push(SilverDeployment {
            source: Source::Jenkins,
            key: format!("{job}#{number}"),
            team_id: scope.team.clone(),
            repo: repo.to_owned(),
            // The configured job: what the scope, its coverage and the
            // builds watched while running are known by.
            job: Some(target.to_owned()),
            environment: "production".into(),
            status,
            started_at,
            finished_at,
            sha: build.built_commit().map(str::to_owned),
            ref_name: None,
            deployer: build
                .triggered_by()
                .map(|user| config.contributor_id(Source::Jenkins, user)),
            run_id,
        });
    }
}
