use super::*;
use chrono::Utc;
use uuid::Uuid;

fn g(day: u32, metric: Metric, value: Option<f64>, samples: Vec<f64>) -> GoldRecord {
    GoldRecord {
        date: NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
        team_id: "t".into(),
        metric,
        value,
        sample_size: if metric == Metric::DeploymentFrequency {
            value.unwrap_or(0.0) as u64
        } else {
            samples.len() as u64
        },
        samples,
        definition_version: 1,
        run_id: Uuid::nil(),
        computed_at: Utc::now(),
        complete: true,
    }
}

fn summary(r: &TeamReport, metric: Metric) -> &MetricSummary {
    r.summary.iter().find(|s| s.metric == metric).unwrap()
}

#[test]
fn a_metric_without_gold_is_unknown_alone_and_names_the_missing_input() {
    let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let gold = vec![
        g(1, Metric::DeploymentFrequency, Some(1.0), vec![]),
        g(1, Metric::LeadTimeForChanges, Some(2.0), vec![2.0]),
    ];
    let mut r = team_report(
        "t",
        &gold,
        d,
        d + Duration::days(1),
        &LevelThresholds::default(),
    );
    let at = |h: u32| d.and_hms_opt(h, 0, 0).unwrap().and_utc();
    let scopes = vec![
        ScopeCoverage {
            source: Source::Github,
            target: "acme/api".into(),
            covered: Some((at(0) - Duration::days(9), at(0) + Duration::days(2))),
        },
        ScopeCoverage {
            source: Source::Jira,
            target: "PAY".into(),
            covered: Some((at(0) - Duration::days(9), at(7))),
        },
    ];
    r.explain_unknowns(&Definitions::default(), &scopes, &[]);
    let day = &r.days[0];
    assert_eq!(
        day.metrics.len(),
        2,
        "deployment frequency and lead time are known"
    );
    let jira = "jira incomplete for PAY since 2026-03-01 07:00";
    assert_eq!(day.unknown[&Metric::ChangeFailureRate].reason, jira);
    assert_eq!(summary(&r, Metric::DeploymentFrequency).known_days, 1);
    assert_eq!(summary(&r, Metric::ChangeFailureRate).known_days, 0);
    for metric in [
        Metric::FailedDeploymentRecoveryTime,
        Metric::DeploymentReworkRate,
        Metric::TimeToRestoreService,
    ] {
        assert_eq!(
            summary(&r, metric).unknown_reason.as_deref(),
            Some(jira),
            "{metric}"
        );
    }
}

/// Every metric known on days 1 and 3 of March, nothing on the 2nd.
fn two_known_days() -> Vec<GoldRecord> {
    vec![
        g(1, Metric::DeploymentFrequency, Some(2.0), vec![]),
        g(1, Metric::LeadTimeForChanges, Some(2.0), vec![1.0, 3.0]),
        g(1, Metric::ChangeFailureRate, Some(0.5), vec![0.0, 1.0]),
        g(1, Metric::FailedDeploymentRecoveryTime, None, vec![]),
        g(1, Metric::DeploymentReworkRate, Some(0.5), vec![1.0, 0.0]),
        g(1, Metric::TimeToRestoreService, Some(0.5), vec![0.5]),
        g(3, Metric::DeploymentFrequency, Some(0.0), vec![]),
        g(3, Metric::LeadTimeForChanges, Some(10.0), vec![10.0]),
        g(3, Metric::ChangeFailureRate, None, vec![]),
        g(3, Metric::FailedDeploymentRecoveryTime, None, vec![]),
        g(3, Metric::DeploymentReworkRate, None, vec![]),
        g(3, Metric::TimeToRestoreService, None, vec![]),
    ]
}

#[test]
fn a_range_summary_uses_every_sample_and_shows_unknown_days() {
    let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let r = team_report(
        "t",
        &two_known_days(),
        d,
        d + Duration::days(3),
        &LevelThresholds::default(),
    );
    assert_eq!((r.known_days, r.unknown_days), (2, 1));
    assert!(r.days[1].metrics.is_empty(), "the 2nd is unknown");
    assert!(!r.days[1].is_known());
    assert_eq!(r.summary.len(), Metric::ALL.len());
    let recovery = summary(&r, Metric::FailedDeploymentRecoveryTime);
    assert_eq!(recovery.known_days, 2);
    assert_eq!(recovery.value, None);
    let lead = summary(&r, Metric::LeadTimeForChanges);
    assert_eq!(
        (lead.value, lead.sample_size),
        (Some(3.0), 3),
        "median of all samples"
    );
    let freq = summary(&r, Metric::DeploymentFrequency);
    assert_eq!(freq.value, Some(1.0), "2 deployments over 2 known days");
    let deploys = freq.deploy_days.unwrap();
    assert_eq!(deploys.days, 1);
    assert!((deploys.per_week - 3.5).abs() < 1e-9);
    assert_eq!(freq.level, Some(Level::High), "3.5 deploy days a week");
    assert_eq!(summary(&r, Metric::ChangeFailureRate).value, Some(0.5));
    let rework = summary(&r, Metric::DeploymentReworkRate);
    assert_eq!((rework.value, rework.level), (Some(0.5), None));
    assert!(rework.no_level_reason.is_some());
    let restore = summary(&r, Metric::TimeToRestoreService);
    assert_eq!(restore.level, Some(Level::Elite), "half an hour");
    assert_eq!(r.overall, Some(Level::Low), "a 50 % failure rate is low");
    assert_eq!((r.levels.year, r.levels.overridden), (2024, false));
}

#[test]
fn a_burst_month_is_rated_by_its_deploy_days() {
    // 30 known days: 8 deployments on the 3rd, 1 on the 20th, none else.
    let from = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let gold: Vec<GoldRecord> = (1..=30)
        .map(|day| {
            let n = match day {
                3 => 8.0,
                20 => 1.0,
                _ => 0.0,
            };
            g(day, Metric::DeploymentFrequency, Some(n), vec![])
        })
        .collect();
    let r = team_report(
        "t",
        &gold,
        from,
        from + Duration::days(30),
        &LevelThresholds::default(),
    );
    let freq = summary(&r, Metric::DeploymentFrequency);
    assert_eq!((freq.value, freq.sample_size), (Some(0.3), 9));
    let deploys = freq.deploy_days.unwrap();
    assert_eq!(deploys.days, 2);
    assert!((deploys.per_month - 2.0 * 30.44 / 30.0).abs() < 1e-9);
    assert_eq!(
        freq.level,
        Some(Level::Medium),
        "0.3 deployments a day would be high; 2 deploy days a month are not"
    );
}

#[test]
fn the_levels_follow_the_chosen_year() {
    let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let gold = vec![g(1, Metric::ChangeFailureRate, Some(0.12), vec![0.12])];
    let rated = |year| {
        let t = LevelThresholds::for_year(year).unwrap();
        let r = team_report("t", &gold, d, d + Duration::days(1), &t);
        (r.levels.year, summary(&r, Metric::ChangeFailureRate).level)
    };
    assert_eq!(rated(2021), (2021, Some(Level::Elite)));
    assert_eq!(rated(2023), (2023, Some(Level::Medium)));
    assert_eq!(rated(2024), (2024, Some(Level::High)));
}
