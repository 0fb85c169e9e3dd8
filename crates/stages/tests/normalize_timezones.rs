//! Timestamps are normalized to UTC before days are assigned.

use chrono::{NaiveDate, TimeZone, Utc};
use dorafleet_core::{Config, Definitions, Metric, Scope, Source};
use dorafleet_dora as dora;
use dorafleet_stages::normalize::normalize_scope;
use dorafleet_warehouse::{BronzePage, SilverDeployment, TeamSilver};
use uuid::Uuid;

fn jira_page(body: &str) -> BronzePage {
    BronzePage {
        task_id: Uuid::now_v7(),
        seq: 0,
        execution_id: Uuid::now_v7(),
        source_system: Source::Jira,
        scope: Scope {
            team: "payments".into(),
            target: Some("PAY".into()),
        },
        endpoint: "jira_search".into(),
        request: "/rest/api/3/search/jql?jql=...".into(),
        cursor: "1".into(),
        status: 200,
        fetched_at: Utc::now(),
        record_count: 1,
        body: body.into(),
        etag: None,
        last_modified: None,
        link_next: None,
        reuses: None,
    }
}

#[test]
fn an_incident_at_2330_minus_five_hours_lands_on_the_next_utc_day() {
    let body = r#"{"issues":[{"id":"1","key":"PAY-7","fields":{
        "issuetype":{"name":"Incident"},"priority":{"name":"P2"},"project":{"key":"PAY"},
        "created":"2026-03-01T23:30:00.000-0500","updated":"2026-03-02T01:00:00.000-0500",
        "resolutiondate":"2026-03-01T23:50:00.000-0500"}}],"isLast":true}"#;
    let page = jira_page(body);
    let scope = page.scope.clone();
    let batch = normalize_scope(
        &Config::default(),
        Source::Jira,
        &scope,
        Uuid::nil(),
        &[page],
    )
    .unwrap();
    let incident = &batch.incidents[0];
    assert_eq!(
        incident.created_at,
        Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap()
    );

    let deployed = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
    let silver = TeamSilver {
        deployments: vec![SilverDeployment {
            source: Source::Github,
            key: "acme/x#1".into(),
            team_id: "payments".into(),
            repo: "acme/x".into(),
            job: None,
            environment: "production".into(),
            status: "success".into(),
            started_at: deployed,
            finished_at: Some(deployed),
            sha: None,
            ref_name: None,
            deployer: None,
            run_id: Uuid::nil(),
        }],
        incidents: batch.incidents.clone(),
        ..TeamSilver::default()
    };
    let march = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    let values = dora::compute(
        &Definitions::default(),
        &silver,
        &dora::CoverageStarts::default(),
        &[march(1), march(2)],
        &Metric::ALL,
    )
    .values;
    let of = |metric, day| {
        values
            .iter()
            .find(|v| v.date == day && v.metric == metric)
            .unwrap()
    };
    let restore = Metric::TimeToRestoreService;
    assert_eq!(of(restore, march(1)).sample_size, 0, "not on the local day");
    let next_day = of(restore, march(2));
    assert_eq!(next_day.sample_size, 1);
    assert!((next_day.value.unwrap() - 20.0 / 60.0).abs() < 1e-9);
    // From the failed deployment at 01:00 UTC to the resolution at 04:50 UTC.
    let recovery = of(Metric::FailedDeploymentRecoveryTime, march(2));
    assert!((recovery.value.unwrap() - 230.0 / 60.0).abs() < 1e-9);
    let failure = values
        .iter()
        .find(|v| v.date == march(2) && v.metric == Metric::ChangeFailureRate)
        .unwrap();
    assert_eq!(
        failure.value,
        Some(1.0),
        "the incident links to that day's deployment"
    );
}

#[test]
fn a_bronze_page_that_does_not_parse_is_a_permanent_error_naming_the_page() {
    let page = jira_page("{\"issues\": 3}");
    let scope = page.scope.clone();
    let err = normalize_scope(
        &Config::default(),
        Source::Jira,
        &scope,
        Uuid::nil(),
        &[page],
    )
    .unwrap_err();
    assert!(matches!(err, dorafleet_core::TaskError::Permanent { .. }));
    assert!(err.to_string().contains("jira_search"), "{err}");
}
