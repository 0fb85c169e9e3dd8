//! The simulated clock over HTTP: the admin endpoints that read, set and
//! advance it, and the data APIs and truth answering as of it.

mod common;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::{client, get, send, start};
use dorafleet_core::Source;
use dorafleet_sim::{REOPENED, RunningSim, SimOptions, TruthRecord, differences};
use serde_json::{Value, json};

fn options() -> SimOptions {
    SimOptions {
        end_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        ..SimOptions::default()
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

async fn set_clock(sim: &RunningSim, t: DateTime<Utc>) {
    let url = format!("http://{}/_admin/clock", sim.addr());
    let reply = send(client().put(url).json(&json!({"now": rfc3339(t)}))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["now"], rfc3339(t));
}

#[tokio::test]
async fn the_clock_starts_at_the_end_of_the_range_and_can_be_set_and_advanced() {
    let sim = start(options()).await;
    let url = format!("http://{}/_admin/clock", sim.addr());
    let end = sim.state().history().end;
    assert_eq!(get(&url).await.body, json!({"now": "2026-03-01T00:00:00Z"}));
    assert_eq!(sim.state().now(), end);

    let t = end - Duration::days(3) + Duration::minutes(90);
    set_clock(&sim, t).await;
    assert_eq!(sim.state().now(), t);
    let advanced = send(
        client()
            .post(format!("{url}/advance"))
            .json(&json!({"seconds": 3600})),
    )
    .await;
    assert_eq!(advanced.status, 200, "{}", advanced.body);
    assert_eq!(advanced.body["now"], rfc3339(t + Duration::hours(1)));
    assert_eq!(get(&url).await.body["now"], rfc3339(t + Duration::hours(1)));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_clock_can_start_elsewhere_and_the_truth_then_covers_only_the_days_over() {
    let clock = DateTime::parse_from_rfc3339("2026-02-10T15:00:00Z")
        .unwrap()
        .to_utc();
    let sim = start(SimOptions {
        clock: Some(clock),
        ..options()
    })
    .await;
    let admin = format!("http://{}/_admin", sim.addr());
    assert_eq!(
        get(&format!("{admin}/clock")).await.body["now"],
        rfc3339(clock)
    );
    let truth: Vec<TruthRecord> =
        serde_json::from_value(get(&format!("{admin}/truth")).await.body).unwrap();
    let last_day = truth.iter().map(|r| r.date).max().unwrap();
    assert_eq!(last_day, clock.date_naive() - Duration::days(1));
    // JSON may move a float by one ulp: compare as `differences` does.
    assert_eq!(
        differences(&sim.state().ground_truth(), &truth),
        Vec::<String>::new()
    );
    assert_eq!(
        *sim.state().ground_truth(),
        sim.state().ground_truth_at(clock)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_clock_bodies_are_refused_with_400_and_a_message_and_leave_the_clock_alone() {
    let sim = start(options()).await;
    let url = format!("http://{}/_admin/clock", sim.addr());
    let before = sim.state().now();
    for body in [
        json!({"now": "yesterday"}),
        json!({"now": 5}),
        json!({"when": "2026-03-01T00:00:00Z"}),
        Value::String("2026-03-01T00:00:00Z".into()),
    ] {
        let reply = send(client().put(&url).json(&body)).await;
        assert_eq!(reply.status, 400, "{body}");
        let error = reply.body["error"].as_str().unwrap();
        assert!(error.contains("RFC 3339"), "{error}");
    }
    for body in [
        json!({"seconds": -5}),
        json!({"seconds": 1.5}),
        json!({"seconds": "60"}),
        json!({}),
        json!({"seconds": u64::MAX}),
    ] {
        let reply = send(client().post(format!("{url}/advance")).json(&body)).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(
            reply.body["error"].as_str().unwrap().contains("seconds"),
            "{}",
            reply.body
        );
    }
    let raw = send(client().post(format!("{url}/advance")).body("soon")).await;
    assert_eq!(raw.status, 400);
    assert_eq!(sim.state().now(), before);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_deleted_deployment_is_listed_before_its_deletion_and_answers_404_after() {
    let sim = start(options()).await;
    let history = sim.state().history();
    let (repo, d) = history
        .repos
        .iter()
        .flat_map(|r| r.deployments.iter().map(move |d| (r, d)))
        .find(|(_, d)| d.deleted_at.is_some() && d.deleted_at < Some(history.end))
        .unwrap();
    let base = format!(
        "{}/repos/{}",
        sim.base_url(Source::Github),
        repo.full_name()
    );
    let statuses = format!("{base}/deployments/{}/statuses", d.id);
    let listed = |body: &Value| {
        body.as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"].as_u64() == Some(d.id))
    };
    let list = format!("{base}/deployments?per_page=100&sha={}", d.sha);

    set_clock(&sim, d.deleted_at.unwrap() - Duration::seconds(1)).await;
    let alive = get(&statuses).await;
    assert_eq!(alive.status, 200);
    assert!(!alive.body.as_array().unwrap().is_empty());
    assert!(listed(&get(&list).await.body));

    set_clock(&sim, d.deleted_at.unwrap()).await;
    assert_eq!(get(&statuses).await.status, 404);
    assert!(!listed(&get(&list).await.body));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_late_deployment_outcome_and_a_reopened_incident_show_over_http_as_the_clock_moves() {
    let sim = start(options()).await;
    let history = sim.state().history();
    let (repo, d) = history
        .repos
        .iter()
        .flat_map(|r| r.deployments.iter().map(move |d| (r, d)))
        .find(|(_, d)| {
            d.statuses.len() == 3
                && d.statuses[2].created_at - d.statuses[1].created_at > Duration::hours(1)
        })
        .unwrap();
    let outcome = &d.statuses[2];
    let statuses = format!(
        "{}/repos/{}/deployments/{}/statuses",
        sim.base_url(Source::Github),
        repo.full_name(),
        d.id
    );
    set_clock(&sim, outcome.created_at - Duration::seconds(1)).await;
    assert_eq!(get(&statuses).await.body[0]["state"], "in_progress");
    set_clock(&sim, outcome.created_at).await;
    assert_eq!(
        get(&statuses).await.body[0]["state"],
        outcome.state.as_str()
    );

    let issue = history
        .jira_projects
        .iter()
        .flat_map(|p| &p.issues)
        .find(|i| i.transitions.iter().any(|t| t.to == REOPENED))
        .unwrap();
    let jira = sim.base_url(Source::Jira);
    let show = |key: String| {
        let url = format!("{jira}/rest/api/3/search/jql");
        let body = json!({"jql": format!("key = {key}"), "fields": ["status", "resolutiondate"]});
        async move { send(client().post(url).json(&body)).await.body["issues"][0]["fields"].clone() }
    };
    let changelog = format!("{jira}/rest/api/3/issue/{}/changelog", issue.key);
    let t = &issue.transitions;
    set_clock(&sim, t[2].at).await;
    let fields = show(issue.key.clone()).await;
    assert_eq!(fields["status"]["name"], REOPENED);
    assert_eq!(fields["status"]["statusCategory"]["key"], "indeterminate");
    assert_eq!(fields["resolutiondate"], Value::Null);
    assert_eq!(get(&changelog).await.body["total"], 3);
    set_clock(&sim, t[3].at).await;
    let fields = show(issue.key.clone()).await;
    assert_eq!(fields["status"]["name"], "Done");
    let resolved = DateTime::parse_from_str(
        fields["resolutiondate"].as_str().unwrap(),
        "%Y-%m-%dT%H:%M:%S%.3f%z",
    )
    .unwrap();
    assert_eq!(resolved, t[3].at);
    assert_eq!(get(&changelog).await.body["total"], 4);
    sim.shutdown().await;
}
