//! Gold equals the simulator's ground truth, for every (team, day, metric).

mod common;

use common::{config, differences, gold, run, sim, values, warehouse};

#[tokio::test]
async fn a_clean_run_produces_gold_equal_to_the_ground_truth() {
    let sim = sim(3, &[]).await;
    let config = config(&sim, 5);
    let warehouse = warehouse();
    let summary = run(&config, &warehouse).await;
    assert_eq!((summary.dead, summary.unfinished), (0, 0));

    let truth = sim.state().ground_truth();
    assert!(!truth.is_empty());
    let diffs = differences(&gold(&warehouse).await, &truth);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert_eq!(summary.gold_records, truth.len());
}

#[tokio::test]
async fn a_run_through_429s_5xx_and_latency_still_produces_the_ground_truth() {
    let sim = sim(
        3,
        &[
            "github:503@0.05",
            "github/pulls:429=1#1",
            "jira:502@0.1",
            "jira:429=1#1",
            "jenkins:500@0.1",
            "jenkins:latency=30@0.2",
        ],
    )
    .await;
    let config = config(&sim, 10);
    let warehouse = warehouse();
    let summary = run(&config, &warehouse).await;
    assert!(summary.retries > 0, "faults were injected and retried");
    assert_eq!((summary.dead, summary.unfinished), (0, 0));
    let diffs = differences(&gold(&warehouse).await, &sim.state().ground_truth());
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[tokio::test]
async fn running_the_pipeline_twice_leaves_the_same_silver_and_gold_with_its_first_provenance() {
    let sim = sim(2, &[]).await;
    let config = config(&sim, 5);
    let warehouse = warehouse();
    let first = run(&config, &warehouse).await;
    let first_gold = gold(&warehouse).await;
    let mut first_silver = Vec::new();
    for team in &config.teams {
        first_silver.push(warehouse.team_silver(&team.id).await.unwrap());
    }

    let second = run(&config, &warehouse).await;
    let second_gold = gold(&warehouse).await;
    assert_eq!(values(&first_gold), values(&second_gold));
    assert!(
        second_gold.iter().all(|g| g.run_id == first.run_id),
        "values that did not change are not written again: run 1 stays their provenance"
    );
    assert_eq!(second.gold_records, 0, "run 2 wrote nothing new");
    for (team, before) in config.teams.iter().zip(first_silver) {
        let mut after = warehouse.team_silver(&team.id).await.unwrap();
        // Only run ids may move.
        let strip = |s: &mut dorafleet_warehouse::TeamSilver| {
            s.deployments
                .iter_mut()
                .for_each(|d| d.run_id = uuid::Uuid::nil());
            s.changes
                .iter_mut()
                .for_each(|c| c.run_id = uuid::Uuid::nil());
            s.incidents
                .iter_mut()
                .for_each(|i| i.run_id = uuid::Uuid::nil());
            s.commits
                .iter_mut()
                .for_each(|c| c.run_id = uuid::Uuid::nil());
        };
        let mut before = before;
        strip(&mut before);
        strip(&mut after);
        assert_eq!(before, after, "silver of {}", team.id);
    }
}
