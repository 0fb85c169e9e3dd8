//! GitHub Enterprise Server conformance: answers shaped like a GHES's — the
//! recorded github.com payloads (`tests/fixtures/real/github/`) as a GHES
//! serves them, every URL below `https://HOST/api/v3` and no rate-limit
//! header (or `0/0`, rate limiting disabled) — parse and paginate through
//! the client and the crawl; its secondary rate limits are rate limits.

mod common;
mod recorded;

use common::{Reply, ScriptedServer};
use dorafleet_core::{ErrorClass, Scope, Source, Window};
use dorafleet_sources::github::{PullCommit, PullRequest};
use dorafleet_sources::server_limits::SECONDARY_LIMIT_DEFAULT_WAIT;
use dorafleet_sources::{PageRequest, SourceClient, endpoint, next_steps, start_requests};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// One recorded exchange of a replay file (see the fixtures' README).
#[derive(Debug, Deserialize)]
struct Recorded {
    path: String,
    headers: BTreeMap<String, String>,
    body: Value,
}

/// How a GHES with rate limiting disabled reports it.
#[derive(Debug, Clone, Copy)]
enum Limits {
    /// No `x-ratelimit-*` header at all.
    Absent,
    /// `x-ratelimit-limit: 0`, `x-ratelimit-remaining: 0`.
    ZeroOfZero,
}

/// The recorded list answer of `file` at `path`, as the GHES at `api`
/// (`http://HOST/api/v3`) serves it: hosts rewritten, rate-limit headers
/// dropped (or `0/0`), a `link` header kept.
fn ghes_reply(file: &str, path: &str, api: &str, limits: Limits) -> (Reply, Value) {
    let text = recorded::read("github", file).replace("https://api.github.com", api);
    let exchanges: Vec<Recorded> = serde_json::from_str(&text).unwrap();
    let exchange = exchanges
        .into_iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("{file}: no exchange at {path}"));
    let mut reply = Reply::new(200, &exchange.body.to_string())
        .header("content-type", "application/json; charset=utf-8");
    for (name, value) in &exchange.headers {
        if name == "link" || name == "etag" {
            reply = reply.header(name, value);
        }
    }
    if let Limits::ZeroOfZero = limits {
        reply = reply
            .header("x-ratelimit-limit", "0")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "0")
            .header("x-ratelimit-used", "0");
    }
    (reply, exchange.body)
}

fn window() -> Window {
    Window {
        from: "2017-01-01T00:00:00Z".parse().unwrap(),
        to: "2018-01-01T00:00:00Z".parse().unwrap(),
    }
}

fn scope() -> Scope {
    Scope {
        team: "tools".into(),
        target: Some("sigmavirus24/github3.py".into()),
    }
}

#[tokio::test]
async fn a_ghes_commit_list_pages_through_its_api_v3_link_without_rate_limit_headers() {
    for limits in [Limits::Absent, Limits::ZeroOfZero] {
        let server = ScriptedServer::start(vec![]).await;
        let api = format!("{}/api/v3", server.base_url);
        let (first, body) = ghes_reply(
            "Repository_commits.json",
            "/repos/sigmavirus24/github3.py/commits",
            &api,
            limits,
        );
        let next_expected = format!("{api}/repositories/3710711/commits?per_page=25&page=2");
        assert!(
            first
                .headers
                .iter()
                .any(|(n, v)| n == "link" && v.contains(&next_expected)),
            "{:?}",
            first.headers
        );
        server.push(first);
        // The second page: the first five commits again, and no `next`.
        let second: Vec<Value> = body.as_array().unwrap()[..5].to_vec();
        let mut last = Reply::new(200, &Value::Array(second).to_string());
        if let Limits::ZeroOfZero = limits {
            last = last
                .header("x-ratelimit-limit", "0")
                .header("x-ratelimit-remaining", "0");
        }
        server.push(last);

        let config = server.config("/api/v3", 20);
        let client = SourceClient::new(Source::Github, &config).unwrap();
        let request = start_requests(Source::Github, &scope(), &window(), 25)
            .into_iter()
            .find(|r| r.endpoint == endpoint::REPO_COMMITS)
            .unwrap();
        let page = client.get(&request).await.unwrap();
        assert_eq!(page.link_next.as_deref(), Some(next_expected.as_str()));
        let step = next_steps(Source::Github, &page, &window(), 25).unwrap();
        assert_eq!(step.records, 25, "{limits:?}");
        assert_eq!(
            step.quality.rejected_count(),
            0,
            "{limits:?}: {:?}",
            step.quality
        );
        assert_eq!(step.follow_ups.len(), 1);
        assert_eq!(step.pagination_gap, None);

        let page2 = client.get(&step.follow_ups[0]).await.unwrap();
        assert!(
            page2.rate_limit_wait < Duration::from_millis(500),
            "{limits:?}: no header (or 0/0) is no reason to wait: {:?}",
            page2.rate_limit_wait
        );
        let step2 = next_steps(Source::Github, &page2, &window(), 25).unwrap();
        assert_eq!(step2.records, 5);
        assert!(step2.follow_ups.is_empty());
        let commits: Vec<PullCommit> = serde_json::from_str(&page2.body).unwrap();
        assert_eq!(commits[0].sha, "977560f205a84449522988b52e196f4bf502f79a");

        let seen: Vec<String> = server
            .seen()
            .into_iter()
            .map(|s| s.path_and_query)
            .collect();
        assert!(
            seen[0].starts_with("/api/v3/repos/sigmavirus24/github3.py/commits?since="),
            "{seen:?}"
        );
        assert_eq!(
            seen[1], "/api/v3/repositories/3710711/commits?per_page=25&page=2",
            "the Link target is followed as given, /api/v3 included"
        );
        assert_eq!(client.stats().server_pauses, 0, "{limits:?}");
    }
}

#[tokio::test]
async fn ghes_pull_requests_parse_with_their_api_v3_urls() {
    let server = ScriptedServer::start(vec![]).await;
    let api = format!("{}/api/v3", server.base_url);
    let (reply, _) = ghes_reply(
        "Repository_pull_requests.json",
        "/repos/sigmavirus24/github3.py/pulls",
        &api,
        Limits::Absent,
    );
    server.push(reply);
    let client = SourceClient::new(Source::Github, &server.config("/api/v3", 20)).unwrap();
    let page = client
        .get(&PageRequest::new(
            endpoint::PULLS,
            "/repos/sigmavirus24/github3.py/pulls?state=closed&sort=updated&direction=desc&per_page=100",
            1,
        ))
        .await
        .unwrap();
    let pulls: Vec<PullRequest> = serde_json::from_str(&page.body).unwrap();
    assert_eq!(pulls.len(), 11);
    assert_eq!(pulls[0].number, 1033);
    let raw: Vec<Value> = serde_json::from_str(&page.body).unwrap();
    assert!(
        raw[0]["url"].as_str().unwrap().starts_with(&api),
        "{}",
        raw[0]["url"]
    );
    let step = next_steps(Source::Github, &page, &window(), 100).unwrap();
    assert_eq!(step.records, 11);
    assert_eq!(step.quality.rejected_count(), 0);
    assert_eq!(
        server.seen()[0].path_and_query,
        "/api/v3/repos/sigmavirus24/github3.py/pulls?state=closed&sort=updated&direction=desc&per_page=100"
    );
}

const SECONDARY: &str = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:1111.","documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}"#;

#[tokio::test]
async fn ghes_secondary_rate_limits_are_rate_limits_that_pause_the_client() {
    let server = ScriptedServer::start(vec![
        Reply::new(403, SECONDARY).header("retry-after", "1"),
        Reply::new(200, "[]"),
        Reply::new(403, SECONDARY),
    ])
    .await;
    let client = SourceClient::new(Source::Github, &server.config("/api/v3", 50)).unwrap();
    let request = PageRequest::new(endpoint::DEPLOYMENTS, "/repos/o/r/deployments", 1);

    let err = client.get(&request).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::RateLimited, "{err}");
    let after = err.retry_after().unwrap();
    assert!(
        after > Duration::from_millis(900) && after <= Duration::from_secs(1),
        "{after:?}"
    );
    // The next request waits for Retry-After.
    let page = client.get(&request).await.unwrap();
    assert!(
        page.rate_limit_wait >= Duration::from_millis(900),
        "{:?}",
        page.rate_limit_wait
    );
    let seen = server.seen();
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(950));

    // Without Retry-After: GitHub's one minute, a rate limit all the same.
    let err = client.get(&request).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::RateLimited, "{err}");
    let after = err.retry_after().unwrap();
    assert!(
        after > SECONDARY_LIMIT_DEFAULT_WAIT - Duration::from_secs(1)
            && after <= SECONDARY_LIMIT_DEFAULT_WAIT,
        "{after:?}"
    );
    assert_eq!(client.stats().server_pauses, 2);
}

#[tokio::test]
async fn a_403_with_0_of_0_limits_is_a_permanent_refusal_not_a_quota_to_wait_for() {
    let server = ScriptedServer::start(vec![
        Reply::new(403, r#"{"message":"Must have push access to repository"}"#)
            .header("x-ratelimit-limit", "0")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "0"),
    ])
    .await;
    let client = SourceClient::new(Source::Github, &server.config("/api/v3", 50)).unwrap();
    let request = PageRequest::new(endpoint::DEPLOYMENTS, "/repos/o/r/deployments", 1);
    let err = client.get(&request).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(
        err.message().contains("/api/v3/repos/o/r/deployments"),
        "{err}"
    );
    assert_eq!(client.stats().server_pauses, 0);
}
