//! The late events that touch main and what is deployed from it: redeploys
//! of older commits, hotfixes after incidents, reverts, and the commits
//! deploy builds record; and the invariants of ids and numbers they keep.

use chrono::{Duration, NaiveDate};
use dorafleet_sim::{
    DeployMechanism, INCIDENT_ISSUE_TYPE, JobKind, Organisation, SimOptions, generate,
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

#[test]
fn hotfixes_follow_incidents_within_hours_and_are_deployed_to_production() {
    let org = history();
    let mut hotfixes = 0;
    for repo in &org.repos {
        for pull in repo
            .pulls
            .iter()
            .filter(|p| p.head_ref.starts_with("hotfix/"))
        {
            hotfixes += 1;
            let key = pull.head_ref.trim_start_matches("hotfix/");
            let incident = org.issue(key).unwrap();
            assert_eq!(incident.issue_type, INCIDENT_ISSUE_TYPE);
            assert!(pull.title.starts_with(&format!("Fix {key}: ")));
            let opened = pull.created_at - incident.created;
            assert!(opened >= Duration::minutes(10) && opened <= Duration::minutes(60));
            assert_eq!(pull.commits.len(), 1);
            let merged = pull.merged_at.unwrap();
            assert!(merged - pull.created_at >= Duration::minutes(20));
            let deployed = match &repo.deploys_with {
                DeployMechanism::GithubDeployments => repo
                    .deployments
                    .iter()
                    .find(|d| d.sha == pull.merge_commit_sha)
                    .map(|d| d.created_at),
                DeployMechanism::JenkinsJob(job) => org
                    .job(job)
                    .unwrap()
                    .builds
                    .iter()
                    .find(|b| b.commit.as_deref() == Some(&pull.merge_commit_sha))
                    .map(|b| b.started_at),
            };
            let after = deployed.expect("a hotfix is deployed") - merged;
            assert!(after >= Duration::minutes(5) && after <= Duration::minutes(31));
        }
    }
    let resolved = org
        .jira_projects
        .iter()
        .flat_map(|p| &p.issues)
        .filter(|i| {
            i.issue_type == INCIDENT_ISSUE_TYPE && i.transitions.iter().any(|t| t.to == "Done")
        })
        .count();
    assert!(
        hotfixes * 10 > resolved * 2 && hotfixes * 10 < resolved * 4,
        "{hotfixes} of {resolved}"
    );
}

#[test]
fn reverts_name_the_reverted_pull_request_and_merge_hours_after_it() {
    let org = history();
    let mut reverts = 0;
    for repo in &org.repos {
        for pull in repo
            .pulls
            .iter()
            .filter(|p| p.title.starts_with("Revert \""))
        {
            reverts += 1;
            let original = repo
                .pulls
                .iter()
                .find(|o| pull.head_ref == format!("revert-{}-{}", o.number, o.head_ref))
                .expect("the head branch names the original");
            assert_eq!(pull.title, format!("Revert \"{}\"", original.title));
            let gap = pull.merged_at.unwrap() - original.merged_at.unwrap();
            assert!(gap >= Duration::hours(1) && gap <= Duration::hours(6));
        }
    }
    assert!(reverts > 0);
}

#[test]
fn some_production_deployments_redeploy_an_older_main_commit() {
    let org = history();
    let mut redeploys = 0;
    for repo in &org.repos {
        for d in repo
            .deployments
            .iter()
            .filter(|d| d.environment == "production")
        {
            let head = repo.main_head_at(d.created_at);
            if head.ordinal > 0 && d.sha != head.sha {
                redeploys += 1;
                let deployed = repo.main_commit(&d.sha).expect("a main commit");
                assert!((1..=3).contains(&(head.ordinal - deployed.ordinal)));
                assert_eq!(repo.main_contains(&head.sha, &d.sha), Some(true));
                assert_eq!(repo.main_contains(&d.sha, &head.sha), Some(false));
            }
        }
    }
    assert!(redeploys > 0);
}

#[test]
fn deploy_builds_record_the_head_of_main_at_their_start_except_a_few() {
    let org = history();
    let (mut recorded, mut all) = (0, 0);
    for job in org
        .jenkins_jobs
        .iter()
        .filter(|j| j.kind == JobKind::Deploy)
    {
        let (owner, name) = job.repo.split_once('/').unwrap();
        let repo = org.repo(owner, name).unwrap();
        for build in &job.builds {
            all += 1;
            if let Some(commit) = &build.commit {
                recorded += 1;
                assert!(repo.main_commit(commit).is_some());
                assert!(repo.main_commit(commit).unwrap().committed_at <= build.started_at);
            }
        }
    }
    assert!(
        recorded < all && recorded * 100 > all * 90,
        "{recorded} of {all}"
    );
}

#[test]
fn numbers_and_ids_stay_ascending_by_creation_after_the_insertions() {
    let org = history();
    for repo in &org.repos {
        for pair in repo.pulls.windows(2) {
            assert!(pair[0].number + 1 == pair[1].number);
            assert!(pair[0].created_at <= pair[1].created_at);
        }
        for pair in repo.deployments.windows(2) {
            assert!(pair[0].id < pair[1].id && pair[0].created_at <= pair[1].created_at);
        }
        let statuses: Vec<u64> = repo
            .deployments
            .iter()
            .flat_map(|d| d.statuses.iter().map(|s| s.id))
            .collect();
        assert!(statuses.windows(2).all(|p| p[0] < p[1]));
    }
    for job in &org.jenkins_jobs {
        for pair in job.builds.windows(2) {
            assert!(pair[0].number + 1 == pair[1].number);
            assert!(pair[0].started_at <= pair[1].started_at);
        }
    }
}
