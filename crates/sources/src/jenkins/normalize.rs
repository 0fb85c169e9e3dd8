//! Jenkins pages → deployments: builds of configured deploy jobs. Aborted
//! builds are filtered out; running ones are kept as `in_progress` (so later
//! runs watch them and read them again once finished); CI jobs' builds are
//! not deployments; all are counted.

use super::models::Build;
use crate::normalize::records;
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
    let job = scope
        .target
        .clone()
        .ok_or_else(|| TaskError::permanent("Jenkins normalize task without a job"))?;
    let mut counts = NormalizeCounts::default();
    let mut builds = BTreeMap::new();
    for page in pages.iter().filter(|p| p.status == 200) {
        for build in records::<Build>(page, &mut counts)? {
            builds.insert(build.number, build);
        }
    }
    let mut batch = SilverBatch {
        counts,
        ..SilverBatch::default()
    };
    let deploys_repo = config
        .teams
        .iter()
        .find(|t| t.id == scope.team)
        .and_then(|t| t.deploy_jobs.get(&job));
    let Some(repo) = deploys_repo else {
        batch.counts.non_deploy_builds_skipped = builds.len() as u64;
        return Ok(batch);
    };
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
            repo: repo.clone(),
            job: Some(job.clone()),
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
    Ok(batch)
}
