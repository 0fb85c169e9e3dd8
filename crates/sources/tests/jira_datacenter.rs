//! Jira Data Center / Server conformance: the issues recorded from a real
//! Jira (`tests/fixtures/real/jira/SP-*.json`, REST v2, with their
//! changelogs) in the v2 search envelope (`startAt`, `maxResults`, `total`,
//! `issues`) parse, validate and paginate; `total` tells a page that never
//! came; `serverInfo` picks the dialect and `/myself` the zone of the JQL
//! bounds.

use chrono::{DateTime, Utc};
use dorafleet_core::config::JiraApi;
use dorafleet_core::{Scope, Source, Window};
use dorafleet_sources::jira::{JiraCrawl, JqlZone, window_jql_in};
use dorafleet_sources::{
    FetchedPage, PageRequest, Watch, endpoint, next_steps_watching, start_requests_watching,
    validate_page,
};
use serde_json::{Value, json};

mod recorded;
use recorded::{files, read};

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn window() -> Window {
    Window {
        from: utc("2010-01-01T00:00:00Z"),
        to: utc("2026-03-09T00:00:00Z"),
    }
}

fn scope() -> Scope {
    Scope {
        team: "search".into(),
        target: Some("SP".into()),
    }
}

fn watch(api: JiraApi) -> Watch {
    Watch {
        jira: Some(JiraCrawl {
            api,
            project: "SP".into(),
        }),
        ..Watch::default()
    }
}

fn page(request: PageRequest, body: &Value) -> FetchedPage {
    FetchedPage {
        request,
        status: 200,
        body: body.to_string(),
        fetched_at: Utc::now(),
        link_next: None,
        etag: None,
        last_modified: None,
        rate_limit_wait: std::time::Duration::ZERO,
    }
}

/// The recorded issues, ordered by key number.
fn recorded_issues() -> Vec<Value> {
    let mut issues: Vec<Value> = files("jira")
        .iter()
        .map(|name| serde_json::from_str(&read("jira", name)).unwrap())
        .collect();
    issues.sort_by_key(|i| i["key"].as_str().unwrap()[3..].parse::<u32>().unwrap());
    assert_eq!(issues.len(), 6);
    issues
}

/// The v2 search page at `start_at` of `issues`, `size` per page.
fn v2_page(issues: &[Value], start_at: usize, size: usize, total: usize) -> Value {
    json!({
        "expand": "schema,names",
        "startAt": start_at,
        "maxResults": size,
        "total": total,
        "issues": issues.iter().skip(start_at).take(size).collect::<Vec<_>>(),
    })
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

/// The crawl of a Data Center project up to its first search request,
/// through `/myself` answering `time_zone`.
fn first_search(api: JiraApi, time_zone: &str, page_size: u32) -> PageRequest {
    let watch = watch(api);
    let mut pending = start_requests_watching(Source::Jira, &scope(), &window(), page_size, &watch);
    assert_eq!(pending.len(), 1);
    let mut request = pending.remove(0);
    if request.endpoint == endpoint::JIRA_SERVER_INFO {
        assert!(
            request.url.ends_with("rest/api/2/serverInfo"),
            "{}",
            request.url
        );
        let step = next_steps_watching(
            Source::Jira,
            &page(
                request,
                &json!({"version": "9.12.2", "deploymentType": "DataCenter"}),
            ),
            &window(),
            page_size,
            &watch,
        )
        .unwrap();
        request = step.follow_ups.into_iter().next().unwrap();
    }
    assert_eq!(request.endpoint, endpoint::JIRA_MYSELF);
    assert!(
        request.url.ends_with("rest/api/2/myself"),
        "{}",
        request.url
    );
    let step = next_steps_watching(
        Source::Jira,
        &page(
            request,
            &json!({"name": "dorafleet", "timeZone": time_zone}),
        ),
        &window(),
        page_size,
        &watch,
    )
    .unwrap();
    assert_eq!(step.records, 0);
    let [search] = <[PageRequest; 1]>::try_from(step.follow_ups).unwrap();
    search
}

#[test]
fn the_recorded_issues_in_the_v2_envelope_parse_and_paginate_to_total() {
    let issues = recorded_issues();
    let watch = watch(JiraApi::Datacenter);
    let mut request = first_search(JiraApi::Datacenter, "UTC", 2);
    assert_eq!(request.endpoint, endpoint::JIRA_SEARCH);
    assert!(
        request.url.starts_with("/rest/api/2/search?"),
        "{}",
        request.url
    );
    assert_eq!(query_param(&request.url, "startAt").as_deref(), Some("0"));
    assert_eq!(
        query_param(&request.url, "maxResults").as_deref(),
        Some("2")
    );

    let (mut seen, mut keys, mut expected_total, mut starts) = (0, Vec::new(), None, Vec::new());
    for _ in 0..10 {
        let start_at: usize = query_param(&request.url, "startAt")
            .unwrap()
            .parse()
            .unwrap();
        starts.push(start_at);
        let body = v2_page(&issues, start_at, 2, issues.len());
        let quality = validate_page(endpoint::JIRA_SEARCH, &body.to_string()).unwrap();
        assert!(quality.rejected.is_empty(), "{:?}", quality.rejected);
        let step = next_steps_watching(
            Source::Jira,
            &page(request.clone(), &body),
            &window(),
            2,
            &watch,
        )
        .unwrap();
        assert!(step.pagination_gap.is_none());
        seen += step.records;
        keys.extend(
            body["issues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["key"].as_str().unwrap().to_owned()),
        );
        assert!(step.newest_seen.is_some());
        expected_total = step.expected_total;
        let mut lists = step
            .follow_ups
            .into_iter()
            .filter(|r| r.endpoint == endpoint::JIRA_SEARCH);
        match lists.next() {
            Some(next) => {
                assert_eq!(next.page_no, request.page_no + 1);
                request = next;
            }
            None => break,
        }
    }
    assert_eq!(starts, [0, 2, 4]);
    assert_eq!(seen, 6);
    assert_eq!(keys, ["SP-1", "SP-2", "SP-5", "SP-7", "SP-8", "SP-11"]);
    assert_eq!(
        expected_total,
        Some(6),
        "the last page hands total to the sensor"
    );
}

#[test]
fn a_page_the_server_skips_leaves_the_crawl_short_of_total() {
    let issues = recorded_issues();
    let watch = watch(JiraApi::Datacenter);
    let first = first_search(JiraApi::Datacenter, "UTC", 2);
    let step = next_steps_watching(
        Source::Jira,
        &page(first, &v2_page(&issues, 0, 2, 6)),
        &window(),
        2,
        &watch,
    )
    .unwrap();
    let second = step.follow_ups[0].clone();
    // The server answers with the page after the one asked for.
    let step = next_steps_watching(
        Source::Jira,
        &page(second, &v2_page(&issues, 4, 2, 6)),
        &window(),
        2,
        &watch,
    )
    .unwrap();
    assert!(
        step.follow_ups
            .iter()
            .all(|r| r.endpoint != endpoint::JIRA_SEARCH)
    );
    assert_eq!(
        (step.expected_total, 2 + step.records),
        (Some(6), 4),
        "4 issues listed where total says 6: the extract stage holds the scope"
    );

    // An empty page before total is reached is a gap at once.
    let first = first_search(JiraApi::Datacenter, "UTC", 2);
    let empty = json!({"startAt": 0, "maxResults": 2, "total": 6, "issues": []});
    let step =
        next_steps_watching(Source::Jira, &page(first, &empty), &window(), 2, &watch).unwrap();
    assert!(step.follow_ups.is_empty());
    assert!(step.pagination_gap.unwrap().contains("total"));

    // A page without `total` is not a Data Center search page.
    let first = first_search(JiraApi::Datacenter, "UTC", 2);
    let no_total = json!({"startAt": 0, "maxResults": 2, "issues": []});
    assert!(
        next_steps_watching(Source::Jira, &page(first, &no_total), &window(), 2, &watch).is_err()
    );
}

#[test]
fn a_recorded_issue_with_its_changelog_reads_as_a_data_center_changelog_page() {
    let watch = watch(JiraApi::Datacenter);
    for issue in recorded_issues() {
        let key = issue["key"].as_str().unwrap();
        let histories = issue["changelog"]["histories"].as_array().unwrap().len() as u64;
        let request = dorafleet_sources::jira::issue_changelog_request(key);
        assert_eq!(
            request.url,
            format!("/rest/api/2/issue/{key}?fields=status&expand=changelog")
        );
        assert!(request.is_child());
        let quality = validate_page(endpoint::JIRA_ISSUE_CHANGELOG, &issue.to_string()).unwrap();
        assert!(quality.rejected.is_empty(), "{key}: {:?}", quality.rejected);
        let step = next_steps_watching(Source::Jira, &page(request, &issue), &window(), 2, &watch)
            .unwrap();
        assert_eq!(step.records, histories, "{key}");
        assert!(step.pagination_gap.is_none(), "{key}");
    }
}

#[test]
fn server_info_picks_the_dialect_and_myself_the_zone_of_the_bounds() {
    let watch = watch(JiraApi::Auto);
    let [info] = <[PageRequest; 1]>::try_from(start_requests_watching(
        Source::Jira,
        &scope(),
        &window(),
        50,
        &watch,
    ))
    .unwrap();
    assert_eq!(info.endpoint, endpoint::JIRA_SERVER_INFO);
    for (deployment, myself) in [
        (json!("Cloud"), "/rest/api/3/myself"),
        (json!("DataCenter"), "/rest/api/2/myself"),
        (json!("Server"), "/rest/api/2/myself"),
        (Value::Null, "/rest/api/2/myself"),
    ] {
        let step = next_steps_watching(
            Source::Jira,
            &page(info.clone(), &json!({"deploymentType": deployment})),
            &window(),
            50,
            &watch,
        )
        .unwrap();
        assert_eq!(step.follow_ups[0].url, myself, "{deployment}");
    }
    // Cloud's search after Cloud's /myself, its bounds in the user's zone.
    let cloud = next_steps_watching(
        Source::Jira,
        &page(info, &json!({"deploymentType": "Cloud"})),
        &window(),
        50,
        &watch,
    )
    .unwrap()
    .follow_ups
    .remove(0);
    let search = next_steps_watching(
        Source::Jira,
        &page(
            cloud,
            &json!({"accountId": "x", "timeZone": "America/New_York"}),
        ),
        &window(),
        50,
        &watch,
    )
    .unwrap()
    .follow_ups
    .remove(0);
    assert!(
        search.url.starts_with("/rest/api/3/search/jql?"),
        "{}",
        search.url
    );
    let ny = JqlZone::named(Some("America/New_York"));
    let jql = decode(&query_param(&search.url, "jql").unwrap());
    assert_eq!(jql, window_jql_in("SP", &window(), ny));
    // Midnight UTC of 2026-03-09 is 20:00 EDT the day before.
    assert!(jql.contains("updated < \"2026-03-08 20:00\""), "{jql}");
}

/// A query parameter's value, `+` and `%XX` decoded.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}
