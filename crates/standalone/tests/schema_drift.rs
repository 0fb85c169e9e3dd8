//! Schema validation at the extract boundary, end to end: a field renamed in
//! a small share of Jira's issues leaves the run complete with the rejected
//! records and the unknown field counted; in a larger share it dead-letters
//! the Jira tasks with the ratio and a sample of the rejections.

mod common;

use common::{config, end, run_over, sim_over, warehouse, window_of};
use dorafleet_core::{Config, ErrorClass, Source};
use dorafleet_sim::{RunningSim, drift_selects};
use dorafleet_standalone::RunSummary;
use dorafleet_warehouse::Warehouse;
use std::collections::BTreeMap;
use std::sync::Arc;

const TEAMS: usize = 3;
/// Long enough for every project to have more than 34 issues, so that 3 %
/// of them is at least one.
const DAYS: u32 = 90;

/// A run over the whole history of a simulator serving `fault`.
async fn run_with(fault: &str) -> (RunningSim, Config, Arc<dyn Warehouse>, RunSummary) {
    let sim = sim_over(11, DAYS, end(), TEAMS, &[fault]).await;
    let config = config(&sim, 3);
    let warehouse = warehouse();
    let summary = run_over(window_of(DAYS), &config, &warehouse).await;
    (sim, config, warehouse, summary)
}

/// Per Jira project: (issues served, issues whose `created` the simulator
/// renames at `share`). Every issue of the simulated history is served once.
fn drifted_per_project(sim: &RunningSim, share: f64) -> BTreeMap<String, (u64, u64)> {
    sim.state()
        .organisation()
        .jira_projects
        .iter()
        .map(|p| {
            let hits = p
                .issues
                .iter()
                .filter(|i| {
                    let n = i.key.rsplit_once('-').unwrap().1.parse().unwrap();
                    drift_selects(n, share)
                })
                .count() as u64;
            (p.key.clone(), (p.issues.len() as u64, hits))
        })
        .collect()
}

#[tokio::test]
async fn schema_drift_in_three_percent_of_jira_issues_passes_with_the_rejections_counted() {
    let (sim, _, warehouse, summary) = run_with("jira:drift=created->createdDate*0.03@1").await;

    let expected = drifted_per_project(&sim, 0.03);
    let served: u64 = expected.values().map(|(n, _)| n).sum();
    let rejected: u64 = expected.values().map(|(_, hits)| hits).sum();
    assert_eq!(
        sim.state().served_records()[&Source::Jira],
        served,
        "every issue was served once"
    );
    assert!(
        expected.values().all(|(_, hits)| *hits > 0),
        "the drift hit issues in every project: {expected:?}"
    );

    let letters = warehouse.dead_letters(100).await.unwrap();
    assert!(letters.is_empty(), "{letters:#?}");
    assert_eq!((summary.dead, summary.unfinished), (0, 0));
    assert!(summary.blocked_teams.is_empty());
    assert_eq!(summary.normalized.rejected_records, rejected);
    assert_eq!(
        summary.normalized.unknown_fields,
        BTreeMap::from([("createdDate".to_owned(), rejected)])
    );
    assert_eq!(
        summary.normalized.incidents,
        served - rejected,
        "silver holds every valid issue and no rejected one"
    );
    assert_eq!(
        summary.by_source[&Source::Jira].bronze_records,
        served,
        "bronze keeps the rejected records"
    );
}

#[tokio::test]
async fn schema_drift_in_ten_percent_of_jira_issues_dead_letters_the_jira_tasks_with_a_sample() {
    let (sim, config, warehouse, summary) = run_with("jira:drift=created->createdDate*0.1@1").await;
    let max_ratio = config.quality.max_rejected_ratio;
    assert_eq!(max_ratio, 0.05);

    let expected = drifted_per_project(&sim, 0.1);
    let failing: BTreeMap<&String, &(u64, u64)> = expected
        .iter()
        .filter(|(_, (n, hits))| *hits as f64 / *n as f64 > max_ratio)
        .collect();
    assert_eq!(
        failing.len(),
        expected.len(),
        "every project has at least 10 issues: {expected:?}"
    );

    assert_eq!(summary.by_source[&Source::Jira].dead, failing.len());
    assert_eq!(summary.dead, failing.len(), "only the Jira tasks fail");
    let letters = warehouse.dead_letters(100).await.unwrap();
    assert_eq!(letters.len(), failing.len());
    for letter in &letters {
        assert_eq!(letter.source, Some(Source::Jira));
        assert_eq!(letter.error_class, ErrorClass::Permanent);
        assert_eq!(
            letter.attempts.len(),
            1,
            "a permanent failure is not retried"
        );
        let project = letter.scope.as_ref().unwrap().target.clone().unwrap();
        let (n, hits) = expected[&project];
        let ratio = hits as f64 / n as f64;
        for needle in [
            format!("rejected {hits} of {n} records"),
            format!("ratio {ratio:.4}"),
            "above quality.max_rejected_ratio 0.05".to_owned(),
            format!("unknown fields: `createdDate` in {hits}"),
            "sample: jira_search page 1 record ".to_owned(),
            // Issues come ordered by update, so only the key is predictable.
            format!("({project}-10): missing `fields.created`"),
        ] {
            assert!(
                letter.reason.contains(&needle),
                "{project}: `{needle}` not in {}",
                letter.reason
            );
        }
    }
    assert_eq!(
        summary.blocked_teams.len(),
        TEAMS,
        "no gold from a dead-lettered source"
    );
}
