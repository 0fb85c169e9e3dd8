//! The ground truth against what a client can derive from the HTTP answers.

mod common;

use chrono::{DateTime, NaiveDate, Utc};
use common::{get, github_all, jenkins_all, small_options, start};
use dorafleet_core::Source;
use dorafleet_sim::{JobKind, TruthRecord};
use std::collections::BTreeMap;

#[tokio::test]
async fn deployment_frequency_truth_equals_the_successful_production_deployments_served_over_http()
{
    let sim = start(small_options(61)).await;
    let org = sim.state().organisation().clone();
    let team = &org.teams[1];
    let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();

    let base = sim.base_url(Source::Github);
    for repo in &team.repos {
        let (deployments, _) = github_all(&format!(
            "{base}/repos/{repo}/deployments?environment=production&per_page=100"
        ))
        .await;
        for d in deployments {
            let (statuses, _) = github_all(&format!(
                "{base}/repos/{repo}/deployments/{}/statuses",
                d["id"]
            ))
            .await;
            let latest = statuses
                .iter()
                .max_by_key(|s| s["created_at"].as_str().unwrap().to_owned());
            if let Some(s) = latest.filter(|s| s["state"] == "success") {
                let at: DateTime<Utc> = s["created_at"].as_str().unwrap().parse().unwrap();
                *per_day.entry(at.date_naive()).or_default() += 1;
            }
        }
    }
    let description = org.description();
    let deploy_jobs = description
        .teams
        .iter()
        .find(|t| t.id == team.id)
        .unwrap()
        .jenkins_jobs
        .iter()
        .filter(|j| j.kind == JobKind::Deploy);
    for job in deploy_jobs {
        for b in jenkins_all(&sim, &job.name, 25).await {
            if b["result"] == "SUCCESS" {
                let finished = b["timestamp"].as_i64().unwrap() + b["duration"].as_i64().unwrap();
                let at = DateTime::from_timestamp_millis(finished).unwrap();
                *per_day.entry(at.date_naive()).or_default() += 1;
            }
        }
    }

    let url = format!(
        "http://{}/_admin/truth?team={}&metric=deployment_frequency",
        sim.addr(),
        team.id
    );
    let truth: Vec<TruthRecord> = serde_json::from_value(get(&url).await.body).unwrap();
    assert_eq!(truth.len(), 30);
    assert!(truth.iter().map(|r| r.sample_size).sum::<u64>() > 20);
    for record in truth {
        let counted = per_day.get(&record.date).copied().unwrap_or(0);
        assert_eq!(record.value, Some(counted as f64), "{}", record.date);
        assert_eq!(record.sample_size, counted);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_serves_the_truth_filtered_and_the_organisation_description() {
    let sim = start(small_options(62)).await;
    let admin = format!("http://{}/_admin", sim.addr());
    let all: Vec<TruthRecord> =
        serde_json::from_value(get(&format!("{admin}/truth")).await.body).unwrap();
    let expected = sim.state().organisation().ground_truth();
    assert_eq!(all.len(), expected.len());
    for (served, truth) in all.iter().zip(&expected) {
        // JSON round-trips floats to within an ulp or so, not bit for bit.
        let same_value = match (served.value, truth.value) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (a, b) => a == b,
        };
        let same_key =
            (&served.team, served.date, &served.metric) == (&truth.team, truth.date, &truth.metric);
        assert!(
            same_key && same_value && served.sample_size == truth.sample_size,
            "{served:?} vs {truth:?}"
        );
    }
    let lead: Vec<TruthRecord> = serde_json::from_value(
        get(&format!("{admin}/truth?metric=lead_time_for_changes"))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(lead.len(), 2 * 30);
    assert!(lead.iter().any(|r| r.value.is_some_and(|v| v > 0.0)));

    let org = get(&format!("{admin}/org")).await.body;
    assert_eq!(org["bot_login_suffix"], "[bot]");
    assert_eq!(org["production_environments"][0], "production");
    assert_eq!(org["incident_issue_types"][0], "Incident");
    assert_eq!(org["teams"][0]["jenkins_jobs"][1]["kind"], "ci");
    assert_eq!(
        org["teams"][0]["jenkins_jobs"][0]["repo"],
        "acme/payments-web"
    );
    assert!(org["people"][0]["jenkins_user"].is_string());
    assert_eq!(org["window_start"], "2026-01-30T00:00:00Z");
    sim.shutdown().await;
}

#[tokio::test]
async fn base_urls_point_at_each_source_prefix_on_the_bound_port() {
    let sim = start(small_options(63)).await;
    let port = sim.addr().port();
    assert_eq!(
        sim.base_url(Source::Github),
        format!("http://127.0.0.1:{port}/github")
    );
    assert_eq!(
        sim.base_url(Source::Jira),
        format!("http://127.0.0.1:{port}/jira")
    );
    assert_eq!(
        sim.base_url(Source::Jenkins),
        format!("http://127.0.0.1:{port}/jenkins")
    );
    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/nowhere"))
            .await
            .status,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn serve_runs_until_its_shutdown_future_completes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(dorafleet_sim::serve(small_options(64), listener, async {
        let _ = stopped.await;
    }));
    let reply = get(&format!("http://{addr}/_admin/org")).await;
    assert_eq!(reply.status, 200);
    stop.send(()).unwrap();
    assert!(server.await.unwrap().is_ok());
}
