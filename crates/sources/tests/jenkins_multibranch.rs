//! Jenkins jobs addressed by path, and multibranch projects read as their
//! branch jobs: the crawl (paths percent-encoded per segment, a multibranch
//! parent followed by its branch listing, each branch job walked like a
//! job) and normalization (`parent/branch#number`, only the configured
//! `deploy_branches`).

use chrono::{DateTime, Utc};
use dorafleet_core::{Config, Scope, Source, TeamConfig, Window};
use dorafleet_sources::jenkins::{job_of_url, job_url_path, normalize};
use dorafleet_sources::{FetchedPage, PageRequest, endpoint, next_steps, start_requests};
use dorafleet_warehouse::BronzePage;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

const MULTIBRANCH: &str = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject";

fn window() -> Window {
    Window {
        from: "2024-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        to: "2024-03-08T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
    }
}

fn scope(target: &str) -> Scope {
    Scope {
        team: "payments".into(),
        target: Some(target.into()),
    }
}

fn page(request: PageRequest, body: serde_json::Value) -> FetchedPage {
    FetchedPage {
        request,
        status: 200,
        body: body.to_string(),
        fetched_at: Utc::now(),
        link_next: None,
        etag: None,
        last_modified: None,
        rate_limit_wait: Duration::ZERO,
    }
}

fn build(number: u64, sha: &str) -> serde_json::Value {
    let at = "2024-03-05T10:00:00Z"
        .parse::<DateTime<Utc>>()
        .unwrap()
        .timestamp_millis()
        + number as i64;
    json!({"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": number,
           "result": "SUCCESS", "timestamp": at, "duration": 1000, "building": false,
           "actions": [{"_class": "hudson.plugins.git.util.BuildData", "lastBuiltRevision": {"SHA1": sha}}]})
}

#[test]
fn job_paths_become_nested_job_urls_with_each_segment_encoded() {
    assert_eq!(job_url_path("team/app/main"), "/job/team/job/app/job/main");
    assert_eq!(
        job_url_path("team a/app#1/feature%2Flogin"),
        "/job/team%20a/job/app%231/job/feature%252Flogin"
    );
    let first = start_requests(Source::Jenkins, &scope("team/app/main"), &window(), 25).remove(0);
    assert!(
        first
            .url
            .starts_with("/job/team/job/app/job/main/api/json?tree=allBuilds"),
        "{}",
        first.url
    );
    // And back: one decoding gives Jenkins' job names.
    assert_eq!(
        job_of_url("/job/team%20a/job/app/job/feature%252Flogin/api/json?tree=x").as_deref(),
        Some("team a/app/feature%2Flogin")
    );
    assert_eq!(
        job_of_url("http://ci.example/jenkins/job/a/job/b/api/json").as_deref(),
        Some("a/b")
    );
    assert_eq!(job_of_url("/whoAmI/api/json"), None);
}

/// The crawl of a multibranch deploy job, as pages: the parent, its
/// listing, and one builds page per branch.
fn crawl_multibranch() -> Vec<FetchedPage> {
    let first = start_requests(Source::Jenkins, &scope("team/app"), &window(), 25).remove(0);
    let parent = page(first, json!({"_class": MULTIBRANCH}));
    let step = next_steps(Source::Jenkins, &parent, &window(), 25).unwrap();
    assert_eq!(step.records, 0);
    let [listing] = step.follow_ups.as_slice() else {
        panic!(
            "a multibranch parent is followed by its listing: {:?}",
            step.follow_ups
        )
    };
    assert_eq!(listing.endpoint, endpoint::JENKINS_BRANCHES);
    assert!(
        listing
            .url
            .starts_with("/job/team/job/app/api/json?tree=jobs"),
        "{}",
        listing.url
    );
    let listing = page(
        listing.clone(),
        json!({"_class": MULTIBRANCH, "jobs": [
            {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "main", "url": "u"},
            {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "feature%2Flogin", "url": "u"},
        ]}),
    );
    let step = next_steps(Source::Jenkins, &listing, &window(), 25).unwrap();
    assert_eq!(step.records, 2);
    let [main, feature] = step.follow_ups.as_slice() else {
        panic!("one builds list per branch: {:?}", step.follow_ups)
    };
    assert!(
        main.url
            .starts_with("/job/team/job/app/job/main/api/json?tree=allBuilds"),
        "{}",
        main.url
    );
    assert!(
        main.url.contains("%7B0%2C25%7D") || main.url.contains("{0,25}"),
        "{}",
        main.url
    );
    assert!(
        feature
            .url
            .starts_with("/job/team/job/app/job/feature%252Flogin/api/json"),
        "{}",
        feature.url
    );
    assert_eq!(main.endpoint, endpoint::JENKINS_BRANCH_BUILDS);
    assert!(
        main.is_child(),
        "a deleted branch answers 404: gone, not fatal"
    );
    let main = page(
        main.clone(),
        json!({"allBuilds": [build(7, "aaa"), build(6, "bbb")]}),
    );
    let step = next_steps(Source::Jenkins, &main, &window(), 25).unwrap();
    assert_eq!(step.records, 2);
    let feature = page(feature.clone(), json!({"allBuilds": [build(3, "ccc")]}));
    vec![parent, listing, main, feature]
}

fn bronze(pages: &[FetchedPage]) -> Vec<BronzePage> {
    pages
        .iter()
        .enumerate()
        .map(|(seq, p)| BronzePage {
            task_id: Uuid::nil(),
            seq: seq as u32,
            execution_id: Uuid::nil(),
            source_system: Source::Jenkins,
            scope: scope("team/app"),
            endpoint: p.request.endpoint.clone(),
            request: p.request.url.clone(),
            cursor: p.request.page_no.to_string(),
            status: 200,
            fetched_at: p.fetched_at,
            record_count: 0,
            body: p.body.clone(),
            etag: None,
            last_modified: None,
            link_next: None,
            reuses: None,
        })
        .collect()
}

fn config(deploy_branches: Option<Vec<String>>) -> Config {
    let mut config = Config {
        teams: vec![TeamConfig {
            id: "payments".into(),
            jenkins_jobs: vec!["team/app".into()],
            deploy_jobs: [("team/app".to_owned(), "acme/app".to_owned())].into(),
            ..TeamConfig::default()
        }],
        ..Config::default()
    };
    if let Some(branches) = deploy_branches {
        config.sources.jenkins.deploy_branches = branches;
    }
    config
}

#[test]
fn a_multibranch_deploy_job_deploys_from_its_main_branch_by_default() {
    let pages = bronze(&crawl_multibranch());
    let batch = normalize(&config(None), &scope("team/app"), Uuid::nil(), &pages).unwrap();
    let keys: Vec<&str> = batch.deployments.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["team/app/main#6", "team/app/main#7"]);
    assert!(
        batch
            .deployments
            .iter()
            .all(|d| d.job.as_deref() == Some("team/app"))
    );
    assert_eq!(batch.deployments[1].sha.as_deref(), Some("aaa"));
    assert_eq!(batch.counts.non_deploy_builds_skipped, 1);
}

#[test]
fn deploy_branches_globs_choose_the_branches_that_deploy() {
    let pages = bronze(&crawl_multibranch());
    let every = normalize(
        &config(Some(vec!["*".into()])),
        &scope("team/app"),
        Uuid::nil(),
        &pages,
    )
    .unwrap();
    let keys: Vec<&str> = every.deployments.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "team/app/feature%2Flogin#3",
            "team/app/main#6",
            "team/app/main#7"
        ]
    );
    // Globs match the branch name (`feature/login`), not Jenkins' job name.
    let features = normalize(
        &config(Some(vec!["feature/*".into()])),
        &scope("team/app"),
        Uuid::nil(),
        &pages,
    )
    .unwrap();
    let keys: Vec<&str> = features
        .deployments
        .iter()
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(keys, ["team/app/feature%2Flogin#3"]);
}
