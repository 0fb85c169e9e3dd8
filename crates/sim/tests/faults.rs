//! Injected faults as a client sees them, and as the request log records them.

mod common;

use common::{BUILD_TREE, client, get, github_all, jira_all, send, small_options, start};
use dorafleet_core::Source;
use dorafleet_sim::{Endpoint, FaultKind, FaultRule, SimOptions, Trigger};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn with_faults(seed: u64, specs: &[&str]) -> SimOptions {
    SimOptions {
        faults: specs.iter().map(|s| s.parse().unwrap()).collect(),
        ..small_options(seed)
    }
}

#[tokio::test]
async fn a_count_fault_fires_exactly_twice_then_stops() {
    let sim = start(with_faults(51, &["jira:503#2"])).await;
    let project = &sim.state().organisation().jira_projects[0].key;
    let url = format!(
        "{}/rest/api/3/search/jql?jql=project%3D{project}",
        sim.base_url(Source::Jira)
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&url).await.status);
    }
    assert_eq!(statuses, [503, 503, 200, 200]);
    let log = sim.state().request_log();
    let faults: Vec<Option<&str>> = log.iter().map(|e| e.fault.as_deref()).collect();
    assert_eq!(
        faults,
        [
            Some("error_status status=503"),
            Some("error_status status=503"),
            None,
            None
        ]
    );
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(sim.state().faults()[0].trigger, Trigger::Count(0));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_fault_carries_retry_after_and_is_logged_with_it() {
    let sim = start(with_faults(
        52,
        &["github/pulls:429=2#1", "jira:429=7#1", "jenkins:429=3#1"],
    ))
    .await;
    let org = sim.state().organisation();
    let github = get(&format!(
        "{}/repos/{}/pulls",
        sim.base_url(Source::Github),
        org.repos[0].full_name()
    ))
    .await;
    assert_eq!(github.status, 429);
    assert_eq!(github.header("retry-after"), Some("2"));
    assert!(github.header("x-ratelimit-remaining").is_some());
    assert!(
        github.body["message"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );

    let before = chrono::Utc::now();
    let jira_url = format!(
        "{}/rest/api/3/search/jql?jql=project%3DPAY",
        sim.base_url(Source::Jira)
    );
    let jira = get(&jira_url).await;
    assert_eq!(jira.status, 429);
    assert_eq!(jira.header("retry-after"), Some("7"));
    let reset: chrono::DateTime<chrono::Utc> =
        jira.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let delta = (reset - before).num_seconds();
    assert!((5..=8).contains(&delta), "reset {reset} is {delta}s away");

    let jenkins = get(&format!(
        "{}/job/{}/api/json",
        sim.base_url(Source::Jenkins),
        org.jenkins_jobs[0].name
    ))
    .await;
    assert_eq!(jenkins.header("retry-after"), Some("3"));

    let log = sim.state().request_log();
    assert_eq!(log[0].endpoint, Endpoint::Pulls);
    assert_eq!((log[0].status, log[0].retry_after_secs), (429, Some(2)));
    assert_eq!(log[0].fault.as_deref(), Some("rate_limit retry_after=2"));
    assert_eq!((log[1].status, log[1].retry_after_secs), (429, Some(7)));
    assert_eq!(log[0].records, 0);
    assert!(log[0].at <= log[1].at);
    sim.shutdown().await;
}

#[tokio::test]
async fn truncated_github_pagination_silently_skips_one_page() {
    let sim = start(with_faults(53, &["github/pulls:truncate#1"])).await;
    let repo = &sim.state().organisation().repos[0];
    let url = format!(
        "{}/repos/{}/pulls?state=all&per_page=5",
        sim.base_url(Source::Github),
        repo.full_name()
    );
    let (pulls, pages) = github_all(&url).await;
    let expected_pages = repo.pulls.len().div_ceil(5);
    assert!(expected_pages >= 3);
    assert_eq!(pages, expected_pages - 1, "exactly one page was skipped");
    assert_eq!(pulls.len(), repo.pulls.len() - 5);
    let log = sim.state().request_log();
    assert_eq!(log[0].fault.as_deref(), Some("truncated_pagination"));
    assert_eq!(log[0].status, 200);
    let served = sim.state().served_records()[&Source::Github];
    assert_eq!(
        served,
        pulls.len() as u64,
        "served_records counts what was actually served"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn truncated_jira_and_jenkins_pagination_silently_lose_records() {
    let sim = start(with_faults(54, &["jira:truncate#1", "jenkins:truncate#1"])).await;
    let org = sim.state().organisation().clone();
    let project = &org.jira_projects[0];
    let issues = jira_all(&sim, &format!("project = {}", project.key), 10).await;
    assert!(project.issues.len() > 20);
    assert_eq!(issues.len(), project.issues.len() - 10);

    let job = &org.jenkins_jobs[1];
    let url = format!(
        "{}/job/{}/api/json?tree={BUILD_TREE}{{0,10}}",
        sim.base_url(Source::Jenkins),
        job.name
    );
    let truncated = get(&url).await.body["allBuilds"].as_array().unwrap().len();
    assert!(job.builds.len() > 10);
    assert_eq!(
        truncated, 5,
        "a short range makes a ranged client believe it is done"
    );
    let full = get(&url).await.body["allBuilds"].as_array().unwrap().len();
    assert_eq!(full, 10);
    sim.shutdown().await;
}

#[tokio::test]
async fn schema_drift_renames_the_field_in_every_record() {
    let sim = start(with_faults(
        55,
        &[
            "jira/jira_search:drift=created->createdDate@1",
            "github/deployments:drift=sha->commit_sha#1",
        ],
    ))
    .await;
    let project = &sim.state().organisation().jira_projects[0].key;
    let issues = jira_all(&sim, &format!("project = {project}"), 100).await;
    assert!(issues.iter().all(|i| i["fields"].get("created").is_none() && i["fields"]["createdDate"].is_string()));

    let repo = &sim.state().organisation().repos[0];
    let url = format!(
        "{}/repos/{}/deployments",
        sim.base_url(Source::Github),
        repo.full_name()
    );
    let drifted = get(&url).await.body;
    assert!(
        drifted
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d.get("sha").is_none() && d["commit_sha"].is_string())
    );
    let normal = get(&url).await.body;
    assert!(normal[0]["sha"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_latency_fault_delays_the_answer_but_still_serves_it() {
    let sim = start(with_faults(56, &["jenkins:latency=300#1"])).await;
    let job = &sim.state().organisation().jenkins_jobs[0].name;
    let url = format!("{}/job/{job}/api/json", sim.base_url(Source::Jenkins));
    let started = Instant::now();
    let reply = get(&url).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(
        sim.state().request_log()[0].fault.as_deref(),
        Some("latency ms=300")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_are_replaced_added_listed_and_cleared_through_the_admin_api() {
    let sim = start(small_options(57)).await;
    let admin = format!("http://{}/_admin/faults", sim.addr());
    let c = client();
    let put = send(c.put(&admin).json(&json!([
        "github/pulls:429=2@0.05",
        {"source": "jira", "kind": "server_error", "status": 502, "trigger": {"count": 1}}
    ])))
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(sim.state().faults().len(), 2);
    assert_eq!(
        sim.state().faults()[1],
        FaultRule {
            source: Source::Jira,
            endpoint: None,
            scope: None,
            kind: FaultKind::ErrorStatus { status: 502 },
            trigger: Trigger::Count(1)
        }
    );
    let added = send(c.post(&admin).body("jenkins:truncate#1")).await;
    assert_eq!(added.status, 201);
    let listed = get(&admin).await.body;
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(listed[2]["kind"], "truncated_pagination");

    let bad = send(c.post(&admin).body("jira:302")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["error"].as_str().unwrap().contains("302"));

    assert_eq!(send(c.delete(&admin)).await.status, 204);
    assert!(sim.state().faults().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn admin_requests_are_never_faulted_or_logged_and_the_log_can_be_cleared() {
    let sim = start(with_faults(58, &["github:503"])).await;
    let admin = format!("http://{}/_admin", sim.addr());
    assert_eq!(get(&format!("{admin}/org")).await.status, 200);
    let repo = &sim.state().organisation().repos[0];
    let faulted = get(&format!(
        "{}/repos/{}/pulls",
        sim.base_url(Source::Github),
        repo.full_name()
    ))
    .await;
    assert_eq!(faulted.status, 503);
    let log: Value = get(&format!("{admin}/requests")).await.body;
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["endpoint"], "pulls");
    assert_eq!(log[0]["source"], "github");
    assert_eq!(
        send(client().delete(format!("{admin}/requests")))
            .await
            .status,
        204
    );
    assert!(sim.state().request_log().is_empty());
    let stats = get(&format!("{admin}/stats")).await.body;
    assert_eq!(stats["requests"]["github"]["503"], 1, "{stats}");
    sim.shutdown().await;
}
