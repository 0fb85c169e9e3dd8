use super::linkage::{FIRST_COMMIT_AFTER_DEPLOYMENT, MERGED_BEFORE_COVERAGE};
use super::*;
use chrono::{Datelike, TimeZone};
use dorafleet_core::Source;
use dorafleet_warehouse::{SilverChange, SilverCommit, SilverIncident};
use uuid::Uuid;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

fn at_min(day: u32, hour: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, min, 0).unwrap()
}

fn deploy(repo: &str, finished: DateTime<Utc>, status: &str, env: &str) -> SilverDeployment {
    SilverDeployment {
        source: Source::Github,
        key: format!("{repo}#{}", finished.timestamp()),
        team_id: "t".into(),
        repo: repo.into(),
        job: None,
        environment: env.into(),
        status: status.into(),
        started_at: finished,
        finished_at: Some(finished),
        sha: None,
        ref_name: None,
        deployer: None,
        run_id: Uuid::nil(),
    }
}

fn deploy_of(sha: &str, started: DateTime<Utc>, finished: DateTime<Utc>) -> SilverDeployment {
    SilverDeployment {
        key: format!("acme/pay-api#{sha}-{}", started.timestamp()),
        sha: Some(sha.into()),
        started_at: started,
        ..deploy("acme/pay-api", finished, "success", "production")
    }
}

fn change(repo: &str, first: DateTime<Utc>, merged: DateTime<Utc>) -> SilverChange {
    SilverChange {
        repo: repo.into(),
        number: first.timestamp() as u64,
        team_id: "t".into(),
        author: None,
        first_commit_at: first,
        merged_at: merged,
        merge_sha: None,
        title: None,
        head_ref: None,
        run_id: Uuid::nil(),
    }
}

fn merged_as(sha: &str, first: DateTime<Utc>, merged: DateTime<Utc>) -> SilverChange {
    SilverChange {
        merge_sha: Some(sha.into()),
        ..change("acme/pay-api", first, merged)
    }
}

fn commit(sha: &str, parent: Option<&str>, committed: DateTime<Utc>) -> SilverCommit {
    SilverCommit {
        repo: "acme/pay-api".into(),
        sha: sha.into(),
        team_id: "t".into(),
        parents: parent.into_iter().map(str::to_owned).collect(),
        committed_at: committed,
        run_id: Uuid::nil(),
    }
}

fn incident(
    created: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
    priority: &str,
) -> SilverIncident {
    SilverIncident {
        key: format!("T-{}", created.timestamp()),
        project: "T".into(),
        team_id: "t".into(),
        issue_type: "Incident".into(),
        priority: Some(priority.into()),
        created_at: created,
        resolved_at: resolved,
        reporter: None,
        run_id: Uuid::nil(),
    }
}

fn value(values: &[DayValue], day: u32, metric: Metric) -> (Option<f64>, u64) {
    let v = values
        .iter()
        .find(|v| v.date.day0() + 1 == day && v.metric == metric)
        .unwrap();
    (v.value, v.sample_size)
}

fn days(range: std::ops::RangeInclusive<u32>) -> Vec<NaiveDate> {
    range.map(|d| at(d, 0).date_naive()).collect()
}

fn all(silver: &TeamSilver, days: &[NaiveDate]) -> Computed {
    compute(
        &Definitions::default(),
        silver,
        &CoverageStarts::default(),
        days,
        &Metric::ALL,
    )
}

#[test]
fn medians_interpolate_between_the_two_middle_values() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
}

#[test]
fn without_commit_history_a_change_ships_with_the_first_deployment_started_after_its_merge() {
    let silver = TeamSilver {
        deployments: vec![
            deploy("a", at(2, 10), "success", "production"),
            deploy("a", at(2, 16), "success", "production"),
            deploy("a", at(2, 12), "failure", "production"),
            deploy("a", at(2, 13), "success", "staging"),
            deploy("b", at(3, 9), "success", "production"),
        ],
        changes: vec![
            // Shipped by the 10:00 deploy: 10 h and 4 h.
            change("a", at(2, 0), at(2, 9)),
            change("a", at(2, 6), at(2, 10)),
            // Merged after the last deploy of repo a: never shipped.
            change("a", at(2, 17), at(2, 18)),
            // Repo b: shipped on the 3rd after 33 h.
            change("b", at(2, 0), at(2, 20)),
        ],
        incidents: vec![
            // Linked to the 16:00 deploy, resolved on the 3rd 5 h after it
            // was opened, 9 h after the failed deployment.
            incident(at(2, 20), Some(at(3, 1)), "P1"),
            // Before any deployment: not linked; it still has a time to restore.
            incident(at(1, 5), Some(at(1, 6)), "P2"),
        ],
        commits: Vec::new(),
    };
    let computed = all(&silver, &days(1..=3));
    let v = &computed.values;
    assert_eq!(v.len(), 18);
    assert_eq!(value(v, 1, Metric::DeploymentFrequency), (Some(0.0), 0));
    assert_eq!(value(v, 1, Metric::ChangeFailureRate), (None, 0));
    assert_eq!(value(v, 2, Metric::DeploymentFrequency), (Some(2.0), 2));
    assert_eq!(value(v, 2, Metric::LeadTimeForChanges), (Some(7.0), 2));
    assert_eq!(value(v, 2, Metric::ChangeFailureRate), (Some(0.5), 2));
    assert_eq!(value(v, 3, Metric::LeadTimeForChanges), (Some(33.0), 1));
    assert_eq!(
        value(v, 3, Metric::FailedDeploymentRecoveryTime),
        (Some(9.0), 1)
    );
    assert_eq!(value(v, 3, Metric::TimeToRestoreService), (Some(5.0), 1));
    assert_eq!(value(v, 1, Metric::FailedDeploymentRecoveryTime), (None, 0));
    assert_eq!(value(v, 1, Metric::TimeToRestoreService), (Some(1.0), 1));
    assert_eq!(computed.tally.by_time, 3);
    assert_eq!(computed.tally.not_yet_deployed, 1);
}

#[test]
fn an_excluded_priority_no_longer_fails_its_deployment() {
    let silver = TeamSilver {
        deployments: vec![deploy("a", at(2, 10), "success", "production")],
        incidents: vec![incident(at(2, 11), Some(at(2, 13)), "P4")],
        ..TeamSilver::default()
    };
    let days = [at(2, 0).date_naive()];
    let mut defs = Definitions::default();
    let starts = CoverageStarts::default();
    let before = compute(&defs, &silver, &starts, &days, &[Metric::ChangeFailureRate]);
    defs.excluded_priorities = vec!["P4".into()];
    let after = compute(&defs, &silver, &starts, &days, &[Metric::ChangeFailureRate]);
    assert_eq!(before.values[0].value, Some(1.0));
    assert_eq!(after.values[0].value, Some(0.0));
}

#[test]
fn an_incident_links_only_to_a_deployment_within_the_link_window() {
    let silver = TeamSilver {
        deployments: vec![deploy("a", at(2, 10), "success", "production")],
        incidents: vec![
            // 7 days and 1 hour after the deployment: past the window.
            incident(at(9, 11), Some(at(9, 12)), "P1"),
        ],
        ..TeamSilver::default()
    };
    let computed = all(&silver, &days(2..=9));
    assert_eq!(
        value(&computed.values, 2, Metric::ChangeFailureRate),
        (Some(0.0), 1)
    );
    assert_eq!(
        value(&computed.values, 9, Metric::FailedDeploymentRecoveryTime),
        (None, 0)
    );
    assert_eq!(
        value(&computed.values, 9, Metric::TimeToRestoreService),
        (Some(1.0), 1)
    );
    let wider = Definitions {
        incident_link_window_hours: 24 * 8,
        ..Definitions::default()
    };
    let linked = compute(
        &wider,
        &silver,
        &CoverageStarts::default(),
        &days(2..=9),
        &Metric::ALL,
    );
    assert_eq!(
        value(&linked.values, 2, Metric::ChangeFailureRate),
        (Some(1.0), 1)
    );
}

/// The worked example of docs/metrics.md, number for number.
#[test]
fn the_worked_example_of_the_definitions_page_holds() {
    let history = vec![
        commit("c1", Some("c0"), at(2, 9)),
        commit("c2", Some("c1"), at(2, 10)),
        commit("c3", Some("c2"), at(2, 11)),
    ];
    let mut pr3 = merged_as("c3", at(2, 13), at(2, 11));
    pr3.title = Some("Speed up the ledger".into());
    let silver = TeamSilver {
        deployments: vec![
            deploy_of("c1", at_min(2, 9, 30), at_min(2, 10, 30)),
            deploy_of("c0", at_min(2, 9, 50), at_min(2, 10, 40)),
            deploy_of("c3", at_min(2, 11, 10), at_min(2, 11, 30)),
        ],
        changes: vec![
            merged_as("c0", at(1, 20), at(1, 22)),
            merged_as("c1", at(2, 6), at(2, 9)),
            merged_as("c2", at(2, 8), at(2, 10)),
            pr3.clone(),
        ],
        incidents: vec![SilverIncident {
            key: "INC-7".into(),
            ..incident(at_min(2, 10, 50), Some(at_min(2, 12, 50)), "P1")
        }],
        commits: history,
    };
    let starts = CoverageStarts([("acme/pay-api".to_owned(), at(2, 0))].into());
    let defs = Definitions::default();
    let computed = compute(&defs, &silver, &starts, &days(2..=2), &Metric::ALL);
    let v = &computed.values;
    assert_eq!(value(v, 2, Metric::DeploymentFrequency), (Some(3.0), 3));
    assert_eq!(value(v, 2, Metric::LeadTimeForChanges), (Some(4.0), 2));
    assert_eq!(value(v, 2, Metric::ChangeFailureRate).1, 3);
    assert!((value(v, 2, Metric::ChangeFailureRate).0.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    let (recovery, n) = value(v, 2, Metric::FailedDeploymentRecoveryTime);
    assert_eq!(n, 1);
    assert!((recovery.unwrap() - 130.0 / 60.0).abs() < 1e-12);
    assert_eq!(value(v, 2, Metric::TimeToRestoreService), (Some(2.0), 1));
    assert_eq!(value(v, 2, Metric::DeploymentReworkRate), (Some(0.0), 3));
    assert_eq!(computed.tally.by_history, 3);
    assert_eq!(computed.tally.dropped[FIRST_COMMIT_AFTER_DEPLOYMENT], 1);
    assert_eq!(computed.tally.dropped[MERGED_BEFORE_COVERAGE], 1);

    // With PR 3 on a hotfix branch naming the incident, D3 is rework.
    let mut hotfix = silver.clone();
    hotfix.changes[3].head_ref = Some("hotfix/INC-7".into());
    let computed = compute(&defs, &hotfix, &starts, &days(2..=2), &Metric::ALL);
    let (rate, n) = value(&computed.values, 2, Metric::DeploymentReworkRate);
    assert_eq!(n, 3);
    assert!((rate.unwrap() - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn a_deployment_of_an_older_commit_finishing_after_a_merge_does_not_ship_it() {
    let silver = TeamSilver {
        deployments: vec![
            // Started before the merge with the old head, finished after it.
            deploy_of("c1", at(2, 9), at(2, 11)),
            deploy_of("c2", at(2, 12), at(2, 13)),
        ],
        changes: vec![merged_as("c2", at(2, 8), at(2, 10))],
        commits: vec![
            commit("c1", None, at(2, 8)),
            commit("c2", Some("c1"), at(2, 10)),
        ],
        ..TeamSilver::default()
    };
    let computed = all(&silver, &days(2..=2));
    assert_eq!(
        value(&computed.values, 2, Metric::LeadTimeForChanges),
        (Some(5.0), 1)
    );
    assert_eq!(computed.tally.by_history, 1);
}

#[test]
fn a_redeploy_of_an_unknown_commit_falls_back_to_its_start_and_is_counted() {
    let silver = TeamSilver {
        deployments: vec![
            // Commit outside the listed history, started after the merge.
            deploy_of("elsewhere", at(2, 11), at(2, 12)),
        ],
        changes: vec![merged_as("c2", at(2, 8), at(2, 10))],
        commits: vec![commit("c2", None, at(2, 10))],
        ..TeamSilver::default()
    };
    let computed = all(&silver, &days(2..=2));
    assert_eq!(
        value(&computed.values, 2, Metric::LeadTimeForChanges),
        (Some(4.0), 1)
    );
    assert_eq!(computed.tally.by_time, 1);
}

#[test]
fn rework_needs_the_incident_key_as_a_word_or_a_pattern() {
    let defs = Definitions::default();
    let rules = rework::Rework::new(&defs, ["PAY-12".to_owned()]);
    let with = |title: &str, branch: &str| SilverChange {
        title: Some(title.into()),
        head_ref: Some(branch.into()),
        ..change("a", at(2, 1), at(2, 2))
    };
    assert!(rules.is_rework_change(&with("Fix PAY-12: timeouts", "feature/x")));
    assert!(rules.is_rework_change(&with("Timeouts", "fix/pay-12")));
    assert!(!rules.is_rework_change(&with("Fix PAY-123", "feature/x")));
    assert!(!rules.is_rework_change(&with("Fix XPAY-12", "feature/x")));
    assert!(rules.is_rework_change(&with("Revert \"Add cache\"", "revert-7-cache")));
    assert!(rules.is_rework_change(&with("Retry", "hotfix/retry")));
    assert!(!rules.is_rework_change(&with("Add a cache", "feature/cache")));
}

/// The worked example's silver and coverage, for the drill-down tests.
fn worked_example() -> (TeamSilver, CoverageStarts) {
    let silver = TeamSilver {
        deployments: vec![
            deploy_of("c1", at_min(2, 9, 30), at_min(2, 10, 30)),
            deploy_of("c0", at_min(2, 9, 50), at_min(2, 10, 40)),
            deploy_of("c3", at_min(2, 11, 10), at_min(2, 11, 30)),
        ],
        changes: vec![
            merged_as("c0", at(1, 20), at(1, 22)),
            merged_as("c1", at(2, 6), at(2, 9)),
            merged_as("c2", at(2, 8), at(2, 10)),
            SilverChange {
                head_ref: Some("hotfix/INC-7".into()),
                ..merged_as("c3", at(2, 13), at(2, 11))
            },
        ],
        incidents: vec![SilverIncident {
            key: "INC-7".into(),
            ..incident(at_min(2, 10, 50), Some(at_min(2, 12, 50)), "P1")
        }],
        commits: vec![
            commit("c1", Some("c0"), at(2, 9)),
            commit("c2", Some("c1"), at(2, 10)),
            commit("c3", Some("c2"), at(2, 11)),
        ],
    };
    let starts = CoverageStarts([("acme/pay-api".to_owned(), at(2, 0))].into());
    (silver, starts)
}

#[test]
fn the_records_behind_each_value_are_as_many_as_its_sample() {
    let (silver, starts) = worked_example();
    let defs = Definitions::default();
    let day = at(2, 0).date_naive();
    let computed = compute(&defs, &silver, &starts, &[day], &Metric::ALL);
    for v in &computed.values {
        let behind = records_behind(&defs, &silver, &starts, day, v.metric);
        let records = match v.metric {
            Metric::DeploymentFrequency
            | Metric::ChangeFailureRate
            | Metric::DeploymentReworkRate => behind.deployments.len(),
            Metric::LeadTimeForChanges => behind
                .changes
                .iter()
                .filter(|c| c.lead_time_hours.is_some())
                .count(),
            Metric::FailedDeploymentRecoveryTime | Metric::TimeToRestoreService => {
                behind.incidents.len()
            }
        };
        assert_eq!(records as u64, v.sample_size, "{}", v.metric);
    }
    let lead = records_behind(&defs, &silver, &starts, day, Metric::LeadTimeForChanges);
    let dropped: Vec<_> = lead
        .changes
        .iter()
        .filter_map(|c| c.dropped.clone())
        .collect();
    assert_eq!(dropped, [FIRST_COMMIT_AFTER_DEPLOYMENT]);
    let rework = records_behind(&defs, &silver, &starts, day, Metric::DeploymentReworkRate);
    assert_eq!(rework.deployments.iter().filter(|d| d.rework).count(), 1);
    assert_eq!(rework.changes.iter().filter(|c| c.rework).count(), 1);
    let recovery = records_behind(
        &defs,
        &silver,
        &starts,
        day,
        Metric::FailedDeploymentRecoveryTime,
    );
    assert_eq!(recovery.deployments.len(), 1, "the failed deployment, D2");
    assert_eq!(recovery.deployments[0].sha.as_deref(), Some("c0"));
    assert_eq!(
        recovery.incidents[0].linked_deployment.as_deref(),
        Some(recovery.deployments[0].key.as_str())
    );
}
