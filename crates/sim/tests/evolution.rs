//! The generated history and the view of it as of an instant: every new kind
//! of late event exists in the default organisation, and `as_of` shows each
//! event only from its time on.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use dorafleet_sim::{
    DONE, GithubDeployment, INCIDENT_ISSUE_TYPE, JiraIssue, JobKind, METRICS, Organisation,
    REOPENED, SimOptions, generate,
};
use std::sync::OnceLock;

/// The default organisation (seed 42, 90 days, 5 teams) on a fixed end date.
fn history() -> &'static Organisation {
    static HISTORY: OnceLock<Organisation> = OnceLock::new();
    HISTORY.get_or_init(|| {
        generate(&SimOptions {
            end_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            ..SimOptions::default()
        })
    })
}

fn deployments(org: &Organisation) -> impl Iterator<Item = &GithubDeployment> {
    org.repos.iter().flat_map(|r| &r.deployments)
}

fn incidents(org: &Organisation) -> impl Iterator<Item = &JiraIssue> {
    org.jira_projects
        .iter()
        .flat_map(|p| &p.issues)
        .filter(|i| i.issue_type == INCIDENT_ISSUE_TYPE)
}

fn is_terminal(state: &str) -> bool {
    ["success", "failure", "error"].contains(&state)
}

/// Deployments whose outcome comes at least an hour after they started.
fn slow_deployments(org: &Organisation) -> Vec<&GithubDeployment> {
    deployments(org)
        .filter(|d| {
            let started = d.statuses.iter().find(|s| s.state == "in_progress");
            let outcome = d.statuses.iter().find(|s| is_terminal(&s.state));
            matches!((started, outcome), (Some(s), Some(o)) if o.created_at - s.created_at >= Duration::hours(1))
        })
        .collect()
}

fn reopened(org: &Organisation) -> Vec<&JiraIssue> {
    incidents(org)
        .filter(|i| i.transitions.iter().any(|t| t.to == REOPENED))
        .collect()
}

fn one_second() -> Duration {
    Duration::seconds(1)
}

#[test]
fn about_a_tenth_of_deployments_stay_in_progress_for_hours_and_those_fail_more_often() {
    let all = deployments(history()).count();
    let slow = slow_deployments(history());
    let share = slow.len() as f64 / all as f64;
    assert!((0.05..0.16).contains(&share), "{} of {all}", slow.len());
    let failed = |ds: &[&GithubDeployment]| {
        ds.iter()
            .filter(|d| d.latest_status().is_some_and(|s| s.state != "success"))
            .count() as f64
            / ds.len() as f64
    };
    let fast: Vec<_> = deployments(history())
        .filter(|d| !slow.iter().any(|s| s.id == d.id))
        .filter(|d| d.deleted_at.is_none())
        .collect();
    assert!(
        failed(&slow) > failed(&fast),
        "{} vs {}",
        failed(&slow),
        failed(&fast)
    );
    assert!(slow.iter().all(
        |d| d.statuses.last().unwrap().created_at - d.statuses[1].created_at <= Duration::hours(8)
    ));
}

#[test]
fn some_deploy_builds_run_half_an_hour_to_an_hour_and_a_half() {
    let long = history()
        .jenkins_jobs
        .iter()
        .filter(|j| j.kind == JobKind::Deploy)
        .flat_map(|j| &j.builds)
        .filter(|b| b.duration_ms >= 30 * 60_000)
        .inspect(|b| assert!(b.duration_ms < 90 * 60_000, "{b:?}"))
        .count();
    assert!(long >= 5, "{long}");
}

#[test]
fn reopened_incidents_are_resolved_again_and_their_resolution_is_the_second_done() {
    let reopened = reopened(history());
    assert!(!reopened.is_empty());
    for issue in reopened {
        let statuses: Vec<&str> = issue.transitions.iter().map(|t| t.to.as_str()).collect();
        assert_eq!(
            statuses,
            ["In Progress", DONE, REOPENED, DONE],
            "{}",
            issue.key
        );
        let t = &issue.transitions;
        assert!(
            t[2].at - t[1].at >= Duration::hours(2) && t[2].at - t[1].at <= Duration::hours(72)
        );
        assert!(t[3].at - t[2].at >= Duration::hours(1));
        assert_eq!(issue.resolved, Some(t[3].at), "{}", issue.key);
    }
}

#[test]
fn some_incidents_are_done_without_a_resolution_date_as_of_any_instant() {
    let unset: Vec<_> = incidents(history())
        .filter(|i| i.resolution_unset)
        .collect();
    assert!(!unset.is_empty());
    for issue in unset {
        assert_eq!(issue.status(), DONE, "{}", issue.key);
        assert_eq!(issue.resolved, None);
        let later = issue.as_of(issue.updated() + Duration::days(1)).unwrap();
        assert_eq!((later.status(), later.resolved), (DONE, None));
    }
}

#[test]
fn deleted_deployments_never_got_an_outcome_and_deleted_pull_requests_were_closed_unmerged() {
    let deleted: Vec<_> = deployments(history())
        .filter(|d| d.deleted_at.is_some())
        .collect();
    assert!(!deleted.is_empty());
    for d in deleted {
        let gone = d.deleted_at.unwrap();
        assert!(gone - d.created_at >= Duration::minutes(2));
        assert!(gone - d.created_at <= Duration::minutes(40));
        assert!(
            d.statuses
                .iter()
                .all(|s| s.created_at < gone && !is_terminal(&s.state))
        );
    }
    let pulls: Vec<_> = history()
        .repos
        .iter()
        .flat_map(|r| &r.pulls)
        .filter(|p| p.deleted_at.is_some())
        .collect();
    assert!(!pulls.is_empty());
    for p in pulls {
        assert!(p.merged_at.is_none());
        assert!(p.deleted_at > p.closed_at && p.closed_at.is_some());
    }
}

#[test]
fn some_merged_pull_requests_have_a_commit_authored_after_the_merge_but_pushed_before_it() {
    let skewed: Vec<_> = history()
        .repos
        .iter()
        .flat_map(|r| &r.pulls)
        .filter_map(|p| Some((p, p.merged_at?)))
        .flat_map(|(p, merged)| {
            p.commits
                .iter()
                .filter(move |c| c.authored_at > merged)
                .map(move |c| (p, merged, c))
        })
        .collect();
    assert!(skewed.len() >= 3, "{}", skewed.len());
    let mut single = 0;
    for (p, merged, c) in skewed {
        assert!(c.committed_at <= merged, "{}", c.sha);
        assert!(c.authored_at - merged >= Duration::hours(1));
        assert!(!c.is_bot() && !p.author_is_bot);
        // One skewed commit leaves the first human commit before the merge;
        // a pull request written wholly on a fast clock does not.
        if p.first_human_commit_at().unwrap() < merged {
            single += 1;
        }
    }
    assert!(single >= 1);
}

#[test]
fn some_merged_pull_requests_were_written_wholly_on_a_fast_clock() {
    let fast: Vec<_> = history()
        .repos
        .iter()
        .flat_map(|r| &r.pulls)
        .filter(|p| !p.author_is_bot)
        .filter(|p| {
            p.merged_at
                .zip(p.first_human_commit_at())
                .is_some_and(|(merged, first)| first - merged >= Duration::hours(12))
        })
        .collect();
    assert!(!fast.is_empty());
    for p in fast {
        // Pushed before the merge, like every commit of a merged pull request.
        assert!(
            p.commits
                .iter()
                .all(|c| c.committed_at <= p.merged_at.unwrap())
        );
    }
}

#[test]
fn a_deployment_outcome_is_invisible_before_its_time_and_visible_from_it() {
    let d = slow_deployments(history())[0];
    let outcome = d.statuses.last().unwrap();
    let at = |t: DateTime<Utc>| d.as_of(t);
    assert_eq!(at(d.created_at - one_second()), None);
    let before = at(outcome.created_at - one_second()).unwrap();
    assert_eq!(before.latest_status().unwrap().state, "in_progress");
    assert_eq!(before.updated_at(), d.statuses[1].created_at);
    let after = at(outcome.created_at).unwrap();
    assert_eq!(after.latest_status().unwrap().state, outcome.state);
    assert_eq!(after.statuses, d.statuses);
}

#[test]
fn a_build_shows_building_until_it_finishes_and_its_result_from_then_on() {
    let job = history()
        .jenkins_jobs
        .iter()
        .find(|j| j.kind == JobKind::Deploy)
        .unwrap();
    let b = job
        .builds
        .iter()
        .find(|b| b.duration_ms >= 30 * 60_000)
        .unwrap();
    let finished = b.finished_at().unwrap();
    assert_eq!(b.as_of(b.started_at - Duration::milliseconds(1)), None);
    let running = b.as_of(finished - Duration::minutes(20)).unwrap();
    assert!(running.building);
    assert_eq!((running.result, running.duration_ms), (None, 0));
    let done = b.as_of(finished).unwrap();
    assert!(!done.building);
    assert_eq!(done, *b);
    // The job's view drops builds not yet started.
    let view = job.as_of(b.started_at - Duration::milliseconds(1));
    assert!(view.builds.iter().all(|x| x.number < b.number));
}

#[test]
fn a_reopened_incident_loses_its_resolution_and_regains_it_at_the_second_done() {
    let issue = reopened(history())[0];
    let t = &issue.transitions;
    let at = |when| issue.as_of(when).unwrap();
    assert_eq!(at(t[1].at).resolved, Some(t[1].at));
    assert_eq!(at(t[1].at).status(), DONE);
    let reopened = at(t[2].at);
    assert_eq!((reopened.status(), reopened.resolved), (REOPENED, None));
    assert_eq!(reopened.transitions.len(), 3);
    assert_eq!(at(t[3].at - one_second()).resolved, None);
    assert_eq!(at(t[3].at).resolved, Some(t[3].at));
    assert_eq!(issue.as_of(issue.created - one_second()), None);
}

#[test]
fn a_pull_request_shows_its_merge_close_and_pushes_only_once_they_happened() {
    let pull = history()
        .repos
        .iter()
        .flat_map(|r| &r.pulls)
        .find(|p| p.merged_at.is_some() && p.commits.iter().any(|c| c.committed_at > p.created_at))
        .unwrap();
    let merged = pull.merged_at.unwrap();
    let early = pull.as_of(pull.created_at).unwrap();
    assert!(early.commits.len() < pull.commits.len());
    assert_eq!(
        early.updated_at,
        pull.created_at.max(
            early
                .commits
                .iter()
                .map(|c| c.committed_at)
                .max()
                .unwrap_or(pull.created_at)
        )
    );
    let before = pull.as_of(merged - one_second()).unwrap();
    assert_eq!((before.merged_at, before.closed_at), (None, None));
    assert!(before.is_open() && before.updated_at < merged);
    let after = pull.as_of(merged).unwrap();
    assert_eq!(
        (after.merged_at, after.closed_at),
        (Some(merged), Some(merged))
    );
    assert_eq!(after.updated_at, merged);
    assert_eq!(
        pull.as_of(pull.updated_at).unwrap().updated_at,
        pull.updated_at
    );
}

#[test]
fn deleted_items_are_absent_from_their_deletion_on() {
    let d = deployments(history())
        .find(|d| d.deleted_at.is_some())
        .unwrap();
    let gone = d.deleted_at.unwrap();
    assert!(d.as_of(gone - one_second()).is_some());
    assert_eq!(d.as_of(gone), None);
    let repo = history()
        .repos
        .iter()
        .find(|r| r.deployments.iter().any(|x| x.id == d.id))
        .unwrap();
    assert!(!repo.as_of(gone).deployments.iter().any(|x| x.id == d.id));
    let p = history()
        .repos
        .iter()
        .flat_map(|r| &r.pulls)
        .find(|p| p.deleted_at.is_some())
        .unwrap();
    assert!(p.as_of(p.deleted_at.unwrap() - one_second()).is_some());
    assert_eq!(p.as_of(p.deleted_at.unwrap()), None);
}

#[test]
fn the_truth_as_of_an_instant_covers_only_the_days_that_are_over() {
    let org = history();
    let t = org.start + Duration::days(10) + Duration::hours(5);
    let truth = org.ground_truth_as_of(t);
    assert_eq!(truth.len(), org.teams.len() * 10 * METRICS.len());
    assert!(truth.iter().all(|r| r.date < t.date_naive()));
    assert!(org.ground_truth_as_of(org.start).is_empty());
    // As of the end of the range, every day of the range is over.
    let at_end = org.ground_truth_as_of(org.end);
    assert_eq!(
        at_end.len(),
        org.teams.len() * org.dates().len() * METRICS.len()
    );
    assert_eq!(at_end, org.as_of(org.end).ground_truth());
}

#[test]
fn a_reopened_incident_changes_the_recovery_time_of_the_day_it_was_first_resolved() {
    let org = history();
    let midnight = |t: DateTime<Utc>| {
        (t.date_naive() + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    };
    // A reopening after the first resolution's day is over, inside the range,
    // of an incident the truth counts (a deployment finished before it).
    let (issue, team) = org
        .jira_projects
        .iter()
        .flat_map(|p| p.issues.iter().map(move |i| (i, &p.team)))
        .filter(|(i, _)| i.transitions.iter().any(|t| t.to == REOPENED))
        .find(|(i, _)| {
            let t = &i.transitions;
            t[2].at > midnight(t[1].at)
                && t[3].at < org.end
                && i.created > org.start + Duration::days(3)
        })
        .expect("a reopening after the day of the first resolution");
    let first_done = issue.transitions[1].at;
    let day = first_done.date_naive();
    let recovery = |truth: &[dorafleet_sim::TruthRecord]| {
        truth
            .iter()
            .find(|r| {
                r.team == *team && r.date == day && r.metric == "failed_deployment_recovery_time"
            })
            .map(|r| (r.value, r.sample_size))
            .unwrap()
    };
    let before = recovery(&org.ground_truth_as_of(midnight(first_done)));
    let after = recovery(&org.ground_truth_as_of(issue.transitions[2].at));
    assert_eq!(
        after.1 + 1,
        before.1,
        "{}: {before:?} then {after:?}",
        issue.key
    );
    assert_ne!(before, after);
}
