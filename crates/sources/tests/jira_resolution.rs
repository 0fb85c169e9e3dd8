//! When a Jira issue was resolved (docs/metrics.md, "Incident resolution"):
//! which changelogs the crawl asks for, how they are paged, how normalize
//! reads them from bronze, the rule against the issues recorded from the
//! real Jira, and a whole crawl of the simulator.

use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use dorafleet_core::config::Definitions;
use dorafleet_core::{Config, Scope, Secret, Source, SourceConfig, Window};
use dorafleet_sim::{RunningSim, SimOptions};
use dorafleet_sources::jira::resolution::{last_done_entry, resolved_at};
use dorafleet_sources::jira::{History, Issue, changelog_request};
use dorafleet_sources::{
    FetchedPage, PageRequest, SourceClient, Watch, endpoint, next_steps, next_steps_watching,
    start_requests, validate_page,
};
use dorafleet_warehouse::BronzePage;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use uuid::Uuid;

mod recorded;
use recorded::{files, read};

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn window() -> Window {
    Window {
        from: utc("2024-03-01T00:00:00Z"),
        to: utc("2024-03-08T00:00:00Z"),
    }
}

fn scope() -> Scope {
    Scope {
        team: "payments".into(),
        target: Some("OPS".into()),
    }
}

fn page(request: PageRequest, status: u16, body: &Value) -> FetchedPage {
    FetchedPage {
        request,
        status,
        body: body.to_string(),
        fetched_at: Utc::now(),
        link_next: None,
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

/// An issue of a search page in `status` (of `category`), resolved at
/// `resolved` if given.
fn issue(key: &str, status: &str, category: &str, resolved: Option<&str>) -> Value {
    json!({"id": "1", "key": key, "fields": {
        "summary": "s", "issuetype": {"name": "Incident"}, "priority": {"name": "P1"},
        "status": {"id": "10001", "name": status, "statusCategory": {"id": 3, "key": category, "name": "x"}},
        "project": {"key": "OPS"},
        "created": "2024-03-02T10:00:00.000+0000", "updated": "2024-03-03T10:00:00.000+0000",
        "resolutiondate": resolved, "reporter": null, "assignee": null}})
}

/// A change group moving the status `from` → `to`.
fn moved(id: u64, at: &str, from: &str, to: &str) -> Value {
    json!({"id": id.to_string(), "created": at, "author": {"accountId": "a"},
           "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status",
                      "from": "1", "fromString": from, "to": "2", "toString": to}]})
}

fn changelog_page(start_at: u64, total: u64, is_last: bool, values: &[Value]) -> Value {
    json!({"self": "x", "startAt": start_at, "maxResults": 100, "total": total,
           "isLast": is_last, "values": values})
}

fn changelog_keys(step: &dorafleet_sources::CrawlStep) -> Vec<String> {
    step.follow_ups
        .iter()
        .filter(|r| r.endpoint == endpoint::JIRA_CHANGELOG)
        .map(|r| r.url.clone())
        .collect()
}

// ---------------------------------------------------------------- crawl

#[test]
fn only_issues_done_without_a_resolution_date_have_their_changelog_asked_for() {
    let search = start_requests(Source::Jira, &scope(), &window(), 50).remove(0);
    let body = json!({"isLast": true, "issues": [
        issue("OPS-1", "Done", "done", None),
        issue("OPS-2", "Done", "done", Some("2024-03-02T12:00:00.000+0000")),
        issue("OPS-3", "In Progress", "indeterminate", None),
        issue("OPS-4", "Closed", "indeterminate", None),
        issue("OPS-5", "Shipped", "indeterminate", None),
    ]});
    let step = next_steps(
        Source::Jira,
        &page(search.clone(), 200, &body),
        &window(),
        50,
    )
    .unwrap();
    assert_eq!(step.records, 5);
    assert_eq!(step.follow_ups[0].endpoint, endpoint::JIRA_COUNT);
    assert_eq!(
        changelog_keys(&step),
        [
            "/rest/api/3/issue/OPS-1/changelog?startAt=0&maxResults=100",
            "/rest/api/3/issue/OPS-4/changelog?startAt=0&maxResults=100",
        ],
        "Done by Jira's category, and Closed by the default done statuses"
    );
    let changelog = &step.follow_ups[1];
    assert!(changelog.is_child() && !changelog.is_check());
    assert_eq!((changelog.method(), changelog.page_no), ("GET", 1));

    let configured = Watch {
        done_statuses: Some(vec!["shipped".into()]),
        ..Watch::default()
    };
    let step = next_steps_watching(
        Source::Jira,
        &page(search, 200, &body),
        &window(),
        50,
        &configured,
    )
    .unwrap();
    assert_eq!(
        changelog_keys(&step),
        [
            "/rest/api/3/issue/OPS-1/changelog?startAt=0&maxResults=100",
            "/rest/api/3/issue/OPS-5/changelog?startAt=0&maxResults=100",
        ],
        "the configured done statuses replace the default ones"
    );
}

#[test]
fn a_changelog_is_paged_by_start_at_until_its_last_page() {
    let first = changelog_request("OPS-1", 0, 1);
    let body = changelog_page(
        0,
        3,
        false,
        &[
            moved(1, "2024-03-02T10:00:00.000+0000", "To Do", "In Progress"),
            moved(2, "2024-03-02T11:00:00.000+0000", "In Progress", "Done"),
        ],
    );
    let step = next_steps(Source::Jira, &page(first, 200, &body), &window(), 50).unwrap();
    assert_eq!((step.records, step.newest_seen), (2, None));
    let [next] = step.follow_ups.as_slice() else {
        panic!("{:?}", step.follow_ups)
    };
    assert_eq!(next.endpoint, endpoint::JIRA_CHANGELOG);
    assert_eq!(next.page_no, 2);
    assert_eq!(query(&next.url, "startAt").as_deref(), Some("2"));
    assert_eq!(query(&next.url, "maxResults").as_deref(), Some("100"));

    let last = changelog_page(
        2,
        3,
        true,
        &[moved(3, "2024-03-03T10:00:00.000+0000", "Done", "Closed")],
    );
    let step = next_steps(Source::Jira, &page(next.clone(), 200, &last), &window(), 50).unwrap();
    assert_eq!((step.records, step.follow_ups.len()), (1, 0));

    // Without `isLast`, the total says whether more follow.
    let mut untold = changelog_page(
        0,
        3,
        false,
        &[moved(1, "2024-03-02T10:00:00.000+0000", "A", "B")],
    );
    untold.as_object_mut().unwrap().remove("isLast");
    let step = next_steps(
        Source::Jira,
        &page(changelog_request("OPS-1", 0, 1), 200, &untold),
        &window(),
        50,
    )
    .unwrap();
    assert_eq!(
        query(&step.follow_ups[0].url, "startAt").as_deref(),
        Some("1")
    );
}

#[test]
fn an_empty_changelog_page_that_is_not_the_last_is_a_gap_not_a_loop() {
    let body = changelog_page(100, 150, false, &[]);
    let step = next_steps(
        Source::Jira,
        &page(changelog_request("OPS-1", 100, 2), 200, &body),
        &window(),
        50,
    )
    .unwrap();
    assert!(step.follow_ups.is_empty());
    let gap = step.pagination_gap.expect("a gap");
    assert!(
        gap.contains("startAt 100") && gap.contains("total 150"),
        "{gap}"
    );
}

#[test]
fn the_changelog_of_an_issue_deleted_after_the_search_is_gone_not_a_failure() {
    let step = next_steps(
        Source::Jira,
        &page(
            changelog_request("OPS-1", 0, 1),
            404,
            &json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}),
        ),
        &window(),
        50,
    )
    .unwrap();
    assert!(step.gone);
    assert!(step.follow_ups.is_empty());
}

#[test]
fn a_changelog_page_that_is_not_a_changelog_fails_the_crawl() {
    let err = next_steps(
        Source::Jira,
        &page(
            changelog_request("OPS-1", 0, 1),
            200,
            &json!({"histories": []}),
        ),
        &window(),
        50,
    )
    .unwrap_err();
    assert!(err.to_string().contains("`values`"), "{err}");
}

// ---------------------------------------------------------------- normalize

fn bronze(seq: u32, request: &PageRequest, body: &Value) -> BronzePage {
    BronzePage {
        task_id: Uuid::nil(),
        seq,
        execution_id: Uuid::nil(),
        source_system: Source::Jira,
        scope: scope(),
        endpoint: request.endpoint.clone(),
        request: request.url.clone(),
        cursor: request.page_no.to_string(),
        status: 200,
        fetched_at: utc("2024-03-08T00:00:00Z"),
        record_count: 0,
        body: body.to_string(),
        etag: None,
        last_modified: None,
        link_next: None,
        reuses: None,
    }
}

#[test]
fn normalize_resolves_issues_done_without_a_resolution_date_from_their_changelog_pages() {
    let search = start_requests(Source::Jira, &scope(), &window(), 50).remove(0);
    let body = json!({"isLast": true, "issues": [
        issue("OPS-1", "Done", "done", None),
        issue("OPS-2", "Done", "done", Some("2024-03-02T12:00:00.000+0000")),
        issue("OPS-3", "Reopened", "indeterminate", None),
        issue("OPS-4", "Done", "done", None),
    ]});
    let ops1_first = changelog_request("OPS-1", 0, 1);
    let ops1_second = changelog_request("OPS-1", 2, 2);
    let pages = [
        bronze(0, &search, &body),
        bronze(
            1,
            &ops1_first,
            &changelog_page(
                0,
                4,
                false,
                &[
                    moved(1, "2024-03-02T10:00:00.000+0000", "To Do", "Done"),
                    moved(2, "2024-03-02T11:00:00.000+0000", "Done", "Reopened"),
                ],
            ),
        ),
        bronze(
            2,
            &ops1_second,
            &changelog_page(
                2,
                4,
                true,
                &[
                    moved(3, "2024-03-03T09:30:00.000+0000", "Reopened", "Done"),
                    moved(4, "2024-03-03T09:45:00.000+0000", "Done", "Closed"),
                ],
            ),
        ),
        // The same first page fetched again by another task: counted once.
        bronze(
            3,
            &ops1_first,
            &changelog_page(
                0,
                4,
                false,
                &[
                    moved(1, "2024-03-02T10:00:00.000+0000", "To Do", "Done"),
                    moved(2, "2024-03-02T11:00:00.000+0000", "Done", "Reopened"),
                ],
            ),
        ),
    ];
    let batch =
        dorafleet_sources::jira::normalize(&Config::default(), &scope(), Uuid::nil(), &pages)
            .unwrap();
    let resolved: BTreeMap<&str, Option<DateTime<Utc>>> = batch
        .incidents
        .iter()
        .map(|i| (i.key.as_str(), i.resolved_at))
        .collect();
    assert_eq!(
        resolved,
        BTreeMap::from([
            ("OPS-1", Some(utc("2024-03-03T09:30:00Z"))),
            ("OPS-2", Some(utc("2024-03-02T12:00:00Z"))),
            ("OPS-3", None),
            ("OPS-4", None),
        ]),
        "OPS-4 is Done but its changelog is not in bronze: unresolved"
    );
    assert_eq!(batch.counts.rejected_records, 0);
}

// ---------------------------------------------------------------- real Jira

/// A recorded issue and its embedded changelog (newest first).
fn recorded_issue(name: &str) -> (Issue, Vec<History>, Value) {
    let text = read("jira", name);
    let issue: Issue = serde_json::from_str(&text).unwrap();
    let raw: Value = serde_json::from_str(&text).unwrap();
    let histories: Vec<History> =
        serde_json::from_value(raw["changelog"]["histories"].clone()).unwrap();
    (issue, histories, raw)
}

#[test]
fn the_recorded_real_changelogs_pass_the_changelog_schema_without_drift() {
    for name in files("jira") {
        let (_, histories, raw) = recorded_issue(&name);
        let total = histories.len() as u64;
        let page = changelog_page(
            0,
            total,
            true,
            raw["changelog"]["histories"].as_array().unwrap(),
        );
        let quality = validate_page(endpoint::JIRA_CHANGELOG, &page.to_string()).unwrap();
        assert_eq!(quality.records, total, "{name}");
        assert!(
            quality.rejected.is_empty(),
            "{name}: {:?}",
            quality.rejected
        );
        assert!(
            quality.unknown_fields.is_empty(),
            "{name}: {:?}",
            quality.unknown_fields
        );
    }
}

#[test]
fn the_recorded_real_issues_resolve_as_the_rule_says() {
    let defaults = Definitions::default();
    for name in files("jira") {
        let (issue, histories, _) = recorded_issue(&name);
        let expected = match issue.key.as_str() {
            "SP-5" => Some(utc("2021-10-11T12:49:07.227Z")),
            "SP-1" | "SP-2" | "SP-7" | "SP-8" | "SP-11" => None,
            other => panic!("new Jira fixture {other}: add its expected resolution here"),
        };
        assert_eq!(
            resolved_at(&issue, &histories, &defaults),
            expected,
            "{name}"
        );
    }
}

#[test]
fn a_real_reopened_issue_is_resolved_at_its_last_entry_into_done_close_to_its_resolution_date() {
    let defaults = Definitions::default();
    let (issue, histories, _) = recorded_issue("SP-5.json");
    let status = issue.fields.status.clone().unwrap();
    // Done (09-06), reopened to Selected for Development (10-11 12:48:42),
    // In Progress, Done again at 12:49:07.261: Jira stamped the resolution
    // 34 ms before the change group.
    let entry = last_done_entry(&status, &histories, &defaults);
    assert_eq!(entry, Some(utc("2021-10-11T12:49:07.261Z")));
    let resolutiondate = issue.fields.resolutiondate.unwrap();
    assert_eq!(entry.unwrap() - resolutiondate, Days::milliseconds(34));

    let mut unset = issue.clone();
    unset.fields.resolutiondate = None;
    assert_eq!(
        resolved_at(&unset, &histories, &defaults),
        Some(utc("2021-10-11T12:49:07.261Z"))
    );

    // As of the first Done, before the reopening.
    let first_done = utc("2021-09-06T04:34:14.358Z");
    let then: Vec<History> = histories
        .iter()
        .filter(|h| h.created <= first_done)
        .cloned()
        .collect();
    assert_eq!(
        resolved_at(&unset, &then, &defaults),
        Some(first_done),
        "the first Done entry, with the id the issue's Done status has now"
    );

    // As of just after the reopening: In Progress, unresolved.
    let reopened: Vec<History> = histories
        .iter()
        .filter(|h| h.created <= utc("2021-10-11T12:49:04.096Z"))
        .cloned()
        .collect();
    let mut in_progress = unset.clone();
    in_progress.fields.status = Some(dorafleet_sources::jira::Status {
        id: Some("3".into()),
        name: "In Progress".into(),
        status_category: Some(dorafleet_sources::jira::StatusCategory {
            key: "indeterminate".into(),
            name: Some("In Progress".into()),
        }),
    });
    assert_eq!(resolved_at(&in_progress, &reopened, &defaults), None);
}

// ---------------------------------------------------------------- simulator

fn sim_options() -> SimOptions {
    SimOptions {
        seed: 11,
        days: 60,
        teams: 2,
        end_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        ..SimOptions::default()
    }
}

#[tokio::test]
async fn a_crawl_of_the_simulator_resolves_incidents_done_without_a_resolution_date() {
    let sim = RunningSim::start(sim_options(), "127.0.0.1:0")
        .await
        .expect("simulator starts");
    let mut config = SourceConfig::with_base_url(&sim.base_url(Source::Jira), 1000);
    config.token = Some(Secret::new("sim-token"));
    let client = SourceClient::new(Source::Jira, &config).unwrap();
    let org = sim.state().organisation();
    let window = Window {
        from: org.start - Days::days(1),
        to: org.end + Days::days(1),
    };
    let mut unset_seen = 0;
    for project in &org.jira_projects {
        let scope = Scope {
            team: project.team.clone(),
            target: Some(project.key.clone()),
        };
        let mut queue: VecDeque<PageRequest> =
            start_requests(Source::Jira, &scope, &window, 50).into();
        let mut pages = Vec::new();
        while let Some(request) = queue.pop_front() {
            let fetched = client.get(&request).await.unwrap();
            let step = next_steps(Source::Jira, &fetched, &window, 50).unwrap();
            queue.extend(step.follow_ups);
            pages.push(BronzePage {
                status: fetched.status,
                ..bronze(pages.len() as u32, &request, &Value::Null)
            });
            pages.last_mut().unwrap().body = fetched.body;
        }
        let unset: Vec<_> = project
            .issues
            .iter()
            .filter(|i| i.resolution_unset && i.status() == "Done")
            .collect();
        let changelogs: Vec<&str> = pages
            .iter()
            .filter(|p| p.endpoint == endpoint::JIRA_CHANGELOG)
            .map(|p| p.request.as_str())
            .collect();
        assert_eq!(
            changelogs.len(),
            unset.len(),
            "{}: one changelog page per issue done without a resolution date, no other",
            project.key
        );
        let batch =
            dorafleet_sources::jira::normalize(&Config::default(), &scope, Uuid::nil(), &pages)
                .unwrap();
        let resolved: BTreeMap<&str, Option<DateTime<Utc>>> = batch
            .incidents
            .iter()
            .map(|i| (i.key.as_str(), i.resolved_at))
            .collect();
        assert_eq!(resolved.len(), project.issues.len());
        for issue in &project.issues {
            let expected = if issue.resolution_unset && issue.status() == "Done" {
                issue.transitions.last().map(|t| t.at)
            } else {
                issue.resolved
            };
            assert_eq!(resolved[issue.key.as_str()], expected, "{}", issue.key);
        }
        unset_seen += unset.len();
    }
    assert!(
        unset_seen > 0,
        "the simulation has incidents done without a resolution date"
    );
    sim.shutdown().await;
}
