//! `dorafleet serve`'s API end to end: a real SQLite warehouse filled by a
//! standalone run against the simulator, the router on a real port.

mod common;

use chrono::{Duration, Utc};
use common::{TOKEN, assert_problem, empty, end, start, with_history};
use dorafleet_core::Metric;
use dorafleet_warehouse::{GoldFilter, Hold, HoldEvidence, HoldFilter, HoldStatus};
use std::collections::BTreeSet;

#[tokio::test]
async fn every_route_answers_and_the_openapi_document_names_every_route_the_router_serves() {
    let served = with_history(Some(TOKEN)).await;
    let team = served.config.teams[0].id.clone();
    let run = served.summary.as_ref().unwrap().run_id;
    let (from, to) = (start(), end());
    let day = start() + Duration::days(10);
    for path in [
        "/healthz".to_owned(),
        "/readyz".to_owned(),
        "/api/v1/openapi.json".to_owned(),
        "/api/v1/teams".to_owned(),
        format!("/api/v1/teams/{team}/metrics?from={from}&to={to}&levels_year=2023"),
        format!("/api/v1/teams/{team}/days/{day}/metrics/lead_time_for_changes/records"),
        "/api/v1/runs?limit=5".to_owned(),
        format!("/api/v1/runs/{run}"),
        "/api/v1/holds?status=all".to_owned(),
        "/api/v1/dead-letters/stats".to_owned(),
        "/api/v1/freshness".to_owned(),
        "/api/v1/fleet".to_owned(),
    ] {
        let (status, kind, body) = served.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(kind.starts_with("application/json"), "{path}: {kind}");
        assert!(body.is_object(), "{path}: {body}");
    }

    let (_, _, teams) = served.get("/api/v1/teams").await;
    assert_eq!(
        teams["teams"].as_array().unwrap().len(),
        served.config.teams.len()
    );
    let (_, _, report) = served
        .get(&format!("/api/v1/teams/{team}/metrics?from={from}&to={to}"))
        .await;
    assert_eq!(report["team"], team.as_str());
    assert_eq!(report["days"].as_array().unwrap().len(), 30);
    assert_eq!(
        report["summary"].as_array().unwrap().len(),
        Metric::ALL.len()
    );
    let (_, _, runs) = served.get("/api/v1/runs").await;
    assert_eq!(runs["runs"][0]["run_id"], run.to_string());
    let (_, _, detail) = served.get(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(detail["run"]["run_id"], run.to_string());
    assert_eq!(detail["stages"].as_array().unwrap().len(), 3);
    let (_, _, fleet) = served.get("/api/v1/fleet").await;
    assert_eq!(fleet["broker"]["reachable"], false, "{fleet}");
    let (_, _, fresh) = served.get("/api/v1/freshness").await;
    assert_eq!(fresh["sources"].as_array().unwrap().len(), 3, "{fresh}");

    // The document parses, and names exactly the routes served.
    let (_, _, doc) = served.get("/api/v1/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> =
        dorafleet_serve::api::route_paths().into_iter().collect();
    let served_routes: BTreeSet<(String, String)> = dorafleet_serve::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, served_routes);
    // And the router serves each of them (no fallback answer).
    for (method, path) in &served_routes {
        let concrete = path
            .replace("{team}", &team)
            .replace("{date}", &day.to_string())
            .replace("{metric}", "deployment_frequency")
            .replace("{id}", &run.to_string());
        let request = match method.as_str() {
            "GET" => served.http.get(served.url(&concrete)),
            _ => served.http.post(served.url(&concrete)),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("no API route"),
            "{method} {concrete}: {text}"
        );
        assert_ne!(status, 405, "{method} {concrete}");
        // Every schema reference of the document resolves.
        assert!(
            doc["paths"][path][method.to_lowercase()]["responses"]["200"].is_object()
                || path == "/readyz"
        );
    }
    for r in doc.to_string().split("\"$ref\":\"#/components/").skip(1) {
        let name = r.split('"').next().unwrap();
        let (group, key) = name.split_once('/').unwrap();
        assert!(
            doc["components"][group][key].is_object(),
            "dangling $ref {name}"
        );
    }
}

#[tokio::test]
async fn bad_dates_unknown_teams_and_unknown_metrics_answer_problem_details_never_a_server_error() {
    let served = empty(None).await;
    for (path, expected, says) in [
        (
            "/api/v1/teams/pay/metrics?from=2026-13-01",
            400,
            "YYYY-MM-DD",
        ),
        ("/api/v1/teams/pay/metrics?to=yesterday", 400, "not a day"),
        (
            "/api/v1/teams/pay/metrics?from=2026-03-02&to=2026-03-01",
            400,
            "before",
        ),
        (
            "/api/v1/teams/pay/metrics?from=1990-01-01&to=2026-01-01",
            400,
            "at most",
        ),
        (
            "/api/v1/teams/pay/metrics?levels_year=2025",
            400,
            "levels_year",
        ),
        (
            "/api/v1/teams/pay/metrics?form=2026-03-01",
            400,
            "unknown query parameter `form`",
        ),
        ("/api/v1/teams/nobody/metrics", 404, "not configured"),
        (
            "/api/v1/teams/nobody/days/2026-03-01/metrics/lead_time_for_changes/records",
            404,
            "not configured",
        ),
        (
            "/api/v1/teams/pay/days/03-01-2026/metrics/lead_time_for_changes/records",
            400,
            "not a day",
        ),
        (
            "/api/v1/teams/pay/days/2026-03-01/metrics/happiness/records",
            404,
            "no metric `happiness`",
        ),
        ("/api/v1/runs/not-a-uuid", 400, "not a run id"),
        (
            "/api/v1/runs/0190f3c2-7d1a-7c3e-9a51-2b6f0e8d4c11",
            404,
            "no run",
        ),
        ("/api/v1/runs?limit=0", 400, "limit"),
        ("/api/v1/holds?status=maybe", 400, "status"),
        ("/api/v1/nowhere", 404, "no API route"),
    ] {
        let (status, kind, body) = served.get(path).await;
        assert_problem(status, &kind, &body, expected);
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
        assert_eq!(body["instance"], path.split('?').next().unwrap(), "{path}");
    }
    // An unknown day of a configured team is not an error: it is unknown.
    let (status, _, body) = served
        .get("/api/v1/teams/pay/days/2026-03-01/metrics/lead_time_for_changes/records")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["gold"]["state"], "unknown");
    assert!(
        body["gold"]["reason"]
            .as_str()
            .unwrap()
            .contains("never extracted"),
        "{body}"
    );
}

#[tokio::test]
async fn without_a_configured_token_operator_actions_are_forbidden_saying_how_to_configure_one() {
    let served = empty(None).await;
    let hold = uuid::Uuid::nil();
    for (path, body) in [
        (
            format!("/api/v1/holds/{hold}/release"),
            serde_json::json!({"reason": "real"}),
        ),
        (
            "/api/v1/dead-letters/replay".to_owned(),
            serde_json::json!({"source": "jira"}),
        ),
    ] {
        let (status, kind, answer) = served.post(&path, Some(TOKEN), body).await;
        assert_problem(status, &kind, &answer, 403);
        assert!(
            answer["detail"].as_str().unwrap().contains("token_file"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_replay_needs_a_filter_and_answers_503_when_rabbitmq_does_not() {
    let served = empty(Some(TOKEN)).await;
    let path = "/api/v1/dead-letters/replay";
    let (status, kind, answer) = served.post(path, Some(TOKEN), serde_json::json!({})).await;
    assert_problem(status, &kind, &answer, 400);
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("nothing selected")
    );
    let (status, kind, answer) = served
        .post(path, Some(TOKEN), serde_json::json!({"source": "gitlab"}))
        .await;
    assert_problem(status, &kind, &answer, 400);
    let (status, kind, answer) = served
        .post(path, None, serde_json::json!({"source": "jira"}))
        .await;
    assert_problem(status, &kind, &answer, 401);

    // One dead letter to replay, and RabbitMQ at a port nothing listens on.
    let task = dorafleet_core::TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        dorafleet_core::Stage::Extract,
        Some(dorafleet_core::Source::Jira),
        dorafleet_core::Scope {
            team: "pay".into(),
            target: Some("PAY".into()),
        },
        dorafleet_core::Window {
            from: Utc::now() - Duration::days(1),
            to: Utc::now(),
        },
        3,
    );
    let attempt = dorafleet_core::AttemptRecord {
        attempt: 3,
        at: Utc::now(),
        worker: "test".into(),
        class: dorafleet_core::ErrorClass::Transient,
        message: "timed out".into(),
        progressed: false,
    };
    let letter = dorafleet_core::DeadLetter::for_task(&task, attempt, "retries exhausted".into());
    served.warehouse.store_dead_letter(&letter).await.unwrap();
    let (status, _, plan) = served
        .post(
            path,
            Some(TOKEN),
            serde_json::json!({"source": "jira", "dry_run": true}),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["planned"].as_array().unwrap().len(), 1, "{plan}");
    let (status, kind, answer) = served
        .post(path, Some(TOKEN), serde_json::json!({"source": "jira"}))
        .await;
    assert_problem(status, &kind, &answer, 503);
    assert!(
        answer["detail"].as_str().unwrap().contains("RabbitMQ"),
        "{answer}"
    );
}

#[tokio::test]
async fn releasing_a_hold_is_refused_without_the_token_and_with_another_and_with_it_succeeds_audited()
 {
    let served = with_history(Some(TOKEN)).await;
    let run = served.summary.as_ref().unwrap().run_id;
    let team = served.config.teams[0].id.clone();
    let repo = served.config.teams[0].github_repos[0].clone();
    let scope = format!("github:{repo}");
    // Days after the run's window: no gold there, so the hold is what shows.
    let (from, to) = (end(), end() + Duration::days(7));
    let hold = Hold {
        hold_id: Hold::id_for(run, &team, "volume", Some(&scope), from),
        run_id: run,
        team_id: team.clone(),
        sensor: "volume".into(),
        scope: Some(scope),
        from,
        to,
        evidence: HoldEvidence {
            measure: format!("github {repo} records"),
            observed: 1.0,
            expected: 40.0,
            threshold: "observed < 50% of expected".into(),
            detail: "placed by the test".into(),
        },
        status: HoldStatus::Open,
        created_at: Utc::now(),
        resolution: None,
    };
    served.warehouse.save_hold(&hold).await.unwrap();
    let (_, _, open) = served.get("/api/v1/holds").await;
    assert_eq!(
        open["holds"][0]["hold_id"],
        hold.hold_id.to_string(),
        "{open}"
    );
    // The held days are told apart from missing ones.
    let (_, _, records) = served
        .get(&format!(
            "/api/v1/teams/{team}/days/{}/metrics/lead_time_for_changes/records",
            from + Duration::days(1)
        ))
        .await;
    assert_eq!(records["gold"]["state"], "held", "{records}");
    assert_eq!(records["gold"]["held_by_run"], run.to_string(), "{records}");

    let path = format!("/api/v1/holds/{}/release", hold.hold_id);
    let reason = serde_json::json!({"reason": "a release freeze: the quiet week is real"});
    let (status, kind, answer) = served.post(&path, None, reason.clone()).await;
    assert_problem(status, &kind, &answer, 401);
    let (status, kind, answer) = served
        .post(&path, Some("not-the-token"), reason.clone())
        .await;
    assert_problem(status, &kind, &answer, 401);
    let (status, kind, answer) = served
        .post(&path, Some(TOKEN), serde_json::json!({"reason": "  "}))
        .await;
    assert_problem(status, &kind, &answer, 400);
    let still = served
        .warehouse
        .holds(&HoldFilter {
            status: Some(HoldStatus::Open),
            ..HoldFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(still.len(), 1, "refused releases change nothing");

    let (status, _, answer) = served.post(&path, Some(TOKEN), reason.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["hold"]["status"], "released", "{answer}");
    assert_eq!(answer["hold"]["resolution"]["by"], "serve", "{answer}");
    let stored = served
        .warehouse
        .holds(&HoldFilter {
            run_id: Some(run),
            ..HoldFilter::default()
        })
        .await
        .unwrap();
    let audit = stored[0]
        .resolution
        .as_ref()
        .expect("the release is audited");
    assert_eq!(stored[0].status, HoldStatus::Released);
    assert_eq!(
        (audit.by.as_str(), audit.reason.as_str()),
        ("serve", "a release freeze: the quiet week is real")
    );
    let (status, kind, answer) = served.post(&path, Some(TOKEN), reason).await;
    assert_problem(status, &kind, &answer, 409);
    let (_, _, released) = served.get("/api/v1/holds?status=released").await;
    assert_eq!(released["holds"].as_array().unwrap().len(), 1, "{released}");
}

#[tokio::test]
async fn the_records_behind_a_day_are_as_many_as_its_gold_sample_for_lead_time_and_deployment_frequency()
 {
    let served = with_history(None).await;
    let gold = served
        .warehouse
        .gold(&GoldFilter {
            metrics: vec![Metric::DeploymentFrequency, Metric::LeadTimeForChanges],
            ..GoldFilter::default()
        })
        .await
        .unwrap();
    assert!(!gold.is_empty());
    let (mut deployments, mut changes) = (0, 0);
    for g in &gold {
        let (status, _, body) = served
            .get(&format!(
                "/api/v1/teams/{}/days/{}/metrics/{}/records",
                g.team_id,
                g.date,
                g.metric.as_str()
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["gold"]["sample_size"], g.sample_size, "{body}");
        assert_eq!(body["gold"]["run_id"], g.run_id.to_string());
        assert_eq!(body["gold"]["definition_version"], g.definition_version);
        let n = match g.metric {
            Metric::DeploymentFrequency => {
                let list = body["deployments"].as_array().unwrap();
                deployments += list.len();
                for d in list {
                    assert!(d["url"].as_str().unwrap().starts_with("http"), "{d}");
                }
                list.len()
            }
            _ => {
                let list = body["changes"].as_array().unwrap();
                for c in list {
                    let url = c["url"].as_str().unwrap();
                    assert!(
                        url.ends_with(&format!(
                            "/{}/pull/{}",
                            c["repo"].as_str().unwrap(),
                            c["number"]
                        )),
                        "{url}"
                    );
                }
                let sampled = list
                    .iter()
                    .filter(|c| !c["lead_time_hours"].is_null())
                    .count();
                changes += sampled;
                sampled
            }
        };
        assert_eq!(
            n as u64, g.sample_size,
            "{} {} {}: {body}",
            g.team_id, g.date, g.metric
        );
    }
    assert!(
        deployments > 0 && changes > 0,
        "{deployments} deployments, {changes} changes"
    );
}
