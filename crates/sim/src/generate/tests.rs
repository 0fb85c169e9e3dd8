use super::*;
use chrono::{DateTime, NaiveDate, Utc};

fn options(seed: u64) -> SimOptions {
    SimOptions {
        seed,
        end_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        ..SimOptions::default()
    }
}

/// Every timestamp of the organisation (absent ones skipped), except commit
/// author dates, which a machine with a wrong clock may set in the future.
fn all_timestamps(org: &Organisation) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for repo in &org.repos {
        for p in &repo.pulls {
            out.extend(
                [
                    Some(p.created_at),
                    Some(p.updated_at),
                    p.closed_at,
                    p.merged_at,
                ]
                .into_iter()
                .flatten(),
            );
            out.extend(p.commits.iter().map(|c| c.committed_at));
        }
        for d in &repo.deployments {
            out.push(d.created_at);
            out.extend(d.statuses.iter().map(|s| s.created_at));
        }
    }
    for job in &org.jenkins_jobs {
        for b in &job.builds {
            out.push(b.started_at);
            out.extend(b.finished_at());
        }
    }
    for issue in org.jira_projects.iter().flat_map(|p| &p.issues) {
        out.push(issue.created);
        out.extend(issue.resolved);
        out.extend(issue.transitions.iter().map(|t| t.at));
    }
    out
}

#[test]
fn the_same_seed_generates_the_same_organisation_and_another_seed_a_different_one() {
    let a = generate(&options(7));
    assert_eq!(a, generate(&options(7)));
    let b = generate(&options(8));
    assert_ne!(a.repos, b.repos);
    assert_ne!(a.ground_truth(), b.ground_truth());
}

#[test]
fn who_works_where_depends_on_neither_the_end_date_nor_the_length() {
    let base = generate(&options(42));
    for (end_date, days) in [
        (NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(), 90),
        (NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(), 365),
        (NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(), 7),
    ] {
        let other = generate(&SimOptions {
            end_date,
            days,
            ..options(42)
        });
        assert_eq!(other.people, base.people, "{end_date} {days}");
        assert_eq!(other.identity_configs(), base.identity_configs());
        assert_eq!(other.team_configs(), base.team_configs());
    }
}

#[test]
fn the_view_as_of_the_end_shows_only_the_covered_range_while_the_history_goes_on_after_it() {
    let history = generate(&options(1));
    let view = history.as_of(history.end);
    let stamps = all_timestamps(&view);
    assert!(stamps.len() > 5_000, "{}", stamps.len());
    let outside: Vec<_> = stamps
        .iter()
        .filter(|t| **t < view.start || **t > view.end)
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    let later = all_timestamps(&history)
        .into_iter()
        .filter(|t| *t > history.end)
        .count();
    assert!(later > 0, "nothing happens after the end of the range");
    assert!(all_timestamps(&history).iter().all(|t| *t >= history.start));
}

#[test]
fn weekends_and_the_holiday_week_are_quieter_than_ordinary_weekdays() {
    let org = generate(&options(3));
    let holiday = org
        .holiday_start
        .expect("90 days leave room for a holiday week");
    assert!(holiday >= org.start.date_naive() + chrono::Duration::days(28));
    assert!(holiday + chrono::Duration::days(7) <= org.end.date_naive());
    let in_holiday = |d: NaiveDate| d >= holiday && d < holiday + chrono::Duration::days(7);
    let merges: Vec<NaiveDate> = org
        .repos
        .iter()
        .flat_map(|r| &r.pulls)
        .filter(|p| !p.author_is_bot)
        .filter_map(|p| p.merged_at.map(|m| m.date_naive()))
        .collect();
    let per_day = |pick: &dyn Fn(NaiveDate) -> bool| {
        let days = org.dates().into_iter().filter(|d| pick(*d)).count() as f64;
        merges.iter().filter(|d| pick(**d)).count() as f64 / days
    };
    let weekday = per_day(&|d| !is_weekend(d) && !in_holiday(d));
    let weekend = per_day(&|d| is_weekend(d) && !in_holiday(d));
    let holiday_weekday = per_day(&|d| !is_weekend(d) && in_holiday(d));
    assert!(
        weekend < weekday * 0.5,
        "weekend {weekend} vs weekday {weekday}"
    );
    assert!(
        holiday_weekday < weekday * 0.5,
        "holiday {holiday_weekday} vs weekday {weekday}"
    );
}

#[test]
fn a_complete_extraction_of_the_default_organisation_needs_under_two_thousand_github_requests() {
    let org = generate(&options(11));
    let pages = |n: usize| n.div_ceil(100).max(1);
    let requests: usize = org
        .repos
        .iter()
        .map(|r| {
            let merged = r.pulls.iter().filter(|p| p.merged_at.is_some()).count();
            pages(r.pulls.len()) + merged + pages(r.deployments.len()) + r.deployments.len()
        })
        .sum();
    assert!((500..2_000).contains(&requests), "{requests}");
}

#[test]
fn bots_and_their_awkward_commits_are_present() {
    let org = generate(&options(5));
    let pulls: Vec<_> = org.repos.iter().flat_map(|r| &r.pulls).collect();
    let bot_only = pulls
        .iter()
        .filter(|p| p.author_login == "dependabot[bot]")
        .filter(|p| p.first_human_commit_at().is_none())
        .count();
    assert!(bot_only > 0);
    let bot_first = pulls
        .iter()
        .filter(|p| !p.author_is_bot && p.merged_at.is_some())
        .filter(|p| p.commits.first().is_some_and(|c| c.is_bot()))
        .count();
    assert!(bot_first > 0, "no human PR whose first commit is a bot's");
}

#[test]
fn people_have_a_different_looking_identity_in_every_tool() {
    let org = generate(&options(5));
    assert_eq!(org.teams.len(), 5);
    assert!(org.teams.iter().all(|t| (3..=6).contains(&t.members.len())));
    for p in &org.people {
        let names = [
            &p.contributor_id,
            &p.github_login,
            &p.jira_email,
            &p.jenkins_user,
        ];
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(a, b, "{p:?}");
            }
        }
    }
    let logins: std::collections::HashSet<_> = org.people.iter().map(|p| &p.github_login).collect();
    assert_eq!(logins.len(), org.people.len());
}

#[test]
fn failures_aborts_and_work_still_running_at_the_end_are_generated() {
    let history = generate(&options(9));
    assert!(
        history
            .jenkins_jobs
            .iter()
            .flat_map(|j| &j.builds)
            .all(|b| !b.building && b.result.is_some()),
        "the history knows how every build ends"
    );
    let org = history.as_of(history.end);
    let builds: Vec<_> = org.jenkins_jobs.iter().flat_map(|j| &j.builds).collect();
    assert!(
        builds
            .iter()
            .any(|b| b.building && b.result.is_none() && b.duration_ms == 0)
    );
    assert!(
        builds
            .iter()
            .any(|b| b.result == Some(crate::model::BuildResult::Aborted))
    );
    let latest_states: Vec<&str> = org
        .repos
        .iter()
        .flat_map(|r| &r.deployments)
        .filter_map(|d| d.latest_status().map(|s| s.state.as_str()))
        .collect();
    for state in ["success", "failure", "error"] {
        assert!(
            latest_states.contains(&state),
            "no deployment ending in {state}"
        );
    }
    let issues: Vec<_> = org.jira_projects.iter().flat_map(|p| &p.issues).collect();
    let incidents = issues.iter().filter(|i| i.issue_type == "Incident").count();
    assert!((50..300).contains(&incidents), "{incidents}");
    assert!(issues.iter().any(|i| i.resolved.is_none()));
}

#[test]
fn a_single_team_organisation_is_generated_and_teams_below_one_are_raised_to_one() {
    let org = generate(&SimOptions {
        teams: 0,
        days: 10,
        ..options(1)
    });
    assert_eq!(org.teams.len(), 1);
    assert_eq!(org.teams[0].id, "payments");
    assert_eq!(org.holiday_start, None);
    assert_eq!(org.dates().len(), 10);
    let config = &org.team_configs()[0];
    assert_eq!(
        config.github_repos,
        vec!["acme/payments-api", "acme/payments-web"]
    );
    assert_eq!(config.jira_projects, vec!["PAY"]);
    assert_eq!(
        config.jenkins_jobs,
        vec!["payments-web-deploy", "payments-web-ci"]
    );
}

#[test]
fn two_hundred_teams_of_five_repositories_make_a_thousand_repository_organisation() {
    let org = generate(&SimOptions {
        teams: 200,
        repos_per_team: 5,
        days: 14,
        ..options(7)
    });
    assert_eq!(org.repos.len(), 1_000);
    let names: std::collections::BTreeSet<_> = org.repos.iter().map(|r| &r.name).collect();
    assert_eq!(names.len(), 1_000, "repository names are unique");
    let config = &org.team_configs()[0];
    assert_eq!(
        config.github_repos,
        vec![
            "acme/payments-api",
            "acme/payments-web",
            "acme/payments-svc1",
            "acme/payments-svc2",
            "acme/payments-svc3"
        ]
    );
    let services = org.repos.iter().filter(|r| r.name.contains("-svc"));
    assert!(
        services
            .clone()
            .all(|r| r.deploys_with == DeployMechanism::GithubDeployments)
    );
    assert!(
        services.map(|r| r.deployments.len()).sum::<usize>() > 0,
        "the services deploy"
    );
}

#[test]
fn at_two_repositories_per_team_the_world_is_the_one_without_services() {
    let default = generate(&options(3));
    let explicit = generate(&SimOptions {
        repos_per_team: 2,
        ..options(3)
    });
    assert_eq!(default, explicit);
    let with_services = generate(&SimOptions {
        repos_per_team: 3,
        ..options(3)
    });
    assert_eq!(
        with_services.repos.len(),
        default.repos.len() + default.teams.len()
    );
    assert_eq!(
        with_services.jira_projects.len(),
        default.jira_projects.len(),
        "one Jira project per team whatever the repository count"
    );
}
