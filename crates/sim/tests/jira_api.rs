//! The Jira-Cloud-compatible endpoints against a running simulator.

mod common;

use chrono::{DateTime, Utc};
use common::{client, get, jira_all, send, small_options, start};
use dorafleet_core::Source;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn keys(issues: &[Value]) -> BTreeSet<String> {
    issues
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn paging_through_a_project_yields_every_issue_once_and_matches_served_records() {
    let sim = start(small_options(31)).await;
    let org = sim.state().organisation().clone();
    let mut total = 0;
    for project in &org.jira_projects {
        let issues = jira_all(&sim, &format!("project = {}", project.key), 7).await;
        assert_eq!(
            issues.len(),
            project.issues.len(),
            "an issue was served twice or missed"
        );
        assert_eq!(
            keys(&issues),
            project.issues.iter().map(|i| i.key.clone()).collect()
        );
        let created: Vec<&str> = issues
            .iter()
            .map(|i| i["fields"]["created"].as_str().unwrap())
            .collect();
        assert!(
            created.windows(2).all(|w| w[0] <= w[1]),
            "default order is created ASC"
        );
        total += issues.len() as u64;
    }
    assert_eq!(
        sim.state().served_records().get(&Source::Jira),
        Some(&total)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_get_form_of_search_pages_with_next_page_token_and_no_total() {
    let sim = start(small_options(32)).await;
    let project = &sim.state().organisation().jira_projects[0];
    let base = format!("{}/rest/api/3/search/jql", sim.base_url(Source::Jira));
    let url = format!(
        "{base}?jql=project%20%3D%20{}&maxResults=10&fields=summary,created",
        project.key
    );
    let first = get(&url).await;
    assert_eq!(first.status, 200);
    assert!(first.body.get("total").is_none());
    assert_eq!(first.body["isLast"], false);
    let issue = &first.body["issues"][0];
    let fields: BTreeSet<&str> = issue["fields"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, BTreeSet::from(["created", "summary"]));
    assert!(
        issue["self"]
            .as_str()
            .unwrap()
            .starts_with(&sim.base_url(Source::Jira))
    );
    let token = first.body["nextPageToken"].as_str().unwrap();
    let second = get(&format!("{url}&nextPageToken={token}")).await;
    assert_eq!(
        second.body["issues"][0]["key"],
        project.issues[10].key.as_str()
    );

    let garbage = get(&format!("{url}&nextPageToken=nonsense")).await;
    assert_eq!(garbage.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn issues_carry_jira_shaped_fields_and_timestamps() {
    let sim = start(small_options(33)).await;
    let org = sim.state().organisation();
    let project = &org.jira_projects[0];
    let issues = jira_all(
        &sim,
        &format!("project = {} AND issuetype = Incident", project.key),
        100,
    )
    .await;
    assert!(!issues.is_empty());
    assert!(
        issues
            .iter()
            .all(|i| i["fields"]["issuetype"]["name"] == "Incident")
    );
    let resolved = issues
        .iter()
        .find(|i| !i["fields"]["resolutiondate"].is_null())
        .unwrap();
    let stamp = resolved["fields"]["resolutiondate"].as_str().unwrap();
    assert!(
        DateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.3f%z").is_ok(),
        "{stamp}"
    );
    assert!(stamp.ends_with("+0000"), "{stamp}");
    assert_eq!(
        resolved["fields"]["status"]["statusCategory"]["key"],
        "done"
    );
    let priority = resolved["fields"]["priority"]["name"].as_str().unwrap();
    assert!(["P1", "P2", "P3", "P4"].contains(&priority));
    let email = resolved["fields"]["reporter"]["emailAddress"]
        .as_str()
        .unwrap();
    assert!(org.people.iter().any(|p| p.jira_email == email));
    sim.shutdown().await;
}

#[tokio::test]
async fn date_bounds_on_updated_and_created_select_exactly_the_issues_inside_them() {
    let sim = start(small_options(34)).await;
    let org = sim.state().organisation().clone();
    let project = &org.jira_projects[1];
    let from: DateTime<Utc> = "2026-02-10T06:30:00Z".parse().unwrap();
    let to: DateTime<Utc> = "2026-02-17T00:00:00Z".parse().unwrap();
    let jql = format!(
        r#"project = {} AND updated >= "2026-02-10 06:30" AND updated < "2026/02/17 00:00" ORDER BY updated DESC"#,
        project.key
    );
    let issues = jira_all(&sim, &jql, 50).await;
    let expected: BTreeSet<String> = project
        .issues
        .iter()
        .filter(|i| i.updated() >= from && i.updated() < to)
        .map(|i| i.key.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(keys(&issues), expected);
    let updated: Vec<&str> = issues
        .iter()
        .map(|i| i["fields"]["updated"].as_str().unwrap())
        .collect();
    assert!(
        updated.windows(2).all(|w| w[0] >= w[1]),
        "ORDER BY updated DESC"
    );

    let created = jira_all(
        &sim,
        &format!("project in ({}) AND created > 2026-02-20", project.key),
        50,
    )
    .await;
    let expected_created = project
        .issues
        .iter()
        .filter(|i| i.created > "2026-02-20T00:00:00Z".parse::<DateTime<Utc>>().unwrap())
        .count();
    assert_eq!(created.len(), expected_created);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unbounded_query_and_a_malformed_one_answer_400_with_jiras_messages() {
    let sim = start(small_options(35)).await;
    let url = format!("{}/rest/api/3/search/jql", sim.base_url(Source::Jira));
    let post = |jql: &str| send(client().post(&url).json(&json!({"jql": jql})));
    let unbounded = post("issuetype = Incident ORDER BY created").await;
    assert_eq!(unbounded.status, 400);
    assert_eq!(
        unbounded.body["errorMessages"][0],
        "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
    );
    let malformed = post("project = PAY AND updated >> 2026-01-01").await;
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.body["errorMessages"][0]
            .as_str()
            .unwrap()
            .contains("Error in the JQL Query")
    );
    let unknown = post("project = NOPE").await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.body["errorMessages"][0]
            .as_str()
            .unwrap()
            .contains("'NOPE'")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_approximate_count_is_the_number_of_issues_the_search_pages_through() {
    let sim = start(small_options(36)).await;
    let project = sim.state().organisation().jira_projects[0].key.clone();
    let url = format!(
        "{}/rest/api/3/search/approximate-count",
        sim.base_url(Source::Jira)
    );
    let count = |jql: String| send(client().post(&url).json(&json!({ "jql": jql })));
    let jql = format!(r#"project = {project} AND updated >= "2026-02-10 00:00""#);
    let listed = jira_all(&sim, &jql, 7).await;
    assert!(!listed.is_empty());
    let counted = count(jql).await;
    assert_eq!(counted.status, 200, "{:?}", counted.body);
    assert_eq!(counted.body, json!({ "count": listed.len() }));

    let unbounded = count("issuetype = Incident".into()).await;
    assert_eq!(unbounded.status, 400);
    assert!(
        unbounded.body["errorMessages"][0]
            .as_str()
            .unwrap()
            .starts_with("Unbounded JQL")
    );
    let not_json = send(client().post(&url).body("jql=project")).await;
    assert_eq!(not_json.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_removed_search_endpoint_answers_410_gone() {
    let sim = start(small_options(36)).await;
    let url = format!(
        "{}/rest/api/3/search?jql=project%3DPAY",
        sim.base_url(Source::Jira)
    );
    let reply = get(&url).await;
    assert_eq!(reply.status, 410);
    assert!(
        reply.body["errorMessages"][0]
            .as_str()
            .unwrap()
            .contains("/rest/api/3/search/jql")
    );
    let post = send(client().post(&url).json(&json!({"jql": "project = PAY"}))).await;
    assert_eq!(post.status, 410);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_changelog_lists_an_issues_status_transitions_oldest_first() {
    let sim = start(small_options(37)).await;
    let org = sim.state().organisation();
    let issue = org.jira_projects[0]
        .issues
        .iter()
        .find(|i| i.transitions.len() == 2)
        .expect("a resolved issue");
    let url = format!(
        "{}/rest/api/3/issue/{}/changelog",
        sim.base_url(Source::Jira),
        issue.key
    );
    let reply = get(&url).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["total"], 2);
    assert_eq!(reply.body["isLast"], true);
    let to: Vec<&str> = reply.body["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["items"][0]["toString"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["In Progress", "Done"]);
    assert_eq!(
        get(&format!(
            "{}/rest/api/3/issue/NOPE-1/changelog",
            sim.base_url(Source::Jira)
        ))
        .await
        .status,
        404
    );
    let stats: Value = get(&format!("http://{}/_admin/stats", sim.addr()))
        .await
        .body;
    assert_eq!(stats["served_records_by_endpoint"]["jira_changelog"], 2);
    assert!(
        !sim.state().served_records().contains_key(&Source::Jira),
        "changelog is counted separately"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_incident_done_without_a_resolution_is_served_done_with_its_changelog_into_done() {
    let sim = start(dorafleet_sim::SimOptions {
        days: 60,
        ..small_options(11)
    })
    .await;
    let org = sim.state().organisation();
    let (project, issue) = org
        .jira_projects
        .iter()
        .flat_map(|p| p.issues.iter().map(move |i| (p, i)))
        .find(|(_, i)| i.resolution_unset && i.status() == "Done")
        .expect("an incident done without a resolution");
    let served = jira_all(
        &sim,
        &format!("project = {} AND issuetype = Incident", project.key),
        100,
    )
    .await;
    let fields = &served
        .iter()
        .find(|i| i["key"] == issue.key.as_str())
        .expect("the incident is listed")["fields"];
    assert_eq!(fields["resolutiondate"], Value::Null);
    assert_eq!(fields["resolution"], Value::Null);
    assert_eq!(fields["status"]["name"], "Done");
    assert_eq!(fields["status"]["statusCategory"]["key"], "done");

    let url = format!(
        "{}/rest/api/3/issue/{}/changelog",
        sim.base_url(Source::Jira),
        issue.key
    );
    let reply = get(&url).await;
    assert_eq!(reply.status, 200);
    let total = issue.transitions.len();
    assert_eq!(
        (
            &reply.body["startAt"],
            &reply.body["total"],
            &reply.body["isLast"]
        ),
        (&json!(0), &json!(total), &json!(true))
    );
    assert!(reply.body["maxResults"].as_u64().unwrap() >= total as u64);
    let last = &reply.body["values"][total - 1];
    let done = issue.transitions.last().unwrap();
    let stamp = done.at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    assert_eq!(last["created"], stamp.as_str());
    let item = &last["items"][0];
    assert_eq!(item["field"], "status");
    assert_eq!(item["toString"], "Done");
    assert_eq!(item["fromString"], done.from.as_str());
    assert_eq!(item["to"], fields["status"]["id"], "the Done status by id");
    assert!(item["from"].is_string());

    // Offset paging: one entry per page, the last one says so.
    let first = get(&format!("{url}?startAt=0&maxResults=1")).await;
    assert_eq!(first.body["isLast"], total == 1);
    let tail = get(&format!("{url}?startAt={}&maxResults=1", total - 1)).await;
    assert_eq!(tail.body["isLast"], true);
    assert_eq!(tail.body["values"][0]["created"], stamp.as_str());
    sim.shutdown().await;
}
