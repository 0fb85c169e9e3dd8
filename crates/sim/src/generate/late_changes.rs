//! Late events that touch the default branch and what is deployed from it,
//! layered on the evolution (same random stream, drawn after its other
//! events, so the base world and the earlier late events stay what they were):
//!
//! - production deployments that redeploy an older main commit (a rollback),
//!   which must never be credited with the changes merged after it;
//! - hotfixes: a `hotfix/{KEY}` pull request opened shortly after an
//!   incident, merged and deployed to production within the hour or two,
//!   which the rework rate must count;
//! - reverts: `Revert "…"` pull requests merged hours after the original;
//! - deploy builds that record the commit they built, and some that do not,
//!   which makes the pipeline fall back to time.
//!
//! Inserted pull requests renumber the repository's pull requests (numbers
//! stay ascending by creation from the same first number, and generated head
//! branches keep their `-{number}` suffix); inserted builds renumber the job's
//! builds the same way; deployment and status ids are assigned after the
//! evolution (`number_deployments`).

use super::github::{human_commit, status};
use super::random::{seconds_between, sha};
use crate::model::{
    BuildResult, DONE, DeployMechanism, GithubDeployment, INCIDENT_ISSUE_TYPE, JenkinsBuild,
    JobKind, Organisation, PRODUCTION_ENVIRONMENT, Person, PullRequest,
};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Share of production deployments that redeploy 1–3 merges before the head.
const REDEPLOYS: f64 = 0.04;
/// Share of resolved incidents followed by a hotfix pull request and deployment.
const HOTFIXES: f64 = 0.30;
/// Share of merged human pull requests reverted hours later.
const REVERTS: f64 = 0.02;
/// Share of deploy builds without git build data.
const UNRECORDED_BUILD_COMMITS: f64 = 0.05;

/// How a pull request's head branch is named once numbers are known.
enum Head {
    /// `{stem}-{number}`, as the base generator names them.
    Numbered(String),
    /// Fixed (`hotfix/{KEY}`).
    Fixed,
    /// `revert-{number}-{head_ref}` of the pull request merged as this SHA.
    RevertOf(String),
}

/// A hotfix's production deployment, before it is put in place.
enum HotfixDeploy {
    Github(usize, GithubDeployment),
    Jenkins(String, JenkinsBuild),
}

pub(crate) fn apply(org: &mut Organisation, rng: &mut ChaCha8Rng) {
    let redeploys = draw_redeploys(org, rng);
    let mut added: Vec<(usize, PullRequest, Head)> = Vec::new();
    let deploys = draw_hotfixes(org, rng, &mut added);
    draw_reverts(org, rng, &mut added);
    let unrecorded = draw_unrecorded_build_commits(org, rng);

    let mut per_repo: BTreeMap<usize, Vec<(PullRequest, Head)>> = BTreeMap::new();
    for (repo, pull, head) in added {
        per_repo.entry(repo).or_default().push((pull, head));
    }
    for (repo, pulls) in per_repo {
        insert_pulls(&mut org.repos[repo].pulls, pulls);
    }
    set_deployed_commits(org, &redeploys);
    for deploy in deploys {
        match deploy {
            HotfixDeploy::Github(repo, deployment) => {
                let deployments = &mut org.repos[repo].deployments;
                deployments.push(deployment);
                deployments.sort_by_key(|d| d.created_at);
            }
            HotfixDeploy::Jenkins(job, build) => {
                if let Some(job) = org.jenkins_jobs.iter_mut().find(|j| j.name == job) {
                    job.builds.push(build);
                }
            }
        }
    }
    set_build_commits(org, &unrecorded);
}

/// For each repository, for each deployment: how many merges before the head
/// at its creation it deploys (0 for all but some production deployments).
fn draw_redeploys(org: &Organisation, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    org.repos
        .iter()
        .map(|repo| {
            repo.deployments
                .iter()
                .map(|d| {
                    let production = d.environment == PRODUCTION_ENVIRONMENT;
                    if production && rng.random_bool(REDEPLOYS) {
                        rng.random_range(1..=3)
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect()
}

fn team_members(org: &Organisation, team: &str) -> Vec<Person> {
    org.people
        .iter()
        .filter(|p| p.team == team)
        .cloned()
        .collect()
}

fn draw_hotfixes(
    org: &Organisation,
    rng: &mut ChaCha8Rng,
    added: &mut Vec<(usize, PullRequest, Head)>,
) -> Vec<HotfixDeploy> {
    let mut deploys = Vec::new();
    for project in &org.jira_projects {
        let members = team_members(org, &project.team);
        let repos: Vec<usize> = (0..org.repos.len())
            .filter(|i| org.repos[*i].team == project.team)
            .collect();
        for (n, issue) in project.issues.iter().enumerate() {
            let ever_done = issue.transitions.iter().any(|t| t.to == DONE);
            if issue.issue_type != INCIDENT_ISSUE_TYPE || !ever_done {
                continue;
            }
            if !rng.random_bool(HOTFIXES) || repos.is_empty() || members.is_empty() {
                continue;
            }
            // Keys are assigned from the position after the evolution.
            let key = format!("{}-{}", project.key, n + 1);
            let repo_index = *repos.choose(rng).expect("non-empty");
            let author = members.choose(rng).expect("non-empty");
            let created_at = whole_seconds(issue.created) + seconds_between(rng, 600, 3600);
            let authored_at = created_at - seconds_between(rng, 300, 1800);
            let mut commit = human_commit(rng, author, authored_at);
            commit.message = format!("Fix {key}");
            let merged_at = created_at + seconds_between(rng, 1200, 7200);
            let pull = PullRequest {
                number: 0,
                title: format!("Fix {key}: {}", issue.summary),
                author_login: author.github_login.clone(),
                author_is_bot: false,
                created_at,
                updated_at: merged_at + seconds_between(rng, 0, 900),
                closed_at: Some(merged_at),
                merged_at: Some(merged_at),
                merge_commit_sha: sha(rng),
                head_ref: format!("hotfix/{key}"),
                base_ref: "main".into(),
                commits: vec![commit],
                deleted_at: None,
            };
            let deploy_at = merged_at + seconds_between(rng, 300, 1800);
            let repo = &org.repos[repo_index];
            deploys.push(match &repo.deploys_with {
                DeployMechanism::GithubDeployments => {
                    let started = deploy_at + seconds_between(rng, 10, 90);
                    let finished = started + seconds_between(rng, 120, 1200);
                    let creator = &author.github_login;
                    HotfixDeploy::Github(
                        repo_index,
                        GithubDeployment {
                            id: 0,
                            sha: pull.merge_commit_sha.clone(),
                            ref_name: "main".into(),
                            environment: PRODUCTION_ENVIRONMENT.into(),
                            created_at: deploy_at,
                            creator_login: creator.clone(),
                            statuses: vec![
                                status("queued", deploy_at, creator),
                                status("in_progress", started, creator),
                                status("success", finished, creator),
                            ],
                            deleted_at: None,
                        },
                    )
                }
                DeployMechanism::JenkinsJob(job) => HotfixDeploy::Jenkins(
                    job.clone(),
                    JenkinsBuild {
                        number: 0,
                        result: Some(BuildResult::Success),
                        started_at: deploy_at + Duration::milliseconds(rng.random_range(0..1000)),
                        duration_ms: rng.random_range(60_000..600_000),
                        building: false,
                        started_by: Some(author.contributor_id.clone()),
                        commit: Some(pull.merge_commit_sha.clone()),
                    },
                ),
            });
            added.push((repo_index, pull, Head::Fixed));
        }
    }
    deploys
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos()))
}

fn draw_reverts(
    org: &Organisation,
    rng: &mut ChaCha8Rng,
    added: &mut Vec<(usize, PullRequest, Head)>,
) {
    for (repo_index, repo) in org.repos.iter().enumerate() {
        let members = team_members(org, &repo.team);
        for original in &repo.pulls {
            let Some(original_merge) = original.merged_at else {
                continue;
            };
            if original.author_is_bot || !rng.random_bool(REVERTS) || members.is_empty() {
                continue;
            }
            let author = members.choose(rng).expect("non-empty");
            let merged_at = original_merge + seconds_between(rng, 3600, 6 * 3600);
            let gap = (merged_at - original_merge).num_seconds();
            let created_at = original_merge + seconds_between(rng, 60, gap - 600);
            let title = format!("Revert \"{}\"", original.title);
            let authored_at = created_at - seconds_between(rng, 1, 60);
            let mut commit = human_commit(rng, author, authored_at);
            commit.message = format!(
                "{title}\n\nThis reverts commit {}.",
                original.merge_commit_sha
            );
            let pull = PullRequest {
                number: 0,
                title,
                author_login: author.github_login.clone(),
                author_is_bot: false,
                created_at,
                updated_at: merged_at + seconds_between(rng, 0, 900),
                closed_at: Some(merged_at),
                merged_at: Some(merged_at),
                merge_commit_sha: sha(rng),
                head_ref: String::new(),
                base_ref: "main".into(),
                commits: vec![commit],
                deleted_at: None,
            };
            let head = Head::RevertOf(original.merge_commit_sha.clone());
            added.push((repo_index, pull, head));
        }
    }
}

/// For each deploy job (in order), the build numbers that record no commit.
fn draw_unrecorded_build_commits(
    org: &Organisation,
    rng: &mut ChaCha8Rng,
) -> BTreeMap<String, Vec<u64>> {
    org.jenkins_jobs
        .iter()
        .filter(|j| j.kind == JobKind::Deploy)
        .map(|j| {
            let unrecorded = j
                .builds
                .iter()
                .filter(|_| rng.random_bool(UNRECORDED_BUILD_COMMITS))
                .map(|b| b.number)
                .collect();
            (j.name.clone(), unrecorded)
        })
        .collect()
}

/// Adds `new` to `pulls`, keeping numbers ascending by creation from the
/// same first number, and names the head branches.
fn insert_pulls(pulls: &mut Vec<PullRequest>, new: Vec<(PullRequest, Head)>) {
    let first_number = pulls.first().map_or(100, |p| p.number);
    let mut all: Vec<(PullRequest, Head)> = std::mem::take(pulls)
        .into_iter()
        .map(|p| {
            let suffix = format!("-{}", p.number);
            let stem = p.head_ref.strip_suffix(&suffix).map(str::to_owned);
            let head = stem.map_or(Head::Fixed, Head::Numbered);
            (p, head)
        })
        .chain(new)
        .collect();
    all.sort_by_key(|(p, _)| p.created_at);
    for (i, (pull, head)) in all.iter_mut().enumerate() {
        pull.number = first_number + i as u64;
        if let Head::Numbered(stem) = head {
            pull.head_ref = format!("{stem}-{}", pull.number);
        }
    }
    let names: BTreeMap<String, (u64, String)> = all
        .iter()
        .map(|(p, _)| (p.merge_commit_sha.clone(), (p.number, p.head_ref.clone())))
        .collect();
    for (pull, head) in &mut all {
        if let Head::RevertOf(original) = head
            && let Some((number, head_ref)) = names.get(original)
        {
            pull.head_ref = format!("revert-{number}-{head_ref}");
        }
    }
    *pulls = all.into_iter().map(|(p, _)| p).collect();
}

/// Every deployment created after a merge deploys the head of main at its
/// creation, or `back` merges before it for redeploys; the others keep the
/// SHA they were generated with (unknown to the history).
fn set_deployed_commits(org: &mut Organisation, redeploys: &[Vec<usize>]) {
    for (repo, backs) in org.repos.iter_mut().zip(redeploys) {
        let history = repo.main_history();
        for (deployment, back) in repo.deployments.iter_mut().zip(backs) {
            let head = history
                .iter()
                .rposition(|c| c.ordinal > 0 && c.committed_at <= deployment.created_at);
            if let Some(head) = head {
                deployment.sha = history[head.saturating_sub(*back)].sha.clone();
            }
        }
    }
}

/// Deploy builds record the head of main at their start, except the drawn
/// few and the hotfix builds (which already name their commit); then the
/// builds are renumbered in order of start.
fn set_build_commits(org: &mut Organisation, unrecorded: &BTreeMap<String, Vec<u64>>) {
    let histories: BTreeMap<String, Vec<crate::model::MainCommit>> = org
        .repos
        .iter()
        .map(|r| (r.full_name(), r.main_history()))
        .collect();
    for job in &mut org.jenkins_jobs {
        if job.kind != JobKind::Deploy {
            continue;
        }
        let skipped = unrecorded.get(&job.name).map_or(&[][..], Vec::as_slice);
        let history = histories.get(&job.repo).map_or(&[][..], Vec::as_slice);
        for build in &mut job.builds {
            if build.commit.is_some() || skipped.contains(&build.number) {
                continue;
            }
            build.commit = history
                .iter()
                .rev()
                .find(|c| c.ordinal == 0 || c.committed_at <= build.started_at)
                .map(|c| c.sha.clone());
        }
        // Hotfix builds are still unnumbered (0).
        let first_number = job
            .builds
            .iter()
            .map(|b| b.number)
            .filter(|n| *n > 0)
            .min()
            .unwrap_or(1);
        job.builds.sort_by_key(|b| b.started_at);
        for (i, build) in job.builds.iter_mut().enumerate() {
            build.number = first_number + i as u64;
        }
    }
}
