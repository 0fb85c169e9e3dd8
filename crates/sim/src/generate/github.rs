//! Pull requests (with their commits) and GitHub deployments (with their
//! statuses) of one repository.
//!
//! The awkward cases the pipeline must handle are generated on purpose:
//! dependabot PRs with only bot commits, `github-actions[bot]` commits before
//! the first human commit, PRs closed without merging, deployments that fail
//! or are still in progress when the range ends.
//!
//! Nothing is cut at the end of the range: closes, merges and statuses keep
//! their real times, and the view as of an instant hides what comes later
//! (see `model::as_of`).

use super::calendar::Calendar;
use super::random::{poisson, seconds_between, sha, skewed_hours, time_of_day, weighted_index};
use crate::model::{Commit, DeploymentStatus, GithubDeployment, Person, PullRequest};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;

const MERGED_PER_WEEKDAY: f64 = 1.3;
const ABANDONED_PER_WEEKDAY: f64 = 0.25;
const LEFT_OPEN_PER_WEEKDAY: f64 = 0.06;
const DEPENDABOT_PER_DAY: f64 = 0.12;
const PRODUCTION_DEPLOYS_PER_WEEKDAY: f64 = 1.3;
const STAGING_DEPLOYS_PER_WEEKDAY: f64 = 0.4;

const DEPENDABOT: BotIdentity = BotIdentity {
    login: "dependabot[bot]",
    email: "49699333+dependabot[bot]@users.noreply.github.com",
};
const ACTIONS_BOT: BotIdentity = BotIdentity {
    login: "github-actions[bot]",
    email: "41898282+github-actions[bot]@users.noreply.github.com",
};

struct BotIdentity {
    login: &'static str,
    email: &'static str,
}

const TOPICS: &[&str] = &[
    "retry policy",
    "currency rounding",
    "login form",
    "search ranking",
    "cache headers",
    "audit log",
    "feature flag",
    "rate limiter",
    "error page",
    "metrics export",
    "webhook signature",
    "pagination",
    "session timeout",
    "dark mode",
    "CSV export",
    "health check",
];
const VERBS: &[&str] = &[
    "Add", "Fix", "Refactor", "Speed up", "Remove", "Document", "Harden",
];
const DEPENDENCIES: &[&str] = &[
    "serde", "tokio", "axios", "react", "lodash", "jackson", "rails",
];

pub(crate) fn pull_requests(
    rng: &mut impl Rng,
    cal: &Calendar,
    members: &[&Person],
) -> Vec<PullRequest> {
    let mut pulls = Vec::new();
    for day in cal.days() {
        let volume = cal.volume(day);
        for _ in 0..poisson(rng, MERGED_PER_WEEKDAY * volume) {
            let merged_at = time_of_day(rng, day, 9, 19);
            pulls.push(merged_human_pr(rng, cal, members, merged_at));
        }
        for _ in 0..poisson(rng, ABANDONED_PER_WEEKDAY * volume) {
            let created_at = time_of_day(rng, day, 8, 19);
            let closed_at = created_at + skewed_hours(rng, 1.0, 71.0);
            pulls.push(unmerged_human_pr(
                rng,
                cal,
                members,
                created_at,
                Some(closed_at),
            ));
        }
        for _ in 0..poisson(rng, LEFT_OPEN_PER_WEEKDAY * volume) {
            let created_at = time_of_day(rng, day, 8, 19);
            pulls.push(unmerged_human_pr(rng, cal, members, created_at, None));
        }
        for _ in 0..poisson(rng, DEPENDABOT_PER_DAY) {
            let created_at = time_of_day(rng, day, 0, 24);
            pulls.push(dependabot_pr(rng, cal, created_at));
        }
    }
    pulls.sort_by_key(|p| p.created_at);
    let first_number = rng.random_range(100..400);
    for (i, pr) in pulls.iter_mut().enumerate() {
        pr.number = first_number + i as u64;
        pr.head_ref = format!("{}-{}", pr.head_ref, pr.number);
    }
    pulls
}

fn merged_human_pr(
    rng: &mut impl Rng,
    cal: &Calendar,
    members: &[&Person],
    merged_at: DateTime<Utc>,
) -> PullRequest {
    let author = *members.choose(rng).expect("teams have members");
    let mut first = merged_at - skewed_hours(rng, 1.0, 95.0);
    if first < cal.start + Duration::minutes(1) {
        // Keep every commit inside the covered range.
        let available = (merged_at - cal.start).num_seconds();
        let fraction = rng.random_range(0.05..0.5);
        first = cal.start + Duration::seconds((available as f64 * fraction) as i64);
    }
    let span = (merged_at - first).num_seconds().max(2);
    let mut times = vec![first];
    for _ in 1..rng.random_range(1..=4) {
        times.push(first + Duration::seconds(rng.random_range(1..span)));
    }
    let mut commits: Vec<Commit> = times
        .into_iter()
        .map(|t| {
            let who = if rng.random_bool(0.8) {
                author
            } else {
                *members.choose(rng).expect("members")
            };
            human_commit(rng, who, t)
        })
        .collect();
    if rng.random_bool(0.12) {
        // A formatter bot commits before any human: "first commit" must skip it.
        let before = first - seconds_between(rng, 300, 3 * 3600);
        if before >= cal.start {
            commits.push(bot_commit(
                rng,
                &ACTIONS_BOT,
                before,
                "style: apply formatter",
            ));
        }
    }
    if rng.random_bool(0.15) {
        let during = first + Duration::seconds(rng.random_range(1..span));
        commits.push(bot_commit(
            rng,
            &ACTIONS_BOT,
            during,
            "chore: update snapshots",
        ));
    }
    commits.sort_by_key(|c| c.authored_at);
    let created_at = first + Duration::seconds(rng.random_range(0..=span / 3));
    let updated_at = merged_at + seconds_between(rng, 0, 900);
    PullRequest {
        number: 0,
        title: title(rng),
        author_login: author.github_login.clone(),
        author_is_bot: false,
        created_at,
        updated_at,
        closed_at: Some(merged_at),
        merged_at: Some(merged_at),
        merge_commit_sha: sha(rng),
        head_ref: format!("{}/{}", author.github_login, "change"),
        base_ref: "main".into(),
        commits,
        deleted_at: None,
    }
}

fn unmerged_human_pr(
    rng: &mut impl Rng,
    cal: &Calendar,
    members: &[&Person],
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
) -> PullRequest {
    let author = *members.choose(rng).expect("teams have members");
    let mut commits = Vec::new();
    for _ in 0..rng.random_range(1..=2) {
        let t = created_at - seconds_between(rng, 60, 24 * 3600);
        commits.push(human_commit(rng, author, t.max(cal.start)));
    }
    commits.sort_by_key(|c| c.authored_at);
    let last_touch = closed_at.unwrap_or(created_at + seconds_between(rng, 60, 8 * 3600));
    PullRequest {
        number: 0,
        title: title(rng),
        author_login: author.github_login.clone(),
        author_is_bot: false,
        created_at,
        updated_at: last_touch,
        closed_at,
        merged_at: None,
        merge_commit_sha: sha(rng),
        head_ref: format!("{}/{}", author.github_login, "experiment"),
        base_ref: "main".into(),
        commits,
        deleted_at: None,
    }
}

fn dependabot_pr(rng: &mut impl Rng, cal: &Calendar, created_at: DateTime<Utc>) -> PullRequest {
    let dependency = *DEPENDENCIES.choose(rng).expect("non-empty");
    let version = format!("1.{}.{}", rng.random_range(0..40), rng.random_range(0..10));
    let commit_at = (created_at - Duration::minutes(1)).max(cal.start);
    let message = format!("Bump {dependency} to {version}");
    let commits = vec![bot_commit(rng, &DEPENDABOT, commit_at, &message)];
    let closes_at = created_at + skewed_hours(rng, 1.0, 71.0);
    let outcome = weighted_index(rng, &[75, 10, 15]);
    let closed_at = (outcome < 2).then_some(closes_at);
    let merged_at = closed_at.filter(|_| outcome == 0);
    PullRequest {
        number: 0,
        title: message,
        author_login: DEPENDABOT.login.into(),
        author_is_bot: true,
        created_at,
        updated_at: closed_at.unwrap_or(created_at),
        closed_at,
        merged_at,
        merge_commit_sha: sha(rng),
        head_ref: format!("dependabot/{dependency}-{version}"),
        base_ref: "main".into(),
        commits,
        deleted_at: None,
    }
}

pub(crate) fn human_commit(rng: &mut impl Rng, who: &Person, at: DateTime<Utc>) -> Commit {
    Commit {
        sha: sha(rng),
        author_login: who.github_login.clone(),
        author_name: who.display_name.clone(),
        author_email: format!(
            "{}+{}@users.noreply.github.com",
            who.github_id, who.github_login
        ),
        authored_at: at,
        committed_at: at,
        message: title(rng),
    }
}

fn bot_commit(rng: &mut impl Rng, bot: &BotIdentity, at: DateTime<Utc>, message: &str) -> Commit {
    Commit {
        sha: sha(rng),
        author_login: bot.login.into(),
        author_name: bot.login.into(),
        author_email: bot.email.into(),
        authored_at: at,
        committed_at: at,
        message: message.into(),
    }
}

fn title(rng: &mut impl Rng) -> String {
    format!(
        "{} {}",
        VERBS.choose(rng).expect("non-empty"),
        TOPICS.choose(rng).expect("non-empty")
    )
}

/// Deployments of a repository deployed through the GitHub Deployments API.
/// Ids are assigned later, organisation-wide.
pub(crate) fn deployments(
    rng: &mut impl Rng,
    cal: &Calendar,
    members: &[&Person],
    pulls: &[PullRequest],
) -> Vec<GithubDeployment> {
    let mut deployments = Vec::new();
    for day in cal.days() {
        let volume = cal.volume(day);
        let production = poisson(rng, PRODUCTION_DEPLOYS_PER_WEEKDAY * volume);
        let staging = poisson(rng, STAGING_DEPLOYS_PER_WEEKDAY * volume);
        for environment in std::iter::repeat_n("production", production as usize)
            .chain(std::iter::repeat_n("staging", staging as usize))
        {
            let created_at = time_of_day(rng, day, 9, 19);
            deployments.push(deployment(rng, members, pulls, environment, created_at));
        }
    }
    if rng.random_bool(0.4) {
        // Still rolling out when the range ends.
        let created_at = cal.end - seconds_between(rng, 120, 480);
        deployments.push(deployment(rng, members, pulls, "production", created_at));
    }
    deployments.sort_by_key(|d| d.created_at);
    deployments
}

fn deployment(
    rng: &mut impl Rng,
    members: &[&Person],
    pulls: &[PullRequest],
    environment: &str,
    created_at: DateTime<Utc>,
) -> GithubDeployment {
    let creator = members.choose(rng).expect("members").github_login.clone();
    let deployed_sha = pulls
        .iter()
        .filter_map(|p| p.merged_at.map(|m| (m, &p.merge_commit_sha)))
        .filter(|(m, _)| *m <= created_at)
        .max_by_key(|(m, _)| *m)
        .map_or_else(|| sha(rng), |(_, s)| s.clone());
    let started = created_at + seconds_between(rng, 10, 90);
    let finished = started + seconds_between(rng, 120, 1200);
    let outcome = ["success", "failure", "error"][weighted_index(rng, &[85, 10, 5])];
    let statuses = vec![
        status("queued", created_at, &creator),
        status("in_progress", started, &creator),
        status(outcome, finished, &creator),
    ];
    GithubDeployment {
        id: 0,
        sha: deployed_sha,
        ref_name: "main".into(),
        environment: environment.into(),
        created_at,
        creator_login: creator,
        statuses,
        deleted_at: None,
    }
}

pub(crate) fn status(state: &str, at: DateTime<Utc>, creator: &str) -> DeploymentStatus {
    DeploymentStatus {
        id: 0,
        state: state.into(),
        created_at: at,
        creator_login: creator.into(),
    }
}
