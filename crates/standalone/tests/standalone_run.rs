//! A standalone run extracts every scope of the simulated organisation into
//! bronze, retrying injected faults and dead-lettering what cannot succeed;
//! a dead-lettered source blanks only the metrics that read it.

mod common;

use common::{
    DAYS, config, differences, gold, no_gold_reading, run, sim, truth_without, warehouse,
};
use dorafleet_core::{Metric, Source};

#[tokio::test]
async fn a_run_with_faults_retries_them_and_bronze_holds_exactly_what_was_served() {
    let sim = sim(2, &["github:503@0.05", "jira:429=1#1", "jenkins:500@0.05"]).await;
    let config = config(&sim, 10);
    let warehouse = warehouse();
    let summary = run(&config, &warehouse).await;

    let letters = warehouse.dead_letters(10).await.unwrap();
    assert_eq!((summary.dead, summary.unfinished), (0, 0), "{letters:#?}");
    let log = sim.state().request_log();
    let injected = log
        .iter()
        .filter(|e| e.fault.is_some() && e.status >= 429)
        .count() as u64;
    assert!(injected > 0, "the faults fired");
    // Failures of requests in flight together end one attempt: one task
    // retry may cover several. Each failed request is asked again exactly
    // once per failure, and a page answered is never asked for again
    // (pages of lists: a GET names one; Jira's `serverInfo` and `myself`
    // are asked once per task).
    assert!(
        (1..=injected).contains(&summary.retries),
        "{} task retries for {injected} injected failures",
        summary.retries
    );
    let mut asked: std::collections::HashMap<(String, Option<String>), (u64, u64)> =
        std::collections::HashMap::new();
    use dorafleet_sim::Endpoint::{JiraMyself, JiraServerInfo};
    for entry in log
        .iter()
        .filter(|e| e.method == "GET" && ![JiraMyself, JiraServerInfo].contains(&e.endpoint))
    {
        let (requests, failures) = asked
            .entry((entry.path.clone(), entry.query.clone()))
            .or_default();
        *requests += 1;
        *failures += u64::from(entry.fault.is_some() && entry.status >= 429);
    }
    for ((path, query), (requests, failures)) in &asked {
        assert_eq!(
            *requests,
            failures + 1,
            "{path}?{query:?}: asked {requests} times, failed {failures}"
        );
    }
    let served = sim.state().served_records();
    // Jira bronze also holds the changelog entries of issues done without a
    // resolution date, which the simulator serves outside `served_records`:
    // add what it answered on that endpoint.
    let changelog_entries: u64 = log
        .iter()
        .filter(|e| e.endpoint == dorafleet_sim::Endpoint::JiraChangelog && e.status == 200)
        .map(|e| e.records)
        .sum();
    assert!(changelog_entries > 0, "some changelog was crawled");
    for source in Source::ALL {
        let s = &summary.by_source[&source];
        let changelog = if source == Source::Jira {
            changelog_entries
        } else {
            0
        };
        assert_eq!(
            s.bronze_records,
            served[&source] + changelog,
            "{source}: bronze = served"
        );
        assert_eq!(
            s.api_calls as usize,
            log.iter().filter(|e| e.source == source).count()
        );
    }
}

#[tokio::test]
async fn a_source_that_always_fails_is_dead_lettered_and_blocks_only_its_teams_gold() {
    let sim = sim(2, &["jenkins:503@1"]).await;
    let config = config(&sim, 3);
    let jenkins_tasks: usize = config.teams.iter().map(|t| t.jenkins_jobs.len()).sum();
    let warehouse = warehouse();
    let summary = run(&config, &warehouse).await;

    assert_eq!(summary.dead, jenkins_tasks);
    assert_eq!(summary.by_source[&Source::Jenkins].dead, jenkins_tasks);
    assert_eq!(summary.by_source[&Source::Github].dead, 0);
    assert_eq!(summary.dead_letters_archived, jenkins_tasks);
    let letters = warehouse.dead_letters(100).await.unwrap();
    assert_eq!(letters.len(), jenkins_tasks);
    for letter in letters {
        assert_eq!(letter.source, Some(Source::Jenkins));
        assert_eq!(letter.attempts.len(), 3, "one history entry per attempt");
        assert!(letter.reason.contains("HTTP 503"), "{}", letter.reason);
    }
    assert_eq!(summary.blocked_teams.len(), config.teams.len());

    // Gates are per metric: every team has a Jenkins job, so every metric
    // reading Jenkins (the deployment sources hold it) has no gold, and the
    // one that reads Jira alone, time to restore service, goes on for every
    // team and day, equal to the truth.
    let unread: Vec<Metric> = Metric::ALL
        .into_iter()
        .filter(|m| !config.definitions.inputs(*m).contains(&Source::Jenkins))
        .collect();
    assert_eq!(unread, [Metric::TimeToRestoreService]);
    assert_eq!(
        summary.gold_records,
        config.teams.len() * DAYS as usize * unread.len(),
        "gold only of the metrics that do not read Jenkins: teams × days × metrics"
    );
    let gold = gold(&warehouse).await;
    assert_eq!(gold.len(), summary.gold_records);
    for team in &config.teams {
        assert!(
            no_gold_reading(&gold, &team.id, Source::Jenkins),
            "{}: no gold from incomplete inputs",
            team.id
        );
    }
    let mut expected = sim.state().ground_truth().to_vec();
    for team in &config.teams {
        expected = truth_without(&expected, &team.id, Source::Jenkins);
    }
    let diffs = differences(&gold, &expected);
    assert!(
        diffs.is_empty(),
        "the metrics that do not read Jenkins equal the truth:\n{}",
        diffs.join("\n")
    );
}
