//! Jenkins in folders, the deploy job a multibranch pipeline: gold equals
//! the simulator's ground truth (the feature branch's builds are not
//! deployments), with faults on; and counting every branch changes it.

mod common;

use common::{config, differences, gold, run, warehouse};
use dorafleet_core::Config;
use dorafleet_sim::{JenkinsFlavour, RunningSim, SimOptions};

async fn folders_sim(teams: usize, faults: &[&str]) -> RunningSim {
    let options = SimOptions {
        seed: 11,
        days: common::DAYS,
        teams,
        end_date: common::end(),
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        jenkins_flavour: JenkinsFlavour::Folders,
        ..SimOptions::default()
    };
    RunningSim::start(options, "127.0.0.1:0").await.unwrap()
}

/// The common config with the teams' Jenkins jobs as paths in folders.
fn folders_config(sim: &RunningSim, max_attempts: u32) -> Config {
    let mut config = config(sim, max_attempts);
    config.teams = sim
        .state()
        .organisation()
        .team_configs_in(JenkinsFlavour::Folders);
    config
}

#[tokio::test]
async fn folders_and_a_multibranch_deploy_job_through_faults_give_the_ground_truth() {
    let sim = folders_sim(
        3,
        &[
            "github:503@0.05",
            "jira:502@0.1",
            "jenkins:500@0.1",
            "jenkins:429=1#2",
            "jenkins:latency=30@0.2",
        ],
    )
    .await;
    let config = folders_config(&sim, 10);
    assert!(
        config.teams[0]
            .deploy_jobs
            .keys()
            .all(|job| job.starts_with(&format!("{}/", config.teams[0].id))),
        "{:?}",
        config.teams[0].deploy_jobs
    );
    let warehouse = warehouse();
    let summary = run(&config, &warehouse).await;
    assert!(summary.retries > 0, "faults were injected and retried");
    assert_eq!((summary.dead, summary.unfinished), (0, 0));
    let truth = sim.state().ground_truth();
    let diffs = differences(&gold(&warehouse).await, &truth);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );

    // Deployments come from the main branch job, keyed by its path.
    let team = &config.teams[0];
    let silver = warehouse.team_silver(&team.id).await.unwrap();
    let jenkins: Vec<_> = silver
        .deployments
        .iter()
        .filter(|d| d.source == dorafleet_core::Source::Jenkins)
        .collect();
    assert!(!jenkins.is_empty());
    let deploy_job = team.deploy_jobs.keys().next().unwrap();
    assert!(
        jenkins
            .iter()
            .all(|d| d.key.starts_with(&format!("{deploy_job}/main#"))),
        "{:?}",
        jenkins.iter().map(|d| &d.key).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn counting_every_branch_makes_the_feature_branch_deploy_too() {
    let sim = folders_sim(1, &[]).await;
    let mut config = folders_config(&sim, 5);
    config.sources.jenkins.deploy_branches = vec!["*".into()];
    let warehouse = warehouse();
    let summary = run(&config, &warehouse).await;
    assert_eq!((summary.dead, summary.unfinished), (0, 0));
    let team = &config.teams[0];
    let silver = warehouse.team_silver(&team.id).await.unwrap();
    let deploy_job = team.deploy_jobs.keys().next().unwrap();
    let feature = silver
        .deployments
        .iter()
        .filter(|d| d.key.starts_with(&format!("{deploy_job}/feature%2Flogin#")))
        .count();
    assert!(feature > 0, "the feature branch's builds count with `*`");
    assert!(
        !differences(&gold(&warehouse).await, &sim.state().ground_truth()).is_empty(),
        "feature builds are not production deployments in the truth"
    );
}
