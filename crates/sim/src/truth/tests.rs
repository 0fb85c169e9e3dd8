use super::metrics::*;
use super::*;
use chrono::{DateTime, Utc};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn deployment(repo: &str, at: &str) -> Deployment {
    Deployment {
        repo: repo.into(),
        finished_at: t(at),
    }
}

fn value(records: &[TruthRecord], date: &str, metric: &str) -> (Option<f64>, u64) {
    let r = records
        .iter()
        .find(|r| r.date == day(date) && r.metric == metric)
        .unwrap_or_else(|| panic!("no {metric} on {date}"));
    (r.value, r.sample_size)
}

#[test]
fn the_median_interpolates_between_the_two_middle_values_of_an_even_count() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [5.0]), Some(5.0));
    assert_eq!(median(&mut [9.0, 1.0, 4.0]), Some(4.0));
    assert_eq!(median(&mut [8.0, 1.0, 4.0, 2.0]), Some(3.0));
}

#[test]
fn a_change_is_shipped_by_the_first_deployment_of_its_repo_finished_at_or_after_the_merge() {
    let deployments = [
        deployment("a", "2026-01-01T10:00:00Z"),
        deployment("b", "2026-01-01T11:00:00Z"),
        deployment("a", "2026-01-01T12:00:00Z"),
        deployment("a", "2026-01-01T14:00:00Z"),
    ];
    assert_eq!(
        deploying_deployment(&deployments, "a", t("2026-01-01T10:00:00Z")),
        Some(0)
    );
    assert_eq!(
        deploying_deployment(&deployments, "a", t("2026-01-01T10:00:01Z")),
        Some(2)
    );
    assert_eq!(
        deploying_deployment(&deployments, "b", t("2026-01-01T11:30:00Z")),
        None
    );
}

#[test]
fn an_incident_is_blamed_on_the_latest_deployment_finished_strictly_before_it() {
    let deployments = [
        deployment("a", "2026-01-01T10:00:00Z"),
        deployment("b", "2026-01-01T12:00:00Z"),
    ];
    assert_eq!(
        blamed_deployment(&deployments, t("2026-01-01T09:00:00Z")),
        None
    );
    assert_eq!(
        blamed_deployment(&deployments, t("2026-01-01T12:00:00Z")),
        Some(0)
    );
    assert_eq!(
        blamed_deployment(&deployments, t("2026-01-01T12:00:01Z")),
        Some(1)
    );
}

/// Two days, two repos, worked out by hand:
/// - Jan 1: deployments a@10:00 and b@16:00; Jan 2: a@09:00.
/// - Changes: a merged 09:00 (first commit Dec 31 22:00) → a@10:00, 12 h;
///   b merged 12:00 (first commit 08:00) → b@16:00, 8 h;
///   a merged 11:00 (first commit 10:30) → a@Jan 2 09:00, 22.5 h;
///   b merged 17:00 → never deployed.
/// - Incidents: created 12:00 Jan 1 → blames a@10:00, resolved 15:00 (3 h);
///   created 20:00 Jan 1 → blames b@16:00, resolved Jan 2 06:00 (10 h);
///   created 07:00 Dec 31 (before any deployment) → unlinked.
#[test]
fn a_hand_checked_two_day_case_gives_the_expected_four_metrics() {
    let deployments = [
        deployment("a", "2026-01-01T10:00:00Z"),
        deployment("b", "2026-01-01T16:00:00Z"),
        deployment("a", "2026-01-02T09:00:00Z"),
    ];
    let change = |repo: &str, merged: &str, first: &str| Change {
        repo: repo.into(),
        merged_at: t(merged),
        first_human_commit_at: t(first),
    };
    let changes = [
        change("a", "2026-01-01T09:00:00Z", "2025-12-31T22:00:00Z"),
        change("b", "2026-01-01T12:00:00Z", "2026-01-01T08:00:00Z"),
        change("a", "2026-01-01T11:00:00Z", "2026-01-01T10:30:00Z"),
        change("b", "2026-01-01T17:00:00Z", "2026-01-01T16:30:00Z"),
    ];
    let incident = |created: &str, resolved: Option<&str>| Incident {
        created_at: t(created),
        resolved_at: resolved.map(t),
    };
    let incidents = [
        incident("2026-01-01T12:00:00Z", Some("2026-01-01T15:00:00Z")),
        incident("2026-01-01T20:00:00Z", Some("2026-01-02T06:00:00Z")),
        incident("2025-12-31T07:00:00Z", Some("2026-01-02T07:00:00Z")),
    ];
    let dates = [day("2026-01-01"), day("2026-01-02"), day("2026-01-03")];
    let records = team_truth("t", &dates, &deployments, &changes, &incidents);
    assert_eq!(records.len(), 12);

    assert_eq!(
        value(&records, "2026-01-01", DEPLOYMENT_FREQUENCY),
        (Some(2.0), 2)
    );
    assert_eq!(
        value(&records, "2026-01-02", DEPLOYMENT_FREQUENCY),
        (Some(1.0), 1)
    );
    assert_eq!(
        value(&records, "2026-01-03", DEPLOYMENT_FREQUENCY),
        (Some(0.0), 0)
    );

    assert_eq!(
        value(&records, "2026-01-01", LEAD_TIME_FOR_CHANGES),
        (Some(10.0), 2)
    );
    assert_eq!(
        value(&records, "2026-01-02", LEAD_TIME_FOR_CHANGES),
        (Some(22.5), 1)
    );
    assert_eq!(
        value(&records, "2026-01-03", LEAD_TIME_FOR_CHANGES),
        (None, 0)
    );

    assert_eq!(
        value(&records, "2026-01-01", CHANGE_FAILURE_RATE),
        (Some(1.0), 2)
    );
    assert_eq!(
        value(&records, "2026-01-02", CHANGE_FAILURE_RATE),
        (Some(0.0), 1)
    );
    assert_eq!(
        value(&records, "2026-01-03", CHANGE_FAILURE_RATE),
        (None, 0)
    );

    assert_eq!(
        value(&records, "2026-01-01", FAILED_DEPLOYMENT_RECOVERY_TIME),
        (Some(3.0), 1)
    );
    assert_eq!(
        value(&records, "2026-01-02", FAILED_DEPLOYMENT_RECOVERY_TIME),
        (Some(10.0), 1)
    );
    assert_eq!(
        value(&records, "2026-01-03", FAILED_DEPLOYMENT_RECOVERY_TIME),
        (None, 0)
    );
}

#[test]
fn the_organisation_truth_covers_every_team_date_and_metric_once() {
    let opts = crate::SimOptions {
        seed: 4,
        days: 30,
        teams: 2,
        end_date: day("2026-03-01"),
        ..Default::default()
    };
    let org = crate::generate(&opts);
    let truth = org.ground_truth();
    assert_eq!(truth.len(), 2 * 30 * 4);
    let mut keys: Vec<_> = truth.iter().map(|r| (&r.team, r.date, &r.metric)).collect();
    keys.dedup();
    assert_eq!(keys.len(), truth.len());
    let deployments: f64 = truth
        .iter()
        .filter(|r| r.metric == DEPLOYMENT_FREQUENCY)
        .filter_map(|r| r.value)
        .sum();
    assert!(deployments > 60.0, "{deployments}");
    assert!(
        truth
            .iter()
            .any(|r| r.metric == CHANGE_FAILURE_RATE && r.value.is_some_and(|v| v > 0.0))
    );
    assert!(
        truth
            .iter()
            .any(|r| r.metric == FAILED_DEPLOYMENT_RECOVERY_TIME && r.value.is_some())
    );
}

#[test]
fn bot_only_pull_requests_and_failed_deployments_do_not_count() {
    let opts = crate::SimOptions {
        seed: 12,
        days: 30,
        teams: 1,
        end_date: day("2026-03-01"),
        ..Default::default()
    };
    let org = crate::generate(&opts);
    let changes = org.team_changes("payments");
    let merged_human = org
        .repos
        .iter()
        .flat_map(|r| &r.pulls)
        .filter(|p| p.merged_at.is_some() && !p.author_is_bot)
        .count();
    assert_eq!(changes.len(), merged_human);
    let deployments = org.team_deployments("payments");
    let all_production_attempts = org.repos[0]
        .deployments
        .iter()
        .filter(|d| d.environment == "production")
        .count()
        + org.jenkins_jobs[0].builds.len();
    assert!(deployments.len() < all_production_attempts);
}
