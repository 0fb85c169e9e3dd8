//! Issues of one team's Jira project: everyday work (Story, Task, Bug) on
//! weekdays, and incidents of every priority at any hour, most resolved some
//! hours later, a few never. Resolutions keep their real time even after the
//! end of the range; reopening comes later (`evolve`).

use super::calendar::Calendar;
use super::random::{poisson, skewed_hours, time_of_day_ms, weighted_index};
use crate::model::{
    DONE, IN_PROGRESS, INCIDENT_ISSUE_TYPE, JiraIssue, Person, StatusTransition, TO_DO,
};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;

const WORK_ITEMS_PER_WEEKDAY: f64 = 1.0;
/// Incidents ignore office hours more than work does, but not entirely.
const INCIDENTS_PER_WEEKDAY: f64 = 0.35;
const INCIDENTS_PER_WEEKEND_DAY: f64 = 0.18;

const WORK_TYPES: &[&str] = &["Story", "Task", "Bug"];
const PRIORITIES: &[&str] = &["P1", "P2", "P3", "P4"];
const INCIDENT_SUMMARIES: &[&str] = &[
    "Elevated 5xx rate after release",
    "Checkout latency spike",
    "Login failures for some users",
    "Background jobs stuck",
    "Wrong totals on invoices",
    "Search returns stale results",
];
const WORK_SUMMARIES: &[&str] = &[
    "Support partial refunds",
    "Improve onboarding copy",
    "Migrate cron jobs",
    "Add audit trail",
    "Fix flaky integration test",
    "Localise error messages",
];

/// Issues of one project, in creation order, without ids or keys yet.
pub(crate) fn issues(
    rng: &mut impl Rng,
    cal: &Calendar,
    project_key: &str,
    members: &[&Person],
) -> Vec<JiraIssue> {
    let mut issues = Vec::new();
    for day in cal.days() {
        let volume = cal.volume(day);
        for _ in 0..poisson(rng, WORK_ITEMS_PER_WEEKDAY * volume) {
            let issue_type = WORK_TYPES[weighted_index(rng, &[45, 30, 25])];
            let priority = PRIORITIES[weighted_index(rng, &[5, 20, 50, 25])];
            let created = time_of_day_ms(rng, day, 8, 18);
            let resolved = rng
                .random_bool(0.88)
                .then(|| created + skewed_hours(rng, 4.0, 236.0));
            issues.push(issue(
                rng,
                cal,
                project_key,
                members,
                issue_type,
                priority,
                created,
                resolved,
                WORK_SUMMARIES,
            ));
        }
        let weekday_rate = if super::calendar::is_weekend(day) {
            INCIDENTS_PER_WEEKEND_DAY
        } else {
            INCIDENTS_PER_WEEKDAY
        };
        let holiday = if cal.is_holiday(day) { 0.5 } else { 1.0 };
        for _ in 0..poisson(rng, weekday_rate * holiday) {
            let priority = PRIORITIES[weighted_index(rng, &[15, 30, 35, 20])];
            let created = time_of_day_ms(rng, day, 0, 24);
            let resolved = rng.random_bool(0.92).then(|| {
                created
                    + skewed_hours(rng, 0.5, 47.5)
                    + Duration::milliseconds(rng.random_range(0..1000))
            });
            issues.push(issue(
                rng,
                cal,
                project_key,
                members,
                INCIDENT_ISSUE_TYPE,
                priority,
                created,
                resolved,
                INCIDENT_SUMMARIES,
            ));
        }
    }
    issues.sort_by_key(|i| i.created);
    issues
}

/// When an issue not resolved within the range starts, and whether it does.
fn unresolved_start(rng: &mut impl Rng, created: DateTime<Utc>) -> (DateTime<Utc>, bool) {
    let started = created + Duration::milliseconds(rng.random_range(600_000..86_400_000));
    (started, rng.random_bool(0.6))
}

#[allow(clippy::too_many_arguments)]
fn issue(
    rng: &mut impl Rng,
    cal: &Calendar,
    project_key: &str,
    members: &[&Person],
    issue_type: &str,
    priority: &str,
    created: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
    summaries: &[&str],
) -> JiraIssue {
    let reporter = members.choose(rng).expect("members").contributor_id.clone();
    let assignee = rng
        .random_bool(0.9)
        .then(|| members.choose(rng).expect("members").contributor_id.clone());
    let actor = assignee.clone().unwrap_or_else(|| reporter.clone());
    let mut transitions = Vec::new();
    let mut move_to = |from: &str, to: &str, at: DateTime<Utc>| {
        transitions.push(StatusTransition {
            id: 0,
            at,
            author: actor.clone(),
            from: from.into(),
            to: to.into(),
        })
    };
    match resolved {
        Some(done) if done < cal.end => {
            let span = (done - created).num_milliseconds();
            let started = created
                + Duration::milliseconds((span as f64 * rng.random_range(0.05..0.4)) as i64);
            move_to(TO_DO, IN_PROGRESS, started);
            move_to(IN_PROGRESS, DONE, done);
        }
        Some(done) => {
            // Resolved after the range: the draws of an issue unresolved by
            // the end, so that the view as of the end is what it was when
            // generation stopped there (and later issues draw the same).
            let (started, picked) = unresolved_start(rng, created);
            let after_end = created.max(cal.end);
            let started = if picked && started < done {
                started
            } else {
                after_end + (done - after_end) / 2
            };
            move_to(TO_DO, IN_PROGRESS, started);
            move_to(IN_PROGRESS, DONE, done);
        }
        None => {
            let (started, picked) = unresolved_start(rng, created);
            if picked {
                move_to(TO_DO, IN_PROGRESS, started);
            }
        }
    }
    JiraIssue {
        id: 0,
        key: String::new(),
        project_key: project_key.into(),
        summary: (*summaries.choose(rng).expect("non-empty")).into(),
        issue_type: issue_type.into(),
        priority: priority.into(),
        created,
        resolved,
        resolution_unset: false,
        reporter,
        assignee,
        transitions,
    }
}
