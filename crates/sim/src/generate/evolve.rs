//! Late and messy events layered on the generated history: what makes the
//! world change between two runs of a pipeline, and what a careless
//! incremental extraction would miss.
//!
//! - deployments that stay `in_progress` for hours and then often fail;
//! - deploy builds that run long enough to span an hourly run;
//! - incidents reopened after their resolution and resolved again, and
//!   incidents moved to Done without a resolution date;
//! - deployments deleted before they finish and closed pull requests deleted;
//! - commits authored on a machine whose clock was a day ahead, and whole
//!   pull requests written on one (drawn last: first commits dated after the
//!   merge);
//! - redeploys of older commits, hotfixes, reverts and the commits deploy
//!   builds record (`late_changes`, drawn last).
//!
//! These draws come from their own random stream, after the base world is
//! drawn, so the base world (and who did what when) stays what it was before
//! the evolution existed; only the touched items differ.

use super::random::{hex, seconds_between, weighted_index};
use crate::model::{
    Commit, DONE, GithubDeployment, JiraIssue, JobKind, Organisation, PullRequest, REOPENED,
    StatusTransition,
};
use chrono::Duration;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The random stream of the evolution (people use 1, activity the default).
const EVOLUTION_STREAM: u64 = 2;

/// Share of deployments deleted minutes after creation, before any outcome.
const DELETED_DEPLOYMENTS: f64 = 0.03;
/// Share of deployments in progress for hours before their outcome.
const SLOW_DEPLOYMENTS: f64 = 0.10;
/// Share of deploy builds running 30–90 minutes.
const LONG_BUILDS: f64 = 0.10;
/// Share of closed, unmerged pull requests deleted hours after closing.
const DELETED_CLOSED_PULLS: f64 = 0.02;
/// Share of merged human pull requests with a commit from a skewed clock.
const SKEWED_COMMITS: f64 = 0.03;
/// Share of resolved incidents reopened and resolved again.
const REOPENED_INCIDENTS: f64 = 0.08;
/// Share of resolved incidents moved to Done without a resolution date.
const UNSET_RESOLUTIONS: f64 = 0.05;
/// Share of merged human pull requests written entirely on a machine whose
/// clock ran a day or two ahead: their first commit is dated after the merge,
/// and usually after the deployment that ships them.
const FAST_CLOCK_PULLS: f64 = 0.02;

/// Applies the late events to `org` (ids of deployments and statuses and
/// Jira transitions are assigned afterwards).
pub(crate) fn evolve(org: &mut Organisation, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(EVOLUTION_STREAM);
    for repo in &mut org.repos {
        for pull in &mut repo.pulls {
            evolve_pull(&mut rng, pull);
        }
        for deployment in &mut repo.deployments {
            evolve_deployment(&mut rng, deployment);
        }
    }
    for job in &mut org.jenkins_jobs {
        if job.kind != JobKind::Deploy {
            continue;
        }
        for build in &mut job.builds {
            if rng.random_bool(LONG_BUILDS) {
                build.duration_ms = rng.random_range(1_800_000..5_400_000);
            }
        }
    }
    for issue in org.jira_projects.iter_mut().flat_map(|p| &mut p.issues) {
        if issue.issue_type == crate::model::INCIDENT_ISSUE_TYPE && issue.resolved.is_some() {
            evolve_incident(&mut rng, issue);
        }
    }
    super::late_changes::apply(org, &mut rng);
    for pull in org.repos.iter_mut().flat_map(|r| &mut r.pulls) {
        if let Some(merged) = pull.merged_at
            && !pull.author_is_bot
            && rng.random_bool(FAST_CLOCK_PULLS)
        {
            let ahead = seconds_between(&mut rng, 12 * 3600, 48 * 3600);
            for commit in pull.commits.iter_mut().filter(|c| !c.is_bot()) {
                commit.authored_at = commit.authored_at.max(merged) + ahead;
            }
        }
    }
}

fn evolve_pull(rng: &mut ChaCha8Rng, pull: &mut PullRequest) {
    let roll: f64 = rng.random();
    match (pull.closed_at, pull.merged_at) {
        (Some(closed), None) if roll < DELETED_CLOSED_PULLS => {
            pull.deleted_at = Some(closed + seconds_between(rng, 3600, 48 * 3600));
        }
        (_, Some(merged)) if !pull.author_is_bot && roll < SKEWED_COMMITS => {
            if let Some(commit) = skewed_commit(rng, pull, merged) {
                pull.commits.push(commit);
            }
        }
        _ => {}
    }
}

/// A commit by the PR's author pushed before the merge whose author date is
/// 1–48 h after it: the author's machine had a wrong clock.
fn skewed_commit(
    rng: &mut ChaCha8Rng,
    pull: &PullRequest,
    merged: chrono::DateTime<chrono::Utc>,
) -> Option<Commit> {
    let humans = || pull.commits.iter().filter(|c| !c.is_bot());
    let template = humans()
        .find(|c| c.author_login == pull.author_login)
        .or_else(|| humans().next())?;
    let last_push = pull.commits.iter().map(|c| c.committed_at).max()?;
    let room = (merged - last_push).num_seconds();
    let pushed = if room > 2 {
        last_push + Duration::seconds(rng.random_range(1..room))
    } else {
        last_push
    };
    Some(Commit {
        sha: hex(rng, 40),
        authored_at: merged + seconds_between(rng, 3600, 48 * 3600),
        committed_at: pushed,
        message: "Fix review comments".into(),
        ..template.clone()
    })
}

fn evolve_deployment(rng: &mut ChaCha8Rng, deployment: &mut GithubDeployment) {
    let roll: f64 = rng.random();
    if roll < DELETED_DEPLOYMENTS {
        // Deleted while queued or in progress: it never gets an outcome.
        let deleted_at = deployment.created_at + seconds_between(rng, 120, 40 * 60);
        deployment.deleted_at = Some(deleted_at);
        deployment
            .statuses
            .retain(|s| s.created_at < deleted_at && !is_terminal(&s.state));
    } else if roll < DELETED_DEPLOYMENTS + SLOW_DEPLOYMENTS {
        let Some(started) = deployment
            .statuses
            .iter()
            .find(|s| s.state == "in_progress")
            .map(|s| s.created_at)
        else {
            return;
        };
        let outcome = ["success", "failure", "error"][weighted_index(rng, &[55, 35, 10])];
        let finished = started + seconds_between(rng, 3600, 8 * 3600);
        if let Some(last) = deployment
            .statuses
            .iter_mut()
            .find(|s| is_terminal(&s.state))
        {
            last.state = outcome.into();
            last.created_at = finished;
        }
    }
}

fn is_terminal(state: &str) -> bool {
    !matches!(state, "queued" | "in_progress" | "pending")
}

fn evolve_incident(rng: &mut ChaCha8Rng, issue: &mut JiraIssue) {
    let roll: f64 = rng.random();
    let Some(done) = issue.resolved else {
        return;
    };
    if roll < REOPENED_INCIDENTS {
        let author = issue
            .transitions
            .last()
            .map_or_else(|| issue.reporter.clone(), |t| t.author.clone());
        let reopened = done + seconds_between(rng, 2 * 3600, 72 * 3600);
        let done_again = reopened
            + seconds_between(rng, 3600, 24 * 3600)
            + Duration::milliseconds(rng.random_range(0..1000));
        for (from, to, at) in [(DONE, REOPENED, reopened), (REOPENED, DONE, done_again)] {
            issue.transitions.push(StatusTransition {
                id: 0,
                at,
                author: author.clone(),
                from: from.into(),
                to: to.into(),
            });
        }
        issue.resolved = Some(done_again);
    } else if roll < REOPENED_INCIDENTS + UNSET_RESOLUTIONS {
        issue.resolution_unset = true;
        issue.resolved = None;
    }
}
