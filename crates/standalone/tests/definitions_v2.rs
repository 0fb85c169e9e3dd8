//! Definitions version 2 (docs/metrics.md) on the evolving world, with
//! faults on. The teams' Jenkins deploy jobs join the configuration days
//! after GitHub and Jira were first read, so the repositories they deploy
//! are covered later than their pull requests; the runs then equal the
//! simulator's truth for all six metrics, and the world holds every case the
//! new rules are about — a deployment of an older commit finishing after a
//! merge, a first commit dated after its deployment, changes merged before
//! their repository's coverage, an incident resolved only through its
//! status, a hotfix deployment. A backfill from bronze then rebuilds the same
//! gold without a single API call.

mod common;

use chrono::Duration;
use common::{config, differences, gold, run_over, sim_over, values, warehouse, window};
use dorafleet_coordinator::{BackfillRequest, FromLayer, backfill};
use dorafleet_core::{Metric, Window};
use dorafleet_sim::{DeployMechanism, Organisation, PRODUCTION_ENVIRONMENT, TruthCoverage};
use std::sync::Arc;

const SEED: u64 = 21;
const FAULTS: &[&str] = &["github:503@0.02", "jira:502@0.02", "jenkins:500@0.02"];
/// Coverage begins this many days after the world does.
const LATE_START_DAYS: i64 = 4;

#[tokio::test]
async fn a_run_covering_part_of_the_world_equals_the_v2_truth_and_a_backfill_rebuilds_it() {
    let sim = sim_over(SEED, common::DAYS, common::end(), 3, FAULTS).await;
    let config = config(&sim, 10);
    let mut without_jenkins = config.clone();
    for team in &mut without_jenkins.teams {
        team.jenkins_jobs.clear();
        team.deploy_jobs.clear();
    }
    let warehouse = warehouse();
    let first = run_over(window(), &without_jenkins, &warehouse).await;
    assert_eq!((first.dead, first.unfinished), (0, 0));
    let range = Window {
        from: window().from + Duration::days(LATE_START_DAYS),
        to: window().to,
    };
    let summary = run_over(range, &config, &warehouse).await;
    assert_eq!((summary.dead, summary.unfinished), (0, 0));

    let history = sim.state().history();
    let coverage = TruthCoverage {
        from: window().from,
        later: history
            .jenkins_jobs
            .iter()
            .filter(|j| j.kind == dorafleet_sim::JobKind::Deploy)
            .map(|j| (j.repo.clone(), range.from))
            .collect(),
    };
    let first_day = range.from.date_naive();
    let mut truth = history.ground_truth_as_of_coverage(range.to, &coverage);
    truth.retain(|t| t.date >= first_day);
    assert_eq!(
        truth.len(),
        (common::DAYS as usize - LATE_START_DAYS as usize) * 3 * Metric::ALL.len()
    );
    // The first run's gold of the earlier days stays as it computed it.
    let in_range = |gold: Vec<dorafleet_warehouse::GoldRecord>| -> Vec<_> {
        gold.into_iter().filter(|g| g.date >= first_day).collect()
    };
    let before = in_range(gold(&warehouse).await);
    let diffs = differences(&before, &truth);
    assert!(diffs.is_empty(), "gold vs truth:\n{}", diffs.join("\n"));

    // What linkage did, as the run recorded it.
    let mut linkage = dorafleet_warehouse::NormalizeCounts::default();
    for counts in warehouse
        .normalize_counts(Some(summary.run_id))
        .await
        .unwrap()
    {
        linkage.add(&counts);
    }
    let count = |key: &str| linkage.linkage.get(key).copied().unwrap_or(0);
    assert!(count("by history") > 0, "{:?}", linkage.linkage);
    assert!(
        count("by time") > 0,
        "builds without a recorded commit: {:?}",
        linkage.linkage
    );
    assert!(
        count("first commit after deployment") > 0,
        "{:?}",
        linkage.linkage
    );
    assert!(count("merged before coverage") > 0, "{:?}", linkage.linkage);

    // The cases the rules are about are all inside the compared range.
    assert!(
        older_commit_deployments_after_a_merge(history, range) > 0,
        "a deployment of an older commit finished after a merge"
    );
    let by_status = resolved_only_through_status(history, range);
    assert!(!by_status.is_empty(), "an incident resolved only by status");
    assert!(linkage.incidents_resolved_by_status >= by_status.len() as u64);
    for (key, resolved) in &by_status {
        let team = history
            .jira_projects
            .iter()
            .find(|p| key.starts_with(&format!("{}-", p.key)))
            .map(|p| p.team.clone())
            .unwrap();
        let silver = warehouse.team_silver(&team).await.unwrap();
        let incident = silver.incidents.iter().find(|i| &i.key == key).unwrap();
        assert_eq!(incident.resolved_at, Some(*resolved), "{key}");
    }
    assert!(
        before
            .iter()
            .any(|g| g.metric == Metric::DeploymentReworkRate && g.value.is_some_and(|v| v > 0.0)),
        "a hotfix deployment is rework"
    );

    // Backfill from bronze: the same gold, and the simulator sees nothing.
    sim.state().clear_request_log();
    let rebuilt = backfill(
        Arc::clone(&warehouse),
        Arc::new(config.clone()),
        BackfillRequest {
            from: range.from.date_naive(),
            to: range.to.date_naive(),
            teams: Vec::new(),
            metrics: Vec::new(),
            from_layer: FromLayer::Bronze,
            parallelism: 2,
        },
        |_| {},
    )
    .await
    .unwrap();
    assert!(rebuilt.bronze_pages > 0 && rebuilt.silver_records > 0);
    assert_eq!(sim.state().request_log().len(), 0, "no API call");
    assert_eq!(values(&before), values(&in_range(gold(&warehouse).await)));
}

/// Successful production deployments inside `range` that finished after a
/// merge of their repository (also inside `range`) without containing it,
/// having started before it.
fn older_commit_deployments_after_a_merge(history: &Organisation, range: Window) -> usize {
    let mut found = 0;
    for repo in &history.repos {
        let merges: Vec<_> = repo
            .pulls
            .iter()
            .filter_map(|p| Some((p.merged_at?, p.merge_commit_sha.as_str())))
            .filter(|(m, _)| range.contains(*m))
            .collect();
        let deployed: Vec<(
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
            &str,
        )> = match &repo.deploys_with {
            DeployMechanism::GithubDeployments => repo
                .deployments
                .iter()
                .filter(|d| d.environment == PRODUCTION_ENVIRONMENT)
                .filter_map(|d| {
                    let s = d.latest_status().filter(|s| s.state == "success")?;
                    Some((d.created_at, s.created_at, d.sha.as_str()))
                })
                .collect(),
            DeployMechanism::JenkinsJob(job) => history
                .job(job)
                .map(|j| {
                    j.builds
                        .iter()
                        .filter(|b| b.result == Some(dorafleet_sim::BuildResult::Success))
                        .filter_map(|b| {
                            Some((b.started_at, b.finished_at()?, b.commit.as_deref()?))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        for (started, finished, sha) in deployed {
            if !range.contains(finished) {
                continue;
            }
            found += merges
                .iter()
                .filter(|(m, merge)| {
                    started < *m && *m <= finished && repo.main_contains(sha, merge) == Some(false)
                })
                .count();
        }
    }
    found
}

/// Incidents Done without a resolution date, with the instant they last
/// entered Done, when that lies inside `range`.
fn resolved_only_through_status(
    history: &Organisation,
    range: Window,
) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    history
        .jira_projects
        .iter()
        .flat_map(|p| &p.issues)
        .filter(|i| i.resolution_unset && i.status() == dorafleet_sim::DONE)
        .filter_map(|i| {
            let done = i.transitions.iter().rev().find(|t| t.to == "Done")?.at;
            range.contains(done).then(|| (i.key.clone(), done))
        })
        .collect()
}
