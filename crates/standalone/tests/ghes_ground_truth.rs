//! GitHub Enterprise Server end to end: the simulator in its `enterprise`
//! flavour (the API under `/api/v3`, rate limiting disabled so no
//! `x-ratelimit-*` header or a `0/0` one, secondary rate limits as 403s)
//! and a standalone run whose gold equals the ground truth.

mod common;

use common::{DAYS, config, differences, end, gold, run, warehouse};
use dorafleet_core::Source;
use dorafleet_sim::{GithubFlavour, RunningSim, SimOptions};

async fn enterprise_sim(teams: usize, zero_limits: bool, faults: &[&str]) -> RunningSim {
    let options = SimOptions {
        seed: 11,
        days: DAYS,
        teams,
        end_date: end(),
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        github_flavour: GithubFlavour::Enterprise,
        github_zero_rate_limits: zero_limits,
        ..SimOptions::default()
    };
    RunningSim::start(options, "127.0.0.1:0").await.unwrap()
}

/// Every GitHub request went below `/api/v3`; returns how many were
/// answered with a secondary rate limit.
fn github_requests_below_api_v3(sim: &RunningSim) -> usize {
    let log = sim.state().request_log();
    let github: Vec<_> = log.iter().filter(|r| r.source == Source::Github).collect();
    assert!(!github.is_empty());
    for request in &github {
        assert!(
            request.path.starts_with("/api/v3/repos/"),
            "{}",
            request.path
        );
    }
    github
        .iter()
        .filter(|r| {
            r.status == 403
                && r.fault
                    .as_deref()
                    .is_some_and(|f| f.starts_with("secondary_rate_limit"))
        })
        .count()
}

#[tokio::test]
async fn a_run_against_github_enterprise_server_through_secondary_rate_limits_and_faults_gives_the_ground_truth()
 {
    let sim = enterprise_sim(
        3,
        false,
        &[
            "github/pulls:secondary=1#2",
            "github/deployments:secondary=1#1",
            "github/pull_commits:secondary=1@0.03",
            "github:429=1#1",
            "github:503@0.05",
            "jira:502@0.1",
            "jenkins:500@0.1",
        ],
    )
    .await;
    let config = config(&sim, 10);
    assert!(
        config.sources.github.base_url.as_str().ends_with("/api/v3"),
        "{}",
        config.sources.github.base_url
    );
    let warehouse = warehouse();
    let summary = run(&config, &warehouse).await;
    assert!(summary.retries > 0, "faults were injected and retried");
    assert_eq!((summary.dead, summary.unfinished), (0, 0));
    let secondary = github_requests_below_api_v3(&sim);
    assert!(
        secondary >= 3,
        "secondary rate limits answered: {secondary}"
    );

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
    sim.shutdown().await;
}

#[tokio::test]
async fn a_run_against_github_enterprise_server_reporting_zero_of_zero_limits_is_paced_by_the_budget_alone()
 {
    let sim = enterprise_sim(2, true, &["github/pulls:secondary=1#1", "github:503@0.03"]).await;
    let config = config(&sim, 10);
    let warehouse = warehouse();
    let started = std::time::Instant::now();
    let summary = run(&config, &warehouse).await;
    assert_eq!((summary.dead, summary.unfinished), (0, 0));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "0/0 was read as a used-up quota: {:?}",
        started.elapsed()
    );
    assert_eq!(github_requests_below_api_v3(&sim), 1);
    let diffs = differences(&gold(&warehouse).await, &sim.state().ground_truth());
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    sim.shutdown().await;
}
