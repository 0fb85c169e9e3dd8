//! Each source's page decoders meet whatever a server answers: the crawl's
//! reading of a page (records, follow-ups, pagination checks) and the
//! normalizer's reading of the same page from bronze must answer every body
//! with steps or an error, never a panic. The first byte picks the endpoint.
#![no_main]

use chrono::{TimeZone, Utc};
use dorafleet_core::{Config, Scope, Source, Window};
use dorafleet_sources::{FetchedPage, PageRequest, endpoint, next_steps};
use dorafleet_warehouse::BronzePage;
use libfuzzer_sys::fuzz_target;

const ENDPOINTS: &[(Source, &str, &str)] = &[
    (Source::Github, endpoint::PULLS, "/repos/acme/api/pulls?state=closed&page=2&per_page=100"),
    (Source::Github, endpoint::PULL_COMMITS, "/repos/acme/api/pulls/12/commits?per_page=100"),
    (Source::Github, endpoint::DEPLOYMENTS, "/repos/acme/api/deployments?page=3&per_page=100"),
    (Source::Github, endpoint::DEPLOYMENT_STATUSES, "/repos/acme/api/deployments/7/statuses"),
    (Source::Jira, endpoint::JIRA_SEARCH, "/rest/api/3/search/jql?jql=project%3DPAY&maxResults=50"),
    (Source::Jira, endpoint::JIRA_COUNT, "/rest/api/3/search/approximate-count"),
    (Source::Jenkins, endpoint::JENKINS_BUILDS, "/job/web-deploy/api/json?tree=allBuilds%5Bnumber%5D%7B25,50%7D"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (source, name, url) = ENDPOINTS[usize::from(pick) % ENDPOINTS.len()];
    let body = String::from_utf8_lossy(body).into_owned();
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let window = Window {
        from: at,
        to: at + chrono::Duration::days(1),
    };
    let page = FetchedPage {
        request: PageRequest::new(name, url, 2),
        status: 200,
        body: body.clone(),
        fetched_at: at,
        link_next: Some(format!("{url}&page=3")),
        etag: None,
        rate_limit_wait: std::time::Duration::ZERO,
    };
    let _ = next_steps(source, &page, &window, 25);

    let scope = Scope {
        team: "payments".into(),
        target: Some(match source {
            Source::Github => "acme/api".into(),
            Source::Jira => "PAY".into(),
            Source::Jenkins => "web-deploy".into(),
        }),
    };
    let bronze = BronzePage {
        task_id: uuid::Uuid::nil(),
        seq: 0,
        execution_id: uuid::Uuid::nil(),
        source_system: source,
        scope: scope.clone(),
        endpoint: name.into(),
        request: url.into(),
        cursor: "2".into(),
        status: 200,
        fetched_at: at,
        record_count: 0,
        body,
    };
    let config = Config::default();
    let pages = std::slice::from_ref(&bronze);
    let _ = match source {
        Source::Github => dorafleet_sources::github::normalize(&config, &scope, uuid::Uuid::nil(), pages),
        Source::Jira => dorafleet_sources::jira::normalize(&config, &scope, uuid::Uuid::nil(), pages),
        Source::Jenkins => dorafleet_sources::jenkins::normalize(&config, &scope, uuid::Uuid::nil(), pages),
    };
});
