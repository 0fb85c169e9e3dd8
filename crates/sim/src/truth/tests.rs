use super::linkage::*;
use super::metrics::*;
use super::*;
use crate::model::{StatusTransition, TO_DO};
use chrono::{DateTime, Utc};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn deployment(id: u64, commit: Option<&str>, started: &str, finished: &str) -> Deployment {
    Deployment {
        repo: "acme/pay-api".into(),
        id,
        started_at: t(started),
        finished_at: t(finished),
        commit: commit.map(str::to_owned),
        ref_name: Some("main".into()),
    }
}

fn change(sha: &str, first: &str, merged: &str, head_ref: &str) -> Change {
    Change {
        repo: "acme/pay-api".into(),
        merged_at: t(merged),
        merge_sha: sha.into(),
        first_human_commit_at: t(first),
        title: format!("Change {sha}"),
        head_ref: head_ref.into(),
    }
}

fn value(records: &[TruthRecord], date: &str, metric: &str) -> (Option<f64>, u64) {
    let r = records
        .iter()
        .find(|r| r.date == day(date) && r.metric == metric)
        .unwrap_or_else(|| panic!("no {metric} on {date}"));
    (r.value, r.sample_size)
}

fn close(actual: (Option<f64>, u64), expected: (Option<f64>, u64)) {
    let same = match (actual.0, expected.0) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (a, b) => a == b,
    };
    assert!(same && actual.1 == expected.1, "{actual:?} != {expected:?}");
}

/// The worked example of docs/metrics.md: coverage from 03-02 00:00, main
/// c0 (before coverage) → c1 09:00 → c2 10:00 → c3 11:00.
fn worked_example(pr3_branch: &str) -> TeamEvents {
    let listed = ["c1", "c2", "c3"]
        .iter()
        .zip(["09", "10", "11"])
        .map(|(sha, h)| (sha.to_string(), t(&format!("2026-03-02T{h}:00:00Z"))))
        .collect();
    TeamEvents {
        deployments: vec![
            deployment(
                1,
                Some("c1"),
                "2026-03-02T09:30:00Z",
                "2026-03-02T10:30:00Z",
            ),
            deployment(
                2,
                Some("c0"),
                "2026-03-02T09:50:00Z",
                "2026-03-02T10:40:00Z",
            ),
            deployment(
                3,
                Some("c3"),
                "2026-03-02T11:10:00Z",
                "2026-03-02T11:30:00Z",
            ),
        ],
        changes: vec![
            change(
                "c1",
                "2026-03-02T06:00:00Z",
                "2026-03-02T09:00:00Z",
                "a/one",
            ),
            change(
                "c2",
                "2026-03-02T08:00:00Z",
                "2026-03-02T10:00:00Z",
                "a/two",
            ),
            change(
                "c3",
                "2026-03-02T13:00:00Z",
                "2026-03-02T11:00:00Z",
                pr3_branch,
            ),
            change(
                "c0",
                "2026-03-01T20:00:00Z",
                "2026-03-01T22:00:00Z",
                "a/zero",
            ),
        ],
        incidents: vec![Incident {
            key: "INC-7".into(),
            created_at: t("2026-03-02T10:50:00Z"),
            resolved_at: Some(t("2026-03-02T12:50:00Z")),
        }],
        histories: [("acme/pay-api".to_owned(), ListedHistory::new(listed))].into(),
        covered_from: Some(t("2026-03-02T00:00:00Z")),
        repo_starts: Default::default(),
    }
}

#[test]
fn the_median_interpolates_between_the_two_middle_values_of_an_even_count() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [5.0]), Some(5.0));
    assert_eq!(median(&mut [9.0, 1.0, 4.0]), Some(4.0));
    assert_eq!(median(&mut [8.0, 1.0, 4.0, 2.0]), Some(3.0));
}

#[test]
fn the_worked_example_of_the_definitions_gives_its_published_numbers() {
    let records = team_truth("t", &[day("2026-03-02")], &worked_example("a/three"));
    let on = |metric| value(&records, "2026-03-02", metric);
    close(on(DEPLOYMENT_FREQUENCY), (Some(3.0), 3));
    close(on(LEAD_TIME_FOR_CHANGES), (Some(4.0), 2));
    close(on(CHANGE_FAILURE_RATE), (Some(1.0 / 3.0), 3));
    close(on(FAILED_DEPLOYMENT_RECOVERY_TIME), (Some(130.0 / 60.0), 1));
    close(on(TIME_TO_RESTORE_SERVICE), (Some(2.0), 1));
    close(on(DEPLOYMENT_REWORK_RATE), (Some(0.0), 3));
}

#[test]
fn an_older_commit_deployed_before_the_merge_and_finished_after_it_does_not_ship_the_change() {
    let events = worked_example("a/three");
    let history = events.histories.get("acme/pay-api");
    // PR 2 (c2): D1 does not contain it, D2 (c0, unknown) started before the
    // merge, so D3 ships it.
    assert_eq!(
        shipping_deployment(&events.deployments, history, &events.changes[1]),
        Some(2)
    );
    assert_eq!(
        history
            .unwrap()
            .contains(Some("c1"), "c2", t("2026-03-02T10:00:00Z")),
        Some(false)
    );
    assert_eq!(
        history
            .unwrap()
            .contains(Some("c0"), "c2", t("2026-03-02T10:00:00Z")),
        None
    );
    // Without a history, time decides, and still by the start.
    assert_eq!(
        shipping_deployment(&events.deployments, None, &events.changes[1]),
        Some(2)
    );
}

#[test]
fn a_walk_that_would_pass_below_the_coverage_start_is_unknown_and_falls_back_to_time() {
    let events = worked_example("a/three");
    let history = events.histories.get("acme/pay-api").unwrap();
    // c1 is the oldest listed commit: looking for a merge older than c1 (but
    // committed at or before it) runs out of listed history.
    assert_eq!(
        history.contains(Some("c1"), "c0", t("2026-03-02T09:00:00Z")),
        None
    );
    assert_eq!(
        history.contains(Some("c3"), "c3", t("2026-03-02T11:00:00Z")),
        Some(true)
    );
}

#[test]
fn a_first_commit_after_the_deployment_drops_the_sample_but_still_ships_the_change() {
    let events = worked_example("a/three");
    let history = events.histories.get("acme/pay-api");
    assert_eq!(
        shipping_deployment(&events.deployments, history, &events.changes[2]),
        Some(2)
    );
    let records = team_truth("t", &[day("2026-03-02")], &events);
    // Two samples (4.5 h and 3.5 h), not three.
    close(
        value(&records, "2026-03-02", LEAD_TIME_FOR_CHANGES),
        (Some(4.0), 2),
    );
}

#[test]
fn a_change_merged_before_coverage_is_not_credited_unless_coverage_starts_earlier() {
    let mut events = worked_example("a/three");
    // Only PR 0, which D1 would ship by time (c0 is not listed).
    events.changes = vec![events.changes[3].clone()];
    let records = team_truth("t", &[day("2026-03-02")], &events);
    close(
        value(&records, "2026-03-02", LEAD_TIME_FOR_CHANGES),
        (None, 0),
    );
    events.covered_from = None;
    let records = team_truth("t", &[day("2026-03-02")], &events);
    // D1 started after 03-01 22:00 and c0 is unknown to the history: 14.5 h.
    close(
        value(&records, "2026-03-02", LEAD_TIME_FOR_CHANGES),
        (Some(14.5), 1),
    );
}

#[test]
fn a_hotfix_branch_naming_the_incident_makes_its_deployment_rework() {
    let records = team_truth("t", &[day("2026-03-02")], &worked_example("hotfix/INC-7"));
    close(
        value(&records, "2026-03-02", DEPLOYMENT_REWORK_RATE),
        (Some(1.0 / 3.0), 3),
    );
    let mut by_key_only = worked_example("fix-inc-7-timeout");
    by_key_only.changes[2].title = "Handle INC-7 timeouts".into();
    let records = team_truth("t", &[day("2026-03-02")], &by_key_only);
    close(
        value(&records, "2026-03-02", DEPLOYMENT_REWORK_RATE),
        (Some(1.0 / 3.0), 3),
    );
}

#[test]
fn rework_rules_match_keys_as_words_and_globs_ignoring_case() {
    assert!(names_word("fix PAY-12 timeout", "PAY-12"));
    assert!(names_word("hotfix/pay-12", "PAY-12"));
    assert!(!names_word("fix PAY-123", "PAY-12"));
    assert!(!names_word("XPAY-12", "PAY-12"));
    assert!(!names_word("PAY-12-b", "PAY-12"));
    assert!(glob_matches("Revert *", "revert \"Add x\""));
    assert!(glob_matches("hotfix*", "Hotfix login"));
    assert!(glob_matches("[hotfix]*", "[HOTFIX] login"));
    assert!(glob_matches("hotfix/*", "hotfix/PAY-1"));
    assert!(!glob_matches("hotfix/*", "mk/hotfix/PAY-1"));
    assert!(glob_matches("a*b*c", "axxbyyc"));
    assert!(!glob_matches("a*b*c", "axxbyy"));
    assert!(is_rework_ref("revert-12-mk/change-12"));
    assert!(!is_rework_ref("main"));
}

#[test]
fn an_incident_links_only_to_a_deployment_finished_within_the_week_before_it() {
    let deployments = [deployment(
        1,
        Some("c1"),
        "2026-03-02T09:30:00Z",
        "2026-03-02T10:00:00Z",
    )];
    assert_eq!(
        linked_deployment(&deployments, t("2026-03-02T10:00:00Z")),
        None
    );
    assert_eq!(
        linked_deployment(&deployments, t("2026-03-02T10:00:01Z")),
        Some(0)
    );
    assert_eq!(
        linked_deployment(&deployments, t("2026-03-09T10:00:00Z")),
        Some(0)
    );
    assert_eq!(
        linked_deployment(&deployments, t("2026-03-09T10:00:01Z")),
        None
    );
}

#[test]
fn an_incident_done_without_a_resolution_date_is_resolved_when_it_last_entered_done() {
    let move_to = |from: &str, to: &str, at: &str| StatusTransition {
        id: 0,
        at: t(at),
        author: "x".into(),
        from: from.into(),
        to: to.into(),
    };
    let mut issue = JiraIssue {
        id: 1,
        key: "INC-7".into(),
        project_key: "INC".into(),
        summary: "s".into(),
        issue_type: INCIDENT_ISSUE_TYPE.into(),
        priority: "P1".into(),
        created: t("2026-03-02T10:50:00Z"),
        resolved: None,
        resolution_unset: true,
        reporter: "x".into(),
        assignee: None,
        transitions: vec![
            move_to(TO_DO, DONE, "2026-03-02T11:00:00Z"),
            move_to(DONE, crate::model::REOPENED, "2026-03-02T12:00:00Z"),
            move_to(crate::model::REOPENED, DONE, "2026-03-02T12:50:00Z"),
        ],
    };
    assert_eq!(resolution(&issue), Some(t("2026-03-02T12:50:00Z")));
    issue.transitions.pop();
    assert_eq!(resolution(&issue), None);
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
    assert_eq!(truth.len(), 2 * 30 * METRICS.len());
    let mut keys: Vec<_> = truth.iter().map(|r| (&r.team, r.date, &r.metric)).collect();
    keys.dedup();
    assert_eq!(keys.len(), truth.len());
    let deployments: f64 = truth
        .iter()
        .filter(|r| r.metric == DEPLOYMENT_FREQUENCY)
        .filter_map(|r| r.value)
        .sum();
    assert!(deployments > 60.0, "{deployments}");
    for metric in [
        CHANGE_FAILURE_RATE,
        DEPLOYMENT_REWORK_RATE,
        FAILED_DEPLOYMENT_RECOVERY_TIME,
        TIME_TO_RESTORE_SERVICE,
    ] {
        assert!(
            truth
                .iter()
                .any(|r| r.metric == metric && r.value.is_some_and(|v| v > 0.0)),
            "{metric}"
        );
    }
}

#[test]
fn a_later_coverage_start_credits_fewer_changes() {
    let opts = crate::SimOptions {
        seed: 4,
        days: 30,
        teams: 1,
        end_date: day("2026-03-01"),
        ..Default::default()
    };
    let org = crate::generate(&opts);
    let lead_samples = |truth: &[TruthRecord]| -> u64 {
        truth
            .iter()
            .filter(|r| r.metric == LEAD_TIME_FOR_CHANGES)
            .map(|r| r.sample_size)
            .sum()
    };
    let full = org.ground_truth_as_of(org.end);
    let later =
        org.ground_truth_as_of_covered_from(org.end, org.start + chrono::Duration::days(10));
    assert!(lead_samples(&later) < lead_samples(&full));
    assert_eq!(
        full,
        org.ground_truth_as_of_covered_from(org.end, org.start)
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
