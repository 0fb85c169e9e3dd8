//! Silver keeps who did what across tools and counts what it left out;
//! definitions change through backfills that never call an API.

mod common;

use chrono::NaiveDate;
use common::{config, gold, run, sim, values, warehouse, window};
use dorafleet_coordinator::{BackfillRequest, FromLayer, backfill};
use dorafleet_core::{Metric, Source, Stage, TaskEnvelope};
use dorafleet_sim::{BuildResult, DONE, INCIDENT_ISSUE_TYPE, JobKind};
use dorafleet_stages::NormalizeHandler;
use dorafleet_worker::StageHandler;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn request(from_layer: FromLayer) -> BackfillRequest {
    BackfillRequest {
        from: window().from.date_naive(),
        to: window().to.date_naive(),
        teams: Vec::new(),
        metrics: Vec::new(),
        from_layer,
        parallelism: 2,
    }
}

#[tokio::test]
async fn identities_from_github_jira_and_jenkins_resolve_to_the_same_contributors() {
    let sim = sim(2, &[]).await;
    let config = config(&sim, 5);
    let warehouse = warehouse();
    run(&config, &warehouse).await;

    let people: BTreeSet<String> = sim
        .state()
        .organisation()
        .people
        .iter()
        .map(|p| p.contributor_id.clone())
        .collect();
    let (mut authors, mut reporters, mut deployers) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for team in &config.teams {
        let silver = warehouse.team_silver(&team.id).await.unwrap();
        authors.extend(silver.changes.iter().filter_map(|c| c.author.clone()));
        reporters.extend(silver.incidents.iter().filter_map(|i| i.reporter.clone()));
        deployers.extend(
            silver
                .deployments
                .iter()
                .filter(|d| d.source == Source::Jenkins)
                .filter_map(|d| d.deployer.clone()),
        );
    }
    for (tool, ids) in [
        ("github", &authors),
        ("jira", &reporters),
        ("jenkins", &deployers),
    ] {
        assert!(!ids.is_empty(), "{tool} identities were seen");
        let strangers: Vec<_> = ids.difference(&people).collect();
        assert!(
            strangers.is_empty(),
            "{tool} identities not resolved: {strangers:?}"
        );
    }
    assert!(
        authors.intersection(&reporters).count() > 0
            && authors.intersection(&deployers).count() > 0,
        "the same people appear through different tools"
    );
}

#[tokio::test]
async fn bot_changes_and_aborted_builds_are_filtered_with_their_counts_kept() {
    let sim = sim(2, &[]).await;
    let config = config(&sim, 5);
    let warehouse = warehouse();
    let summary = run(&config, &warehouse).await;

    let org = sim.state().organisation();
    let w = window();
    let bot_changes = org
        .repos
        .iter()
        .flat_map(|r| &r.pulls)
        .filter(|p| p.merged_at.is_some_and(|m| w.contains(m)))
        .filter(|p| p.first_human_commit_at().is_none())
        .count() as u64;
    let aborted = org
        .jenkins_jobs
        .iter()
        .filter(|j| j.kind == JobKind::Deploy)
        .flat_map(|j| &j.builds)
        .filter(|b| b.result == Some(BuildResult::Aborted))
        .count() as u64;
    assert!(bot_changes > 0 && aborted > 0, "the organisation has both");
    assert_eq!(summary.normalized.bot_changes_filtered, bot_changes);
    assert_eq!(summary.normalized.aborted_builds_filtered, aborted);
    for team in &config.teams {
        let silver = warehouse.team_silver(&team.id).await.unwrap();
        assert!(
            silver
                .deployments
                .iter()
                .all(|d| d.status.as_str() != "aborted")
        );
        assert!(
            silver
                .changes
                .iter()
                .all(|c| !c.author.as_deref().unwrap_or("").contains("[bot]"))
        );
    }
}

#[tokio::test]
async fn a_replayed_normalize_task_changes_no_silver() {
    let sim = sim(1, &[]).await;
    let config = config(&sim, 5);
    let warehouse = warehouse();
    let summary = run(&config, &warehouse).await;
    let team = &config.teams[0];
    let before = warehouse.team_silver(&team.id).await.unwrap();

    let handler = NormalizeHandler::new(Arc::clone(&warehouse), Arc::new(config.clone()));
    for source in Source::ALL {
        for target in team.targets(source) {
            let task = TaskEnvelope::new(
                summary.run_id,
                Stage::Normalize,
                Some(source),
                dorafleet_core::Scope {
                    team: team.id.clone(),
                    target: Some(target.clone()),
                },
                window(),
                3,
            );
            assert_eq!(handler.handle(&task).await.result, Ok(()));
        }
    }
    assert_eq!(warehouse.team_silver(&team.id).await.unwrap(), before);
}

#[tokio::test]
async fn excluding_p4_incidents_and_backfilling_changes_exactly_the_incident_metrics_without_api_calls()
 {
    let sim = sim(3, &[]).await;
    let mut config = config(&sim, 5);
    let warehouse = warehouse();
    run(&config, &warehouse).await;
    let before = gold(&warehouse).await;
    sim.state().clear_request_log();

    config.definitions.excluded_priorities = vec!["P4".into()];
    let summary = backfill(
        Arc::clone(&warehouse),
        Arc::new(config.clone()),
        request(FromLayer::Silver),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(summary.gold_records as usize, before.len());
    assert!(
        sim.state().request_log().is_empty(),
        "a backfill makes no API call"
    );

    let after = gold(&warehouse).await;
    assert_eq!(before.len(), after.len());
    // Time to restore service loses exactly the team's P4 incidents resolved
    // on the day (the simulator's resolution: the resolution date, else the
    // last move into Done of an issue that is Done).
    let mut p4_resolved: BTreeMap<(String, NaiveDate), u64> = BTreeMap::new();
    for project in &sim.state().organisation().jira_projects {
        for issue in &project.issues {
            if issue.issue_type != INCIDENT_ISSUE_TYPE || issue.priority != "P4" {
                continue;
            }
            let resolved = issue.resolved.or_else(|| {
                (issue.status() == DONE)
                    .then(|| issue.transitions.iter().rev().find(|t| t.to == DONE))
                    .flatten()
                    .map(|t| t.at)
            });
            if let Some(at) = resolved {
                *p4_resolved
                    .entry((project.team.clone(), at.date_naive()))
                    .or_default() += 1;
            }
        }
    }
    let mut changed_values: BTreeMap<&str, usize> = BTreeMap::new();
    let mut restore_samples_lost = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (&b.team_id, b.date, b.metric),
            (&a.team_id, a.date, a.metric)
        );
        // The metrics whose fingerprint holds `excluded_priorities`: those
        // that read incidents (the failure rate and recovery time link them,
        // the rework rate matches their keys, time to restore measures them).
        let incident_metric = matches!(
            a.metric,
            Metric::ChangeFailureRate
                | Metric::FailedDeploymentRecoveryTime
                | Metric::DeploymentReworkRate
                | Metric::TimeToRestoreService
        );
        assert_eq!(
            incident_metric,
            config.definitions.inputs(a.metric).contains(&Source::Jira),
            "exactly the metrics reading Jira get a new version: {a:?}"
        );
        if !incident_metric {
            assert_eq!(
                (b.value, b.sample_size, b.definition_version),
                (a.value, a.sample_size, a.definition_version),
                "{a:?}"
            );
            continue;
        }
        assert_eq!(
            (b.definition_version, a.definition_version),
            (1, 2),
            "{a:?}"
        );
        if (b.value, b.sample_size) != (a.value, a.sample_size) {
            *changed_values.entry(a.metric.as_str()).or_default() += 1;
        }
        match a.metric {
            // Rates over the day's deployments: the same deployments, fewer
            // incidents to link to or to name in a change.
            Metric::ChangeFailureRate | Metric::DeploymentReworkRate => {
                assert_eq!(a.sample_size, b.sample_size, "{b:?} → {a:?}");
                assert!(
                    a.value.zip(b.value).is_none_or(|(a, b)| a <= b + 1e-12)
                        && a.value.is_some() == b.value.is_some(),
                    "{b:?} → {a:?}"
                );
            }
            Metric::FailedDeploymentRecoveryTime => {
                assert!(a.sample_size <= b.sample_size, "{b:?} → {a:?}");
            }
            Metric::TimeToRestoreService => {
                let lost = p4_resolved
                    .get(&(a.team_id.clone(), a.date))
                    .copied()
                    .unwrap_or(0);
                assert_eq!(b.sample_size - a.sample_size, lost, "{b:?} → {a:?}");
                restore_samples_lost += lost;
            }
            _ => unreachable!(),
        }
    }
    assert!(
        restore_samples_lost > 0,
        "some P4 incident was resolved in the window"
    );
    assert!(
        changed_values.contains_key(Metric::TimeToRestoreService.as_str()),
        "excluding P4 changed some times to restore: {changed_values:?}"
    );
    assert!(
        changed_values.contains_key(Metric::ChangeFailureRate.as_str())
            || changed_values.contains_key(Metric::FailedDeploymentRecoveryTime.as_str()),
        "excluding P4 changed some failure rates or recovery times: {changed_values:?}"
    );
}

#[tokio::test]
async fn a_backfill_from_bronze_rebuilds_the_same_gold_without_api_calls() {
    let sim = sim(2, &[]).await;
    let config = config(&sim, 5);
    let warehouse = warehouse();
    run(&config, &warehouse).await;
    let before = gold(&warehouse).await;
    sim.state().clear_request_log();

    let summary = backfill(
        Arc::clone(&warehouse),
        Arc::new(config.clone()),
        request(FromLayer::Bronze),
        |_| {},
    )
    .await
    .unwrap();
    assert!(summary.bronze_pages > 0 && summary.silver_records > 0);
    assert!(
        sim.state().request_log().is_empty(),
        "a backfill makes no API call"
    );
    let after = gold(&warehouse).await;
    assert_eq!(values(&before), values(&after));
    assert!(after.iter().all(|g| g.run_id == summary.run_id));
}
