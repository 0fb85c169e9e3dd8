//! The source client against a scripted server: authentication, token
//! rotation, failure classification, server pauses, the rate budget, and
//! refusing to follow links to other hosts.

mod common;

use common::{Reply, ScriptedServer, max_in_any_second};
use dorafleet_core::{ErrorClass, Secret, Source, TaskError};
use dorafleet_sources::{PageRequest, SourceClient, Validators, endpoint};
use std::time::{Duration, Instant};

fn pulls_request() -> PageRequest {
    PageRequest::new(endpoint::PULLS, "/repos/acme/x/pulls?per_page=5", 1)
}

#[tokio::test]
async fn a_rotated_token_file_is_sent_on_the_next_request() {
    let server = ScriptedServer::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("github-token");
    std::fs::write(&token_path, "ghp_first\n").unwrap();
    let mut config = server.config("", 50);
    config.token_file = Some(token_path.clone());
    let client = SourceClient::new(Source::Github, &config).unwrap();

    client.get(&pulls_request()).await.unwrap();
    std::fs::write(&token_path, "ghp_rotated_second\n").unwrap();
    client.get(&pulls_request()).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen[0].header("authorization"), Some("Bearer ghp_first"));
    assert_eq!(
        seen[1].header("authorization"),
        Some("Bearer ghp_rotated_second")
    );
}

#[tokio::test]
async fn github_requests_carry_the_api_headers_below_the_base_path() {
    let server = ScriptedServer::start(vec![]).await;
    let mut config = server.config("/github", 50);
    config.token = Some(Secret::new("ghp_x"));
    let client = SourceClient::new(Source::Github, &config).unwrap();
    client.get(&pulls_request()).await.unwrap();

    let seen = &server.seen()[0];
    assert_eq!(seen.path_and_query, "/github/repos/acme/x/pulls?per_page=5");
    assert_eq!(seen.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(seen.header("x-github-api-version"), Some("2022-11-28"));
    assert!(seen.header("user-agent").unwrap().starts_with("dorafleet/"));
}

#[tokio::test]
async fn jira_uses_basic_auth_when_a_user_is_configured() {
    let server = ScriptedServer::start(vec![]).await;
    let mut config = server.config("", 50);
    config.user = Some("ops@acme.io".into());
    config.token = Some(Secret::new("jira-token-1"));
    let client = SourceClient::new(Source::Jira, &config).unwrap();
    client
        .get(&PageRequest::new(
            endpoint::JIRA_SEARCH,
            "/rest/api/3/search/jql?jql=x",
            1,
        ))
        .await
        .unwrap();
    assert_eq!(
        server.seen()[0].header("authorization"),
        Some("Basic b3BzQGFjbWUuaW86amlyYS10b2tlbi0x")
    );
}

#[tokio::test]
async fn an_accepted_page_carries_its_next_link_and_etag() {
    let server = ScriptedServer::start(vec![
        Reply::new(200, "[]")
            .header(
                "link",
                r#"<http://x/next?page=2>; rel="next", <http://x/last>; rel="last""#,
            )
            .header("etag", "W/\"abc\""),
        Reply::new(304, ""),
    ])
    .await;
    let client = SourceClient::new(Source::Github, &server.config("", 50)).unwrap();
    let page = client.get(&pulls_request()).await.unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(page.link_next.as_deref(), Some("http://x/next?page=2"));
    assert_eq!(page.etag.as_deref(), Some("W/\"abc\""));
    assert_eq!(page.request, pulls_request());

    let not_modified = client.get(&pulls_request()).await.unwrap();
    assert_eq!(not_modified.status, 304);
    assert_eq!(client.stats().api_calls, 2);
}

#[tokio::test]
async fn a_conditional_request_sends_the_etag_else_the_last_modified_date_and_takes_a_304_as_a_page()
 {
    let server = ScriptedServer::start(vec![
        Reply::new(200, "[]").header("last-modified", "Sun, 31 Oct 2021 00:16:02 GMT"),
        Reply::new(304, ""),
        Reply::new(304, ""),
        Reply::new(200, "[]"),
    ])
    .await;
    let client = SourceClient::new(Source::Github, &server.config("", 50)).unwrap();
    let page = client.get(&pulls_request()).await.unwrap();
    assert_eq!(
        page.last_modified.as_deref(),
        Some("Sun, 31 Oct 2021 00:16:02 GMT")
    );
    let both = Validators {
        etag: Some("W/\"abc\"".into()),
        last_modified: page.last_modified.clone(),
    };
    let dated = Validators {
        etag: None,
        last_modified: page.last_modified.clone(),
    };
    let first = client
        .get_conditional(&pulls_request(), &both)
        .await
        .unwrap();
    let second = client
        .get_conditional(&pulls_request(), &dated)
        .await
        .unwrap();
    assert!(first.not_modified() && second.not_modified());
    client.get(&pulls_request()).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen[0].header("if-none-match"), None);
    assert_eq!(seen[1].header("if-none-match"), Some("W/\"abc\""));
    assert_eq!(
        seen[1].header("if-modified-since"),
        None,
        "the ETag is enough"
    );
    assert_eq!(
        seen[2].header("if-modified-since"),
        Some("Sun, 31 Oct 2021 00:16:02 GMT")
    );
    assert_eq!(seen[3].header("if-none-match"), None);
    assert_eq!(seen[3].header("if-modified-since"), None);
}

#[tokio::test]
async fn server_errors_are_transient_and_missing_or_removed_endpoints_permanent() {
    let server = ScriptedServer::start(vec![
        Reply::new(503, "upstream down"),
        Reply::new(408, ""),
        Reply::new(404, r#"{"message":"Not Found"}"#),
        Reply::new(
            410,
            r#"{"errorMessages":["The requested API has been removed."]}"#,
        ),
        Reply::new(401, "bad credentials"),
    ])
    .await;
    let mut config = server.config("", 50);
    config.token = Some(Secret::new("ghp_must_not_leak"));
    let client = SourceClient::new(Source::Github, &config).unwrap();

    let err = client.get(&pulls_request()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err}");
    assert!(
        err.message()
            .starts_with("github GET /repos/acme/x/pulls: HTTP 503"),
        "{err}"
    );
    assert_eq!(
        client.get(&pulls_request()).await.unwrap_err().class(),
        ErrorClass::Transient
    );

    let err = client.get(&pulls_request()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(
        err.message().contains("HTTP 404") && err.message().contains("Not Found"),
        "{err}"
    );

    let err = client.get(&pulls_request()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(
        err.message().contains("HTTP 410") && err.message().contains("removed"),
        "{err}"
    );

    let err = client.get(&pulls_request()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(!err.to_string().contains("must_not_leak"), "{err}");

    let stats = client.stats();
    assert_eq!(stats.api_calls, 5);
    assert_eq!(stats.by_status.get(&503), Some(&1));
    assert_eq!(stats.by_status.get(&404), Some(&1));
}

#[tokio::test]
async fn a_429_pauses_every_request_of_the_client_until_retry_after() {
    let server = ScriptedServer::start(vec![
        Reply::new(429, "slow down").header("retry-after", "1"),
    ])
    .await;
    let client = SourceClient::new(Source::Jira, &server.config("", 50)).unwrap();

    let err = client.get(&pulls_request()).await.unwrap_err();
    let TaskError::RetryAfter { after, .. } = &err else {
        panic!("expected RetryAfter, got {err}");
    };
    assert!(
        *after > Duration::from_millis(900) && *after <= Duration::from_secs(1),
        "{after:?}"
    );

    // Another task of the same process asks at once: it must wait too.
    let other = client.clone();
    let page = other.get(&pulls_request()).await.unwrap();
    assert!(
        page.rate_limit_wait >= Duration::from_millis(900),
        "{:?}",
        page.rate_limit_wait
    );

    let seen = server.seen();
    let gap = seen[1].at.duration_since(seen[0].at);
    assert!(
        gap >= Duration::from_secs(1),
        "second request after {gap:?}"
    );
    let stats = client.stats();
    assert_eq!(stats.server_pauses, 1);
    assert!(stats.rate_limit_wait_ms >= 900, "{stats:?}");
}

#[tokio::test]
async fn a_429_without_any_wait_header_is_transient() {
    let server = ScriptedServer::start(vec![Reply::new(429, "")]).await;
    let client = SourceClient::new(Source::Jira, &server.config("", 50)).unwrap();
    let err = client.get(&pulls_request()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err}");
}

#[tokio::test]
async fn a_403_is_a_rate_limit_only_when_the_server_says_so() {
    let reset = (chrono::Utc::now().timestamp() + 30).to_string();
    let server = ScriptedServer::start(vec![
        Reply::new(403, "forbidden"),
        Reply::new(403, "secondary rate limit").header("retry-after", "0"),
        Reply::new(403, "API rate limit exceeded")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset),
    ])
    .await;
    let client = SourceClient::new(Source::Github, &server.config("", 50)).unwrap();

    let err = client.get(&pulls_request()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    let err = client.get(&pulls_request()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::RateLimited, "{err}");
    let err = client.get(&pulls_request()).await.unwrap_err();
    let after = err.retry_after().expect("rate limited");
    assert!(
        after > Duration::from_secs(28) && after <= Duration::from_secs(30),
        "{after:?}"
    );
    assert_eq!(client.stats().server_pauses, 2);
}

#[tokio::test]
async fn a_page_that_uses_up_the_quota_pauses_until_the_reset_without_failing() {
    // Reset at the next whole second, as GitHub's epoch-seconds header allows.
    let reset_epoch = chrono::Utc::now().timestamp() + 1;
    let server = ScriptedServer::start(vec![
        Reply::new(200, "[]")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset_epoch.to_string()),
    ])
    .await;
    let client = SourceClient::new(Source::Github, &server.config("", 50)).unwrap();
    client.get(&pulls_request()).await.unwrap();
    client.get(&pulls_request()).await.unwrap();
    let second = &server.seen()[1];
    assert!(
        second.at_utc.timestamp() >= reset_epoch,
        "second request at {} before reset {reset_epoch}",
        second.at_utc
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_and_nothing_is_sent_there() {
    let api = ScriptedServer::start(vec![]).await;
    let elsewhere = ScriptedServer::start(vec![]).await;
    let mut config = api.config("", 50);
    config.token = Some(Secret::new("ghp_secret"));
    let client = SourceClient::new(Source::Github, &config).unwrap();

    let foreign = PageRequest::new(
        endpoint::PULLS,
        format!("{}/repos/acme/x/pulls?page=2", elsewhere.base_url),
        2,
    );
    let err = client.get(&foreign).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(err.detail().contains("refusing"), "{}", err.detail());
    assert!(elsewhere.seen().is_empty());

    let same_origin = PageRequest::new(
        endpoint::PULLS,
        format!("{}/repos/acme/x/pulls?page=2", api.base_url),
        2,
    );
    client.get(&same_origin).await.unwrap();
    assert_eq!(api.seen()[0].path_and_query, "/repos/acme/x/pulls?page=2");
}

#[tokio::test]
async fn a_slow_server_times_out_as_transient() {
    let server =
        ScriptedServer::start(vec![Reply::new(200, "[]").delayed(Duration::from_secs(3))]).await;
    let mut config = server.config("", 50);
    config.timeout = std::time::Duration::from_millis(150);
    let client = SourceClient::new(Source::Jenkins, &config).unwrap();
    let err = client.get(&pulls_request()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err}");
    assert!(err.message().contains("timed out"), "{err}");
    assert_eq!(client.stats().transport_errors, 1);
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = dorafleet_core::SourceConfig::with_base_url(&format!("http://{addr}"), 50);
    let client = SourceClient::new(Source::Jenkins, &config).unwrap();
    let err = client.get(&pulls_request()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err}");
}

#[tokio::test]
async fn concurrent_tasks_together_stay_within_the_request_budget() {
    let server = ScriptedServer::start(vec![]).await;
    let client = SourceClient::new(Source::Github, &server.config("", 20)).unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..8 {
                    client.get(&pulls_request()).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let arrivals: Vec<Instant> = server.seen().iter().map(|s| s.at).collect();
    assert_eq!(arrivals.len(), 32);
    assert!(
        max_in_any_second(&arrivals) <= 20,
        "{} in one second",
        max_in_any_second(&arrivals)
    );
    // The budget is used, not wasted: 32 requests at ~20/s take about 1.6 s.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
