//! Generation of the synthetic organisation from a seed.
//!
//! Generation is pure: the same [`SimOptions`] always yield the same
//! [`Organisation`], so a test can regenerate the oracle a server was started
//! with, and a demo shows the same numbers on every machine.
//!
//! What is generated is the whole history: activity happens on the days of
//! the range, but what it leads to (a status, a finish, a merge, a
//! resolution, a reopening, a deletion) keeps its real time even after the
//! end. The simulator serves the history as of its clock
//! ([`Organisation::as_of`]).

mod calendar;
mod evolve;
mod github;
mod jenkins;
mod jira;
mod late_changes;
mod people;
mod random;

use crate::model::{
    DeployMechanism, JenkinsJob, JiraProject, JobKind, Organisation, Person, Repo, SimTeam,
};
use crate::options::SimOptions;
use calendar::Calendar;
use people::{PeopleFactory, team_identity};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[cfg(test)]
use calendar::is_weekend;

const OWNER: &str = "acme";
/// The random stream people are drawn from; activity uses the default stream.
const STAFFING_STREAM: u64 = 1;
/// The random stream of the repositories beyond a team's first two: drawing
/// them from their own stream leaves every other record of the world as it
/// is with two repositories per team.
const EXTRA_REPOS_STREAM: u64 = 2;

/// Generates the organisation described by `opts` (faults and rate limits are
/// ignored: they shape the serving, not the data).
pub fn generate(opts: &SimOptions) -> Organisation {
    let staffed = staff_teams(opts);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let cal = Calendar::new(opts.end_date, opts.days, &mut rng);
    let mut org = Organisation {
        seed: opts.seed,
        start: cal.start,
        end: cal.end,
        holiday_start: cal.holiday_start,
        teams: Vec::new(),
        people: Vec::new(),
        repos: Vec::new(),
        jenkins_jobs: Vec::new(),
        jira_projects: Vec::new(),
    };
    let mut extra_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    extra_rng.set_stream(EXTRA_REPOS_STREAM);
    for (team_id, project_key, members) in staffed {
        add_team(&mut org, &mut rng, &cal, &team_id, &project_key, &members);
        add_services(
            &mut org,
            &mut extra_rng,
            &cal,
            &team_id,
            &members,
            opts.repos_per_team,
        );
        org.people.extend(members);
    }
    evolve::evolve(&mut org, opts.seed);
    // After the evolution, which adds hotfix deployments: ids stay ascending
    // by creation. The main stream draws nothing after this.
    number_deployments(&mut org, &mut rng);
    number_issues(&mut org);
    org
}

/// Each team's id, Jira key and members. They come from their own random
/// stream, so who works where depends on the seed and the team count only:
/// the example config printed today still matches the simulator tomorrow,
/// however many days it covers.
fn staff_teams(opts: &SimOptions) -> Vec<(String, String, Vec<Person>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    rng.set_stream(STAFFING_STREAM);
    let mut factory = PeopleFactory::default();
    (0..opts.teams.max(1))
        .map(|index| {
            let (team_id, project_key) = team_identity(index);
            let members = (0..rng.random_range(3..=6))
                .map(|_| factory.person(&mut rng, &team_id))
                .collect();
            (team_id, project_key, members)
        })
        .collect()
}

fn add_team(
    org: &mut Organisation,
    rng: &mut ChaCha8Rng,
    cal: &Calendar,
    team_id: &str,
    project_key: &str,
    members: &[Person],
) {
    let members: Vec<&Person> = members.iter().collect();
    let api = format!("{team_id}-api");
    let web = format!("{team_id}-web");
    let deploy_job = format!("{team_id}-web-deploy");
    let ci_job = format!("{team_id}-web-ci");

    let api_pulls = github::pull_requests(rng, cal, &members);
    let api_deployments = github::deployments(rng, cal, &members, &api_pulls);
    let web_pulls = github::pull_requests(rng, cal, &members);
    let seed = org.seed;
    for (name, pulls, deployments, deploys_with) in [
        (
            &api,
            api_pulls,
            api_deployments,
            DeployMechanism::GithubDeployments,
        ),
        (
            &web,
            web_pulls,
            Vec::new(),
            DeployMechanism::JenkinsJob(deploy_job.clone()),
        ),
    ] {
        org.repos.push(Repo {
            owner: OWNER.into(),
            name: name.clone(),
            team: team_id.into(),
            deploys_with,
            pulls,
            deployments,
            root_sha: random::derived_sha(&format!("{seed}/{OWNER}/{name}/root")),
            root_committed_at: cal.start - chrono::Duration::days(1),
        });
    }
    for (name, kind) in [(&deploy_job, JobKind::Deploy), (&ci_job, JobKind::Ci)] {
        org.jenkins_jobs.push(JenkinsJob {
            name: name.clone(),
            kind,
            repo: format!("{OWNER}/{web}"),
            team: team_id.into(),
            builds: jenkins::builds(rng, cal, kind, &members),
        });
    }
    org.jira_projects.push(JiraProject {
        key: project_key.into(),
        id: 0,
        name: format!("{} team", team_id),
        team: team_id.into(),
        issues: jira::issues(rng, cal, project_key, &members),
    });
    org.teams.push(SimTeam {
        id: team_id.into(),
        repos: vec![format!("{OWNER}/{api}"), format!("{OWNER}/{web}")],
        jira_project: project_key.into(),
        jenkins_jobs: vec![deploy_job, ci_job],
        members: members.iter().map(|m| m.contributor_id.clone()).collect(),
    });
}

/// A team's repositories beyond `<team>-api` and `<team>-web`: services
/// `<team>-svc1`, `<team>-svc2`, … deployed through GitHub Deployments, with
/// their pull requests and deployments drawn like the api's.
fn add_services(
    org: &mut Organisation,
    rng: &mut ChaCha8Rng,
    cal: &Calendar,
    team_id: &str,
    members: &[Person],
    repos_per_team: usize,
) {
    let members: Vec<&Person> = members.iter().collect();
    let seed = org.seed;
    for n in 1..=repos_per_team.saturating_sub(2) {
        let name = format!("{team_id}-svc{n}");
        let pulls = github::pull_requests(rng, cal, &members);
        let deployments = github::deployments(rng, cal, &members, &pulls);
        org.repos.push(Repo {
            owner: OWNER.into(),
            name: name.clone(),
            team: team_id.into(),
            deploys_with: DeployMechanism::GithubDeployments,
            pulls,
            deployments,
            root_sha: random::derived_sha(&format!("{seed}/{OWNER}/{name}/root")),
            root_committed_at: cal.start - chrono::Duration::days(1),
        });
        if let Some(team) = org.teams.iter_mut().find(|t| t.id == team_id) {
            team.repos.push(format!("{OWNER}/{name}"));
        }
    }
}

/// Ids that are unique across the organisation, in creation order, like the
/// real services hand them out: deployments and their statuses. Assigned
/// after the evolution, so hotfix deployments get ids in order too (the ids
/// of the deployments after one in the same run of ids shift).
fn number_deployments(org: &mut Organisation, rng: &mut ChaCha8Rng) {
    let mut deployment_id = rng.random_range(100_000_000..200_000_000u64);
    let mut status_id = rng.random_range(300_000_000..400_000_000u64);
    for repo in &mut org.repos {
        for deployment in &mut repo.deployments {
            deployment_id += rng.random_range(1..50);
            deployment.id = deployment_id;
            for status in &mut deployment.statuses {
                status_id += rng.random_range(1..50);
                status.id = status_id;
            }
        }
    }
}

/// Jira projects, issues and changelog entries, numbered after the evolution
/// has added its transitions (no random draws).
fn number_issues(org: &mut Organisation) {
    let mut issue_id = 10_000u64;
    let mut transition_id = 50_000u64;
    for (i, project) in org.jira_projects.iter_mut().enumerate() {
        project.id = 10_000 + i as u64;
        for (n, issue) in project.issues.iter_mut().enumerate() {
            issue_id += 1;
            issue.id = issue_id;
            issue.key = format!("{}-{}", project.key, n + 1);
            for t in &mut issue.transitions {
                transition_id += 1;
                t.id = transition_id;
            }
        }
    }
}

#[cfg(test)]
mod tests;
