//! The crawl logic on hand-made pages: where each list stops, which child
//! requests a page adds, and how bad payloads are classified.

use chrono::{DateTime, Utc};
use dorafleet_core::{ErrorClass, Scope, Source, Window};
use dorafleet_sources::{FetchedPage, PageRequest, endpoint, next_steps, start_requests};
use serde_json::json;
use std::time::Duration;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn window() -> Window {
    Window {
        from: utc("2024-03-01T00:00:00Z"),
        to: utc("2024-03-08T00:00:00Z"),
    }
}

fn scope(target: &str) -> Scope {
    Scope {
        team: "payments".into(),
        target: Some(target.into()),
    }
}

fn page(request: PageRequest, body: serde_json::Value, link_next: Option<&str>) -> FetchedPage {
    FetchedPage {
        request,
        status: 200,
        body: body.to_string(),
        fetched_at: Utc::now(),
        link_next: link_next.map(str::to_owned),
        etag: None,
        last_modified: None,
        rate_limit_wait: Duration::ZERO,
    }
}

fn query(url: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse("http://x").unwrap().join(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn pr(number: u64, updated: &str, merged: Option<&str>) -> serde_json::Value {
    json!({"number": number, "state": "closed", "created_at": "2024-02-01T00:00:00Z",
           "updated_at": updated, "merged_at": merged, "merge_commit_sha": "abc",
           "user": {"login": "dev", "type": "User"}, "unknown_field": [1, 2]})
}

#[test]
fn a_github_task_starts_with_closed_pulls_by_update_deployments_and_the_windows_history() {
    let requests = start_requests(Source::Github, &scope("acme/ledger"), &window(), 50);
    assert_eq!(
        requests,
        vec![
            PageRequest::new(
                endpoint::PULLS,
                "/repos/acme/ledger/pulls?state=closed&sort=updated&direction=desc&per_page=50",
                1
            ),
            PageRequest::new(
                endpoint::DEPLOYMENTS,
                "/repos/acme/ledger/deployments?per_page=50",
                1
            ),
            PageRequest::new(
                endpoint::REPO_COMMITS,
                "/repos/acme/ledger/commits?since=2024-03-01T00%3A00%3A00Z&until=2024-03-08T00%3A00%3A00Z&per_page=100",
                1
            ),
        ]
    );
}

#[test]
fn a_scope_without_a_target_starts_nothing() {
    let team_wide = Scope {
        team: "payments".into(),
        target: None,
    };
    assert!(start_requests(Source::Jira, &team_wide, &window(), 50).is_empty());
    assert!(start_requests(Source::Github, &scope("not-a-repo"), &window(), 50).is_empty());
}

#[test]
fn merged_pulls_inside_the_window_add_their_commits_and_the_next_page_is_followed() {
    let request = start_requests(Source::Github, &scope("acme/ledger"), &window(), 3).remove(0);
    let body = json!([
        pr(9, "2024-03-07T10:00:00Z", Some("2024-03-07T09:00:00Z")),
        pr(8, "2024-03-05T10:00:00Z", None),
        pr(7, "2024-03-02T10:00:00Z", Some("2024-02-27T09:00:00Z")),
    ]);
    let next = "http://127.0.0.1:1/github/repos/acme/ledger/pulls?page=2";
    let step = next_steps(
        Source::Github,
        &page(request, body, Some(next)),
        &window(),
        3,
    )
    .unwrap();
    assert_eq!(step.records, 3);
    assert_eq!(step.newest_seen, Some(utc("2024-03-07T10:00:00Z")));
    assert_eq!(
        step.follow_ups,
        vec![
            PageRequest::new(endpoint::PULLS, next, 2),
            PageRequest::new(
                endpoint::PULL_COMMITS,
                "/repos/acme/ledger/pulls/9/commits?per_page=100",
                1
            ),
        ]
    );
}

#[test]
fn the_pulls_walk_stops_at_the_first_page_reaching_before_the_window() {
    let request = PageRequest::new(
        endpoint::PULLS,
        "https://api.github.com/repositories/42/pulls?page=4",
        4,
    );
    let body = json!([
        pr(5, "2024-03-01T10:00:00Z", Some("2024-03-01T09:00:00Z")),
        pr(4, "2024-02-20T10:00:00Z", Some("2024-02-20T09:00:00Z")),
    ]);
    let step = next_steps(
        Source::Github,
        &page(
            request,
            body,
            Some("https://api.github.com/repositories/42/pulls?page=5"),
        ),
        &window(),
        2,
    )
    .unwrap();
    assert_eq!(
        step.follow_ups,
        vec![PageRequest::new(
            endpoint::PULL_COMMITS,
            "https://api.github.com/repositories/42/pulls/5/commits?per_page=100",
            1
        )]
    );
}

#[test]
fn deployments_inside_the_window_add_their_statuses() {
    let request = start_requests(Source::Github, &scope("acme/ledger"), &window(), 2).remove(1);
    let body = json!([
        {"id": 31, "sha": "s1", "environment": "production", "created_at": "2024-03-03T00:00:00Z"},
        {"id": 30, "sha": "s0", "environment": "production", "created_at": "2024-02-28T00:00:00Z"},
    ]);
    let step = next_steps(
        Source::Github,
        &page(request, body, Some("/x?page=2")),
        &window(),
        2,
    )
    .unwrap();
    assert_eq!(step.records, 2);
    assert_eq!(step.newest_seen, Some(utc("2024-03-03T00:00:00Z")));
    assert_eq!(
        step.follow_ups,
        vec![PageRequest::new(
            endpoint::DEPLOYMENT_STATUSES,
            "/repos/acme/ledger/deployments/31/statuses?per_page=100",
            1
        )],
        "the next page is not followed: the oldest deployment is before the window"
    );
}

#[test]
fn child_lists_are_walked_to_their_end_without_moving_the_watermark() {
    let request = PageRequest::new(
        endpoint::PULL_COMMITS,
        "/repos/acme/ledger/pulls/9/commits?per_page=100",
        1,
    );
    let body = json!([{"sha": "c1", "commit": {"author": {"name": "a", "email": "a@x", "date": "2020-01-01T00:00:00Z"}},
                       "author": null}]);
    let step = next_steps(
        Source::Github,
        &page(request, body, Some("/next")),
        &window(),
        100,
    )
    .unwrap();
    assert_eq!(step.records, 1);
    assert_eq!(step.newest_seen, None);
    assert_eq!(
        step.follow_ups,
        vec![PageRequest::new(endpoint::PULL_COMMITS, "/next", 2)]
    );
}

#[test]
fn an_undecodable_page_is_permanent_and_named() {
    let request = PageRequest::new(endpoint::PULLS, "/repos/acme/ledger/pulls?per_page=5", 3);
    let mut truncated = page(request.clone(), json!([]), None);
    truncated.body = "[{\"number\": 1, ".into();
    let err = next_steps(Source::Github, &truncated, &window(), 5).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.message().contains("github pulls page 3"), "{err}");

    let not_a_list = page(request, json!({"message": "Not Found"}), None);
    let err = next_steps(Source::Github, &not_a_list, &window(), 5).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(err.message().contains("JSON array"), "{err}");
}

#[test]
fn a_drifted_record_is_rejected_with_its_reason_and_the_valid_ones_drive_the_crawl() {
    let request = PageRequest::new(endpoint::PULLS, "/repos/acme/ledger/pulls?per_page=3", 1);
    // The drifted record is the page's oldest and lies before the window: it
    // must not stop the walk, nor add a follow-up.
    let drifted = json!({"number": 9, "created_at": "2024-01-01T00:00:00Z",
        "last_updated": "2024-01-01T00:00:00Z", "merged_at": "2024-03-05T00:00:00Z"});
    let body = json!([
        pr(12, "2024-03-06T00:00:00Z", Some("2024-03-05T00:00:00Z")),
        pr(11, "2024-03-04T00:00:00Z", None),
        drifted,
    ]);
    let step = next_steps(
        Source::Github,
        &page(request, body, Some("/next")),
        &window(),
        3,
    )
    .unwrap();
    assert_eq!(step.records, 3, "bronze keeps every record");
    assert_eq!(step.quality.records, 3);
    assert_eq!(step.quality.rejected.len(), 1);
    assert_eq!(
        step.quality.rejected[0].to_string(),
        "record 2 (9): missing `updated_at`"
    );
    assert_eq!(step.quality.unknown_fields["last_updated"], 1);
    assert_eq!(step.quality.unknown_fields["unknown_field"], 2);
    assert_eq!(step.newest_seen, Some(utc("2024-03-06T00:00:00Z")));
    let endpoints: Vec<&str> = step
        .follow_ups
        .iter()
        .map(|r| r.endpoint.as_str())
        .collect();
    assert_eq!(
        endpoints,
        [endpoint::PULLS, endpoint::PULL_COMMITS],
        "next page, then the commits of the valid merged PR only"
    );
    assert!(step.follow_ups[1].url.contains("/pulls/12/commits"));

    // A page whose every record is rejected does not end the list.
    let request = PageRequest::new(endpoint::PULLS, "/repos/acme/ledger/pulls?per_page=1", 2);
    let all_bad = json!([{"number": 3, "created_at": "2024-03-02T00:00:00Z"}]);
    let step = next_steps(
        Source::Github,
        &page(request, all_bad, Some("/next")),
        &window(),
        1,
    )
    .unwrap();
    assert_eq!(step.quality.rejected.len(), 1);
    assert_eq!(
        step.follow_ups,
        vec![PageRequest::new(endpoint::PULLS, "/next", 3)]
    );
}

#[test]
fn a_not_modified_page_adds_nothing() {
    let mut not_modified = page(
        PageRequest::new(endpoint::PULLS, "/p", 1),
        json!(null),
        Some("/next"),
    );
    not_modified.status = 304;
    not_modified.body.clear();
    let step = next_steps(Source::Github, &not_modified, &window(), 5).unwrap();
    assert_eq!((step.records, step.follow_ups.len()), (0, 0));
}

fn issue(key: &str, updated: &str) -> serde_json::Value {
    json!({"id": "1", "key": key, "fields": {
        "summary": "s", "issuetype": {"name": "Incident"}, "priority": {"name": "P1"},
        "status": {"name": "Done", "statusCategory": {"key": "done"}}, "project": {"key": "OPS"},
        "created": "2024-03-02T10:00:00.000+0000", "updated": updated,
        "resolutiondate": "2024-03-02T12:00:00.000+0000", "reporter": null, "assignee": null}})
}

#[test]
fn a_jira_task_searches_its_project_and_window_by_jql() {
    let request = start_requests(Source::Jira, &scope("OPS"), &window(), 50).remove(0);
    assert_eq!(request.endpoint, endpoint::JIRA_SEARCH);
    assert!(
        request.url.starts_with("/rest/api/3/search/jql?"),
        "{}",
        request.url
    );
    assert_eq!(
        query(&request.url, "jql").as_deref(),
        Some(
            "project = \"OPS\" AND updated >= \"2024-03-01 00:00\" AND updated < \"2024-03-08 00:00\" ORDER BY updated ASC"
        )
    );
    assert_eq!(query(&request.url, "maxResults").as_deref(), Some("50"));
    assert!(
        query(&request.url, "fields")
            .unwrap()
            .contains("resolutiondate")
    );
}

#[test]
fn jira_pages_follow_the_next_page_token_until_the_last() {
    let first = start_requests(Source::Jira, &scope("OPS"), &window(), 2).remove(0);
    let body = json!({"issues": [issue("OPS-1", "2024-03-02T10:00:00.000+0000"),
                                 issue("OPS-2", "2024-03-03T05:00:00.000-0500")],
                      "nextPageToken": "tok/+=1", "isLast": false});
    let step = next_steps(Source::Jira, &page(first.clone(), body, None), &window(), 2).unwrap();
    assert_eq!(step.records, 2);
    assert_eq!(step.newest_seen, Some(utc("2024-03-03T10:00:00Z")));
    let [next] = step.follow_ups.as_slice() else {
        panic!("{:?}", step.follow_ups)
    };
    assert_eq!(next.page_no, 2);
    assert_eq!(
        query(&next.url, "nextPageToken").as_deref(),
        Some("tok/+=1")
    );
    assert_eq!(query(&next.url, "jql"), query(&first.url, "jql"));
    assert_eq!(query(&next.url, "fields"), query(&first.url, "fields"));

    // After the last page: Jira's count of the same restriction, no order.
    let last = json!({"issues": [issue("OPS-3", "2024-03-04T00:00:00.000+0000")], "isLast": true});
    let step = next_steps(Source::Jira, &page(next.clone(), last, None), &window(), 2).unwrap();
    let [count] = step.follow_ups.as_slice() else {
        panic!("{:?}", step.follow_ups)
    };
    assert_eq!(count.endpoint, "jira_count");
    assert_eq!(count.method(), "POST");
    assert!(count.is_check());
    assert_eq!(count.url, "/rest/api/3/search/approximate-count");
    let body: serde_json::Value =
        serde_json::from_str(count.json_body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"jql": "project = \"OPS\" AND updated >= \"2024-03-01 00:00\" AND updated < \"2024-03-08 00:00\""})
    );
    let counted = next_steps(
        Source::Jira,
        &page(count.clone(), json!({"count": 3}), None),
        &window(),
        2,
    )
    .unwrap();
    assert_eq!(counted.expected_total, Some(3));
    assert_eq!((counted.records, counted.follow_ups.len()), (0, 0));
    let not_a_count = next_steps(
        Source::Jira,
        &page(count.clone(), json!({"total": 3}), None),
        &window(),
        2,
    );
    assert!(
        not_a_count
            .unwrap_err()
            .to_string()
            .contains("not an approximate count")
    );

    let broken = json!({"issues": [], "isLast": false});
    let err = next_steps(
        Source::Jira,
        &page(next.clone(), broken, None),
        &window(),
        2,
    )
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
}

fn build(number: u64, timestamp: i64) -> serde_json::Value {
    json!({"_class": "hudson.model.FreeStyleBuild", "number": number, "result": "SUCCESS",
           "timestamp": timestamp, "duration": 1000, "building": false, "actions": [{}, {"causes": []}]})
}

#[test]
fn jenkins_builds_are_walked_in_ranges_until_a_short_or_old_page() {
    let first = start_requests(Source::Jenkins, &scope("deploy-ledger"), &window(), 2).remove(0);
    assert!(
        first.url.starts_with("/job/deploy-ledger/api/json?tree="),
        "{}",
        first.url
    );
    assert!(query(&first.url, "tree").unwrap().ends_with("]{0,2}"));

    let in_window = utc("2024-03-05T00:00:00Z").timestamp_millis();
    let body =
        json!({"_class": "x", "allBuilds": [build(12, in_window + 1), build(11, in_window)]});
    let step = next_steps(Source::Jenkins, &page(first, body, None), &window(), 2).unwrap();
    assert_eq!(step.records, 2);
    assert_eq!(step.newest_seen, Some(utc("2024-03-05T00:00:00.001Z")));
    let [second] = step.follow_ups.as_slice() else {
        panic!("{:?}", step.follow_ups)
    };
    assert!(
        query(&second.url, "tree").unwrap().ends_with("]{2,4}"),
        "{}",
        second.url
    );

    let short = json!({"allBuilds": [build(10, in_window)]});
    let step = next_steps(
        Source::Jenkins,
        &page(second.clone(), short, None),
        &window(),
        2,
    )
    .unwrap();
    let [probe] = step.follow_ups.as_slice() else {
        panic!(
            "a short page inside the window is probed once: {:?}",
            step.follow_ups
        )
    };
    assert!(
        query(&probe.url, "tree").unwrap().ends_with("]{3,5}"),
        "{}",
        probe.url
    );
    assert_eq!(step.pagination_gap, None);
    let confirmed = next_steps(
        Source::Jenkins,
        &page(probe.clone(), json!({"allBuilds": []}), None),
        &window(),
        2,
    )
    .unwrap();
    assert!(
        confirmed.follow_ups.is_empty(),
        "an empty probe ends the list"
    );
    assert_eq!(confirmed.pagination_gap, None);

    let before = utc("2024-02-01T00:00:00Z").timestamp_millis();
    let old = json!({"allBuilds": [build(10, in_window), build(9, before)]});
    assert!(
        next_steps(
            Source::Jenkins,
            &page(second.clone(), old, None),
            &window(),
            2
        )
        .unwrap()
        .follow_ups
        .is_empty()
    );

    let running = json!({"allBuilds": [{"number": 13, "result": null, "timestamp": in_window, "duration": 0, "building": true}]});
    assert_eq!(
        next_steps(
            Source::Jenkins,
            &page(second.clone(), running, None),
            &window(),
            2
        )
        .unwrap()
        .records,
        1
    );
}

#[test]
fn a_page_request_survives_a_checkpoint_round_trip() {
    let request = start_requests(Source::Jenkins, &scope("deploy"), &window(), 10).remove(0);
    let stored = serde_json::to_string(&request).unwrap();
    assert_eq!(
        serde_json::from_str::<PageRequest>(&stored).unwrap(),
        request
    );
}

#[test]
fn a_jenkins_page_full_of_records_goes_on_even_when_some_are_rejected() {
    let first = start_requests(Source::Jenkins, &scope("deploy-ledger"), &window(), 2).remove(0);
    let in_window = utc("2024-03-05T00:00:00Z").timestamp_millis();
    let mut drifted = build(11, in_window);
    let ts = drifted
        .as_object_mut()
        .unwrap()
        .remove("timestamp")
        .unwrap();
    drifted["startedAt"] = ts;
    let body = json!({"allBuilds": [build(12, in_window + 1), drifted]});
    let step = next_steps(Source::Jenkins, &page(first, body, None), &window(), 2).unwrap();
    assert_eq!(step.records, 2);
    assert_eq!(
        step.quality.rejected[0].to_string(),
        "record 1 (11): missing `timestamp`"
    );
    assert_eq!(step.quality.unknown_fields["startedAt"], 1);
    assert_eq!(
        step.follow_ups.len(),
        1,
        "two records on a page of two: full"
    );
}

#[test]
fn a_jira_page_with_a_renamed_field_keeps_its_cursor_and_rejects_the_issue() {
    let request = start_requests(Source::Jira, &scope("OPS"), &window(), 2).remove(0);
    let mut drifted = issue("OPS-2", "2024-03-04T10:00:00.000+0000");
    let fields = drifted["fields"].as_object_mut().unwrap();
    let created = fields.remove("created").unwrap();
    fields.insert("createdDate".into(), created);
    let body = json!({"issues": [issue("OPS-1", "2024-03-03T10:00:00.000+0000"), drifted],
        "nextPageToken": "tok", "isLast": false});
    let step = next_steps(Source::Jira, &page(request, body, None), &window(), 2).unwrap();
    assert_eq!(step.records, 2);
    assert_eq!(
        step.quality.rejected[0].to_string(),
        "record 1 (OPS-2): missing `fields.created`"
    );
    assert_eq!(
        step.quality.unknown_fields,
        [("createdDate".to_owned(), 1)].into()
    );
    assert_eq!(step.newest_seen, Some(utc("2024-03-03T10:00:00Z")));
    assert_eq!(step.follow_ups.len(), 1);
    assert_eq!(
        query(&step.follow_ups[0].url, "nextPageToken").as_deref(),
        Some("tok")
    );
}

#[test]
fn a_jenkins_probe_that_finds_builds_after_a_short_page_reports_the_gap_and_goes_on() {
    let in_window = utc("2024-03-05T00:00:00Z").timestamp_millis();
    let first = start_requests(Source::Jenkins, &scope("deploy-ledger"), &window(), 4).remove(0);
    let cut = json!({"allBuilds": [build(40, in_window + 2), build(39, in_window + 1)]});
    let step = next_steps(Source::Jenkins, &page(first, cut, None), &window(), 4).unwrap();
    let [probe] = step.follow_ups.as_slice() else {
        panic!("{:?}", step.follow_ups)
    };
    let hidden = json!({"allBuilds": [build(38, in_window), build(37, in_window), build(36, in_window), build(35, in_window)]});
    let step = next_steps(
        Source::Jenkins,
        &page(probe.clone(), hidden, None),
        &window(),
        4,
    )
    .unwrap();
    let gap = step.pagination_gap.expect("the hidden builds are a gap");
    assert!(gap.contains("builds 2..6"), "{gap}");
    assert_eq!(step.follow_ups.len(), 1, "the crawl goes on after the gap");
}

#[test]
fn a_github_next_link_that_skips_a_page_is_reported_as_a_gap() {
    let first = start_requests(Source::Github, &scope("acme/ledger"), &window(), 2).remove(0);
    let body = json!([
        pr(2, "2024-03-06T00:00:00Z", None),
        pr(1, "2024-03-05T00:00:00Z", None)
    ]);
    let skipping = "/repos/acme/ledger/pulls?state=closed&per_page=2&page=3";
    let step = next_steps(
        Source::Github,
        &page(first.clone(), body.clone(), Some(skipping)),
        &window(),
        2,
    )
    .unwrap();
    let gap = step.pagination_gap.expect("page 1 → page 3 skips page 2");
    assert!(gap.contains("from page 1 to page 3"), "{gap}");
    let next = "/repos/acme/ledger/pulls?state=closed&per_page=2&page=2";
    let step = next_steps(
        Source::Github,
        &page(first.clone(), body.clone(), Some(next)),
        &window(),
        2,
    )
    .unwrap();
    assert_eq!(step.pagination_gap, None);
    let cursor = "/repos/acme/ledger/pulls?state=closed&per_page=2&after=Y3Vyc29y";
    let step = next_steps(
        Source::Github,
        &page(first, body, Some(cursor)),
        &window(),
        2,
    )
    .unwrap();
    assert_eq!(step.pagination_gap, None, "opaque cursors tell nothing");
}
