//! Conformance with payloads recorded from the real GitHub, Jira and Jenkins
//! (kept in `tests/fixtures/real/`, see its README.md): every file there is parsed
//! with the crate's models, and one exact UTC value per file is checked, so a
//! model that only fits the simulator fails here.

use chrono::{DateTime, Utc};
use dorafleet_sources::github::{Deployment, DeploymentStatus, PullCommit, PullRequest};
use dorafleet_sources::jenkins::Build;
use dorafleet_sources::jira::Issue;
use dorafleet_sources::link::{next_link, parse_link_header};
use dorafleet_sources::server_limits::RateLimitHeaders;
use dorafleet_sources::timestamps::{from_epoch_millis, parse_github};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

mod recorded;
use recorded::{files, read};

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

// ---------------------------------------------------------------- GitHub

/// One recorded exchange of a replay file.
#[derive(Debug, Deserialize)]
struct Recorded {
    method: String,
    path: String,
    status: u16,
    headers: BTreeMap<String, String>,
    body: Value,
}

/// What the parsed list endpoints of one file gave, for the per-file checks.
#[derive(Debug, Default)]
struct GithubFile {
    pulls: Vec<PullRequest>,
    commits: Vec<PullCommit>,
    deployments: Vec<Deployment>,
    statuses: Vec<DeploymentStatus>,
    other_bodies: Vec<Value>,
    links: Vec<String>,
    rate_limits: Vec<RateLimitHeaders>,
}

fn header_map(headers: &BTreeMap<String, String>) -> HeaderMap {
    headers
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

fn typed<T: serde::de::DeserializeOwned>(file: &str, path: &str, body: &Value) -> Vec<T> {
    serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{file} {path}: body does not fit the model: {e}"))
}

/// Every string under a key ending in `_at` (or named `date`) must be a
/// GitHub timestamp.
fn assert_timestamps_parse(file: &str, value: &Value) -> usize {
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(key, v)| match v {
                Value::String(s) if key.ends_with("_at") || key == "date" => {
                    parse_github(s).unwrap_or_else(|e| panic!("{file}: `{key}`: {e}"));
                    1
                }
                other => assert_timestamps_parse(file, other),
            })
            .sum(),
        Value::Array(items) => items.iter().map(|v| assert_timestamps_parse(file, v)).sum(),
        _ => 0,
    }
}

fn parse_github_file(name: &str) -> GithubFile {
    let recorded: Vec<Recorded> = serde_json::from_str(&read("github", name))
        .unwrap_or_else(|e| panic!("{name}: not a replay list: {e}"));
    assert!(!recorded.is_empty(), "{name}: no exchanges");
    let mut out = GithubFile::default();
    for exchange in &recorded {
        assert_eq!(exchange.method, "GET", "{name}");
        assert_eq!(exchange.status, 200, "{name} {}", exchange.path);
        let headers = header_map(&exchange.headers);
        let limits = RateLimitHeaders::read(&headers, Utc::now());
        assert!(
            limits.remaining.is_some() && limits.reset_at.is_some(),
            "{name}: {limits:?}"
        );
        out.rate_limits.push(limits);
        let etag = exchange.headers.get("etag").expect("GitHub sends an etag");
        assert!(
            etag.starts_with("W/\"") || etag.starts_with('"'),
            "{name}: etag {etag}"
        );
        if let Some(link) = exchange.headers.get("link") {
            assert!(!parse_link_header(link).is_empty(), "{name}: {link}");
            out.links.push(link.clone());
        }

        let segments: Vec<&str> = exchange.path.trim_matches('/').split('/').collect();
        let path = exchange.path.as_str();
        match segments.as_slice() {
            ["repos", _, _, "pulls"] => out.pulls.extend(typed(name, path, &exchange.body)),
            ["repos", _, _, "pulls", _, "commits"] | ["repos", _, _, "commits"] => {
                out.commits.extend(typed(name, path, &exchange.body))
            }
            ["repos", _, _, "deployments"] => {
                out.deployments.extend(typed(name, path, &exchange.body))
            }
            ["repos", _, _, "deployments", _, "statuses"] => {
                out.statuses.extend(typed(name, path, &exchange.body))
            }
            _ => {
                // Repository, single commit, commit statuses, releases: not
                // crawled, but their timestamps must still be readable.
                assert!(
                    exchange.body.is_object() || exchange.body.is_array(),
                    "{name} {path}"
                );
                assert!(
                    assert_timestamps_parse(name, &exchange.body) > 0,
                    "{name} {path}: no timestamps"
                );
                out.other_bodies.push(exchange.body.clone());
            }
        }
    }
    out
}

#[test]
fn every_recorded_github_file_parses() {
    for name in files("github") {
        let parsed = parse_github_file(&name);
        let items = parsed.pulls.len()
            + parsed.commits.len()
            + parsed.deployments.len()
            + parsed.statuses.len()
            + parsed.other_bodies.len();
        assert!(items > 0, "{name}: nothing parsed");
    }
}

#[test]
fn recorded_pull_requests_fit_the_model() {
    let file = parse_github_file("Repository_pull_requests.json");
    assert_eq!(file.pulls.len(), 11);
    let first = &file.pulls[0];
    assert_eq!(first.number, 1033);
    assert_eq!(first.updated_at, utc("2021-09-22T01:03:17Z"));
    assert_eq!(first.created_at, utc("2021-07-07T09:16:16Z"));
    assert_eq!(first.merged_at, None, "these recorded PRs are open");
    assert_eq!(
        first.merge_commit_sha.as_deref(),
        Some("a1fc6301c41aa1530704408dab94d6ed9747d3d7")
    );
    assert_eq!(first.author_login(), Some("viktor-zinchenko"));
    assert_eq!(first.base.as_ref().unwrap().name, "main");
    assert!(
        file.pulls
            .iter()
            .all(|pr| pr.merged_at.is_none() && pr.user.is_some())
    );
    // x-ratelimit-reset 1635719751 on the list response.
    assert_eq!(
        file.rate_limits[1].reset_at,
        Some(utc("2021-10-31T22:35:51Z"))
    );
    assert_eq!(file.rate_limits[1].remaining, Some(53));
}

#[test]
fn recorded_commits_fit_the_model_and_their_link_header_is_followed() {
    let file = parse_github_file("Repository_commits.json");
    assert_eq!(file.commits.len(), 25);
    let first = &file.commits[0];
    assert_eq!(first.sha, "977560f205a84449522988b52e196f4bf502f79a");
    assert_eq!(first.authored_at(), Some(utc("2017-12-29T02:41:15Z")));
    assert_eq!(
        first.author.as_ref().map(|u| u.login.as_str()),
        Some("omgjlk")
    );
    assert!(file.commits.iter().all(|c| c.authored_at().is_some()));

    assert_eq!(file.links.len(), 1);
    assert_eq!(
        next_link(&file.links[0]).as_deref(),
        Some("https://api.github.com/repositories/3710711/commits?per_page=25&page=2")
    );
    let last = parse_link_header(&file.links[0])
        .into_iter()
        .find(|l| l.rels == ["last"])
        .unwrap();
    assert!(last.url.ends_with("page=111"), "{}", last.url);
}

#[test]
fn recorded_deployments_fit_the_model() {
    let file = parse_github_file("Repository_deployments.json");
    assert_eq!(file.deployments.len(), 2);
    let first = &file.deployments[0];
    assert_eq!(first.id, 801);
    assert_eq!(first.environment, "production");
    assert_eq!(first.created_at, utc("2014-02-24T02:22:44Z"));
    assert_eq!(first.sha, "aa0b457c3c7692a0da05b6771ce44c980febd4a1");
    assert_eq!(first.creator.as_ref().unwrap().login, "sigmavirus24");
}

#[test]
fn recorded_deployment_statuses_fit_the_model() {
    let file = parse_github_file("Deployment_statuses.json");
    assert_eq!(file.deployments.len(), 2);
    assert_eq!(file.statuses.len(), 5);
    let newest = &file.statuses[0];
    assert_eq!(newest.id, 103532541);
    assert_eq!(newest.state, "success");
    assert_eq!(newest.created_at, utc("2018-01-01T19:50:40Z"));
    assert_eq!(
        newest.environment, None,
        "old statuses carry no environment"
    );
    assert_eq!(
        file.rate_limits[2].reset_at,
        Some(utc("2018-01-01T20:05:29Z"))
    );
}

#[test]
fn recorded_commit_statuses_and_releases_have_readable_timestamps() {
    let statuses = parse_github_file("RepoCommit_statuses.json");
    let list = statuses.other_bodies.iter().find(|b| b.is_array()).unwrap();
    assert_eq!(
        parse_github(list[0]["created_at"].as_str().unwrap()).unwrap(),
        utc("2014-11-29T01:45:32Z")
    );

    let releases = parse_github_file("Repository_releases.json");
    let list = releases.other_bodies.iter().find(|b| b.is_array()).unwrap();
    assert_eq!(
        parse_github(list[0]["published_at"].as_str().unwrap()).unwrap(),
        utc("2014-11-29T02:40:20Z")
    );
}

// ---------------------------------------------------------------- Jira

struct ExpectedIssue {
    created: &'static str,
    updated: &'static str,
    resolved: Option<&'static str>,
    status: &'static str,
}

fn expected_issue(key: &str) -> ExpectedIssue {
    let (created, updated, resolved, status) = match key {
        "SP-1" => (
            "2021-06-18T18:41:29.398Z",
            "2021-12-14T00:30:15.272Z",
            None,
            "Review",
        ),
        "SP-2" => (
            "2021-06-18T18:41:37.804Z",
            "2021-06-18T18:43:38.173Z",
            None,
            "Selected for Development",
        ),
        "SP-5" => (
            "2021-06-18T18:41:58.333Z",
            "2021-10-11T12:49:07.232Z",
            Some("2021-10-11T12:49:07.227Z"),
            "Done",
        ),
        "SP-7" => (
            "2021-06-18T18:42:21.375Z",
            "2021-12-14T00:30:28.091Z",
            None,
            "Selected for Development",
        ),
        "SP-8" => (
            "2021-06-18T18:42:35.885Z",
            "2021-12-14T00:30:04.466Z",
            None,
            "In Progress",
        ),
        "SP-11" => (
            "2021-06-18T18:43:02.284Z",
            "2021-12-14T00:30:34.153Z",
            None,
            "Selected for Development",
        ),
        other => panic!("new Jira fixture {other}: add its expected values here"),
    };
    ExpectedIssue {
        created,
        updated,
        resolved,
        status,
    }
}

#[test]
fn every_recorded_jira_issue_parses_with_utc_times() {
    for name in files("jira") {
        let issue: Issue = serde_json::from_str(&read("jira", &name))
            .unwrap_or_else(|e| panic!("{name}: does not fit the Issue model: {e}"));
        let key = name.trim_end_matches(".json");
        assert_eq!(issue.key, key);
        let expected = expected_issue(key);
        assert_eq!(issue.created_at(), utc(expected.created), "{name}");
        assert_eq!(issue.updated_at(), utc(expected.updated), "{name}");
        assert_eq!(issue.resolved_at(), expected.resolved.map(utc), "{name}");
        assert_eq!(issue.status(), Some(expected.status), "{name}");
        assert_eq!(issue.issue_type(), Some("Story"), "{name}");
        assert_eq!(issue.priority(), Some("Medium"), "{name}");
        assert_eq!(
            issue.fields.project.as_ref().map(|p| p.key.as_str()),
            Some("SP")
        );
        assert_eq!(
            issue
                .fields
                .reporter
                .as_ref()
                .and_then(|r| r.email_address.as_deref()),
            Some("mbowler@gargoylesoftware.com")
        );
    }
}

// ---------------------------------------------------------------- Jenkins

#[derive(Debug, Deserialize)]
struct JobInfo {
    name: String,
    builds: Vec<BuildRef>,
}

#[derive(Debug, Deserialize)]
struct BuildRef {
    number: u64,
}

/// A pipeline (`wfapi`) run.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkflowRun {
    name: String,
    status: String,
    start_time_millis: i64,
    end_time_millis: i64,
    duration_millis: i64,
}

#[test]
fn every_recorded_jenkins_file_parses() {
    for name in files("jenkins") {
        let text = read("jenkins", &name);
        match name.as_str() {
            n if n.starts_with("build-info") => {
                let build: Build =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(build.number, 10, "{name}");
                assert_eq!(build.result.as_deref(), Some("SUCCESS"), "{name}");
                assert!(!build.building);
                assert_eq!(
                    build.started_at(),
                    Some(utc("2016-04-19T18:51:32.486Z")),
                    "{name}"
                );
                assert_eq!(
                    build.finished_at(),
                    Some(utc("2016-04-19T18:52:33.236Z")),
                    "{name}"
                );
                assert_eq!(build.triggered_by(), Some("anonymous"), "{name}");
            }
            "job-info.json" => {
                let job: JobInfo = serde_json::from_str(&text).unwrap();
                assert_eq!(job.name, "fish");
                let numbers: Vec<u64> = job.builds.iter().map(|b| b.number).collect();
                assert_eq!(numbers, vec![7, 6, 5, 4, 3, 2, 1], "newest first");
            }
            "runHistory.json" => {
                let runs: Vec<WorkflowRun> = serde_json::from_str(&text).unwrap();
                assert_eq!(runs.len(), 2);
                assert_eq!(runs[0].name, "#16");
                assert_eq!(runs[0].status, "PAUSED_PENDING_INPUT");
                assert_eq!(
                    from_epoch_millis(runs[1].start_time_millis),
                    Some(utc("2014-10-16T11:45:10.289Z"))
                );
                for run in &runs {
                    assert_eq!(
                        run.start_time_millis + run.duration_millis,
                        run.end_time_millis,
                        "{}",
                        run.name
                    );
                }
            }
            other => panic!("new Jenkins fixture {other}: add a check for it here"),
        }
    }
}
