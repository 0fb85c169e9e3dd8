//! Lead time by hand, on real data: the recorded default-branch history of a
//! public repository (github3.py, 25 commits with their parents, recorded
//! by that project's own test suite; see the fixtures' README) with the pull
//! requests its merge commits name and five deployments of its commits. The
//! pull-request and deployment records are the recorded ones with their
//! numbers, commits and times set; everything else is as GitHub sent it.
//! The pages go through the GitHub normalizer and the v2 definitions, and
//! every change's lead time is checked against a table computed by hand.
//!
//! History on main, first parents, newest first (commit: pull request,
//! committed):
//!
//! ```text
//! 977560f2  #759  2017-12-29 02:41:15
//! 95df6218  #757  2017-12-29 02:39:50
//! 541468cd  #755  2017-12-27 20:16:45
//! b70bd331  #753  2017-12-27 12:06:11
//! 0914080b  #754  2017-12-26 20:38:11
//! d94a00af  #681  2017-12-22 22:28:27   (before coverage, 2017-12-23)
//! ```
//!
//! Deployments (created → success): D1 `0914080b` 12-26 21:00 → 21:10;
//! D2 `d94a00af` (an older commit) 12-27 11:50 → 12:20; D3 `b70bd331`
//! 13:00 → 13:15; D4 `95df6218` 12-29 02:40:30 → 03:00; D5 `977560f2`
//! 03:30 → 03:45.
//!
//! | change | first commit (author date) | shipped by | lead time |
//! |---|---|---|---|
//! | #754 | 0332689a 12-26 19:14:24 | D1 (contains it) | 1:55:36 |
//! | #753 | ed5f1233 12-26 18:32:40 | D3 (D2 finished after the merge but deploys an older commit) | 18:42:20 |
//! | #755 | 5232e756 12-26 21:46:17 | D4 (its first parent is #755's merge) | 53:13:43 |
//! | #757 | 54e1be1e 12-28 23:01:33 | D4 | 3:58:27 |
//! | #759 | 50cad0ac 12-28 23:44:04 | D5 (D4 started before the merge, its commit is older) | 4:00:56 |
//! | #681 | — | not credited: merged before coverage | — |
//!
//! Version 1's time rule (the first deployment finished after the merge)
//! would have credited #753 to D2 (17:47:20) and #759 to D4 (3:15:56).

use chrono::{DateTime, NaiveDate, Utc};
use dorafleet_core::{Config, Definitions, Metric, Scope, Source};
use dorafleet_dora as dora;
use dorafleet_stages::normalize::normalize_scope;
use dorafleet_warehouse::{BronzePage, TeamSilver};
use serde_json::{Value, json};
use uuid::Uuid;

const REPO: &str = "sigmavirus24/github3.py";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../sources/tests/fixtures/real/github/"
);

/// The body of the `index`-th recorded response of a fixture file.
fn recorded(file: &str, index: usize) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}{file}")).unwrap();
    let replay: Vec<Value> = serde_json::from_str(&text).unwrap();
    replay[index]["body"].clone()
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn page(endpoint: &str, request: String, records: Vec<Value>) -> BronzePage {
    BronzePage {
        task_id: Uuid::nil(),
        seq: 0,
        execution_id: Uuid::nil(),
        source_system: Source::Github,
        scope: scope(),
        endpoint: endpoint.into(),
        request,
        cursor: "1".into(),
        status: 200,
        fetched_at: Utc::now(),
        record_count: records.len() as u64,
        body: Value::Array(records).to_string(),
        etag: None,
        last_modified: None,
        link_next: None,
        reuses: None,
    }
}

fn scope() -> Scope {
    Scope {
        team: "python".into(),
        target: Some(REPO.into()),
    }
}

/// The recorded commit whose sha starts with `prefix`.
fn commit(history: &[Value], prefix: &str) -> Value {
    history
        .iter()
        .find(|c| c["sha"].as_str().unwrap().starts_with(prefix))
        .cloned()
        .unwrap_or_else(|| panic!("no recorded commit {prefix}"))
}

/// Every bronze page of the fixture.
fn pages() -> Vec<BronzePage> {
    let history: Vec<Value> = recorded("Repository_commits.json", 1)
        .as_array()
        .unwrap()
        .clone();
    let pull_template = recorded("Repository_pull_requests.json", 1)[0].clone();
    let deployment_template = recorded("Repository_deployments.json", 1)[0].clone();
    let status_template = recorded("Deployment_statuses.json", 2)[0].clone();

    // (number, head branch, merge commit, its commits)
    let pulls: [(u64, &str, &str, &[&str]); 6] = [
        (759, "bug/travis", "977560f2", &["50cad0ac"]),
        (757, "bug/gist-repr", "95df6218", &["54e1be1e"]),
        (755, "dev", "541468cd", &["5232e756"]),
        (753, "gist-split", "b70bd331", &["ed5f1233", "282c3bcb"]),
        (754, "no-network", "0914080b", &["0332689a"]),
        (
            681,
            "develop",
            "d94a00af",
            &["5042881e", "4a0205db", "3f5b17a5", "2c46fdad"],
        ),
    ];
    let mut bronze = vec![page(
        "repo_commits",
        format!("/repos/{REPO}/commits?since=2017-12-23T00:00:00Z&until=2017-12-30T00:00:00Z"),
        history.clone(),
    )];
    let mut pull_records = Vec::new();
    for (number, branch, merge, commits) in pulls {
        let merge = commit(&history, merge);
        let merged_at = merge["commit"]["committer"]["date"].clone();
        let mut pr = pull_template.clone();
        pr["number"] = json!(number);
        pr["state"] = json!("closed");
        pr["head"]["ref"] = json!(branch);
        pr["merged_at"] = merged_at.clone();
        pr["closed_at"] = merged_at.clone();
        pr["updated_at"] = merged_at;
        pr["merge_commit_sha"] = merge["sha"].clone();
        pull_records.push(pr);
        bronze.push(page(
            "pull_commits",
            format!("/repos/{REPO}/pulls/{number}/commits?per_page=100"),
            commits.iter().map(|c| commit(&history, c)).collect(),
        ));
    }
    bronze.push(page(
        "pulls",
        format!("/repos/{REPO}/pulls?state=closed"),
        pull_records,
    ));

    // (id, deployed commit, created, succeeded)
    let deployments = [
        (
            9001,
            "0914080b",
            "2017-12-26T21:00:00Z",
            "2017-12-26T21:10:00Z",
        ),
        (
            9002,
            "d94a00af",
            "2017-12-27T11:50:00Z",
            "2017-12-27T12:20:00Z",
        ),
        (
            9003,
            "b70bd331",
            "2017-12-27T13:00:00Z",
            "2017-12-27T13:15:00Z",
        ),
        (
            9004,
            "95df6218",
            "2017-12-29T02:40:30Z",
            "2017-12-29T03:00:00Z",
        ),
        (
            9005,
            "977560f2",
            "2017-12-29T03:30:00Z",
            "2017-12-29T03:45:00Z",
        ),
    ];
    let mut deployment_records = Vec::new();
    for (id, sha, created, succeeded) in deployments {
        let mut d = deployment_template.clone();
        d["id"] = json!(id);
        d["sha"] = commit(&history, sha)["sha"].clone();
        d["created_at"] = json!(created);
        d["updated_at"] = json!(succeeded);
        deployment_records.push(d);
        let mut status = status_template.clone();
        status["id"] = json!(id * 10);
        status["state"] = json!("success");
        status["created_at"] = json!(succeeded);
        status["updated_at"] = json!(succeeded);
        bronze.push(page(
            "deployment_statuses",
            format!("/repos/{REPO}/deployments/{id}/statuses?per_page=100"),
            vec![status],
        ));
    }
    bronze.push(page(
        "deployments",
        format!("/repos/{REPO}/deployments"),
        deployment_records,
    ));
    bronze
}

fn silver() -> TeamSilver {
    let batch = normalize_scope(
        &Config::default(),
        Source::Github,
        &scope(),
        Uuid::nil(),
        &pages(),
    )
    .unwrap();
    TeamSilver {
        deployments: batch.deployments,
        changes: batch.changes,
        commits: batch.commits,
        ..TeamSilver::default()
    }
}

fn coverage() -> dora::CoverageStarts {
    dora::CoverageStarts([(REPO.to_owned(), utc("2017-12-23T00:00:00Z"))].into())
}

fn hms(h: i64, m: i64, s: i64) -> f64 {
    (h * 3600 + m * 60 + s) as f64 / 3600.0
}

#[test]
fn each_changes_lead_time_on_the_recorded_history_matches_the_table_computed_by_hand() {
    let silver = silver();
    assert_eq!(silver.commits.len(), 25, "the recorded history, whole");
    assert_eq!(silver.changes.len(), 6);
    let (links, tally) = dora::change_links(&Definitions::default(), &silver, &coverage());
    let table: Vec<(u64, &str, f64)> = links
        .iter()
        .map(|l| {
            assert!(!l.by_time, "#{} linked through the history", l.number);
            (
                l.number,
                l.deployment.rsplit('#').next().unwrap(),
                l.lead_time_hours.unwrap(),
            )
        })
        .collect();
    let by_hand = [
        (754, "9001", hms(1, 55, 36)),
        (753, "9003", hms(18, 42, 20)),
        (755, "9004", hms(53, 13, 43)),
        (757, "9004", hms(3, 58, 27)),
        (759, "9005", hms(4, 0, 56)),
    ];
    assert_eq!(table.len(), by_hand.len(), "{table:?}");
    for (number, deployment, hours) in by_hand {
        let (_, got_deployment, got_hours) = table
            .iter()
            .find(|(n, _, _)| *n == number)
            .unwrap_or_else(|| panic!("#{number} not shipped"));
        assert_eq!(*got_deployment, deployment, "#{number}");
        assert!((got_hours - hours).abs() < 1e-9, "#{number}: {got_hours} h");
    }
    assert_eq!(tally.dropped["merged before coverage"], 1, "#681");
    assert_eq!(tally.by_history, 5);
}

#[test]
fn the_days_of_the_hand_computed_table_give_its_medians() {
    let silver = silver();
    let day = |d: u32| NaiveDate::from_ymd_opt(2017, 12, d).unwrap();
    let days = [day(26), day(27), day(28), day(29)];
    let computed = dora::compute(
        &Definitions::default(),
        &silver,
        &coverage(),
        &days,
        &[Metric::DeploymentFrequency, Metric::LeadTimeForChanges],
    );
    let value = |d: u32, metric: Metric| {
        let v = computed
            .values
            .iter()
            .find(|v| v.date == day(d) && v.metric == metric)
            .unwrap();
        (v.value, v.sample_size)
    };
    assert_eq!(value(26, Metric::DeploymentFrequency), (Some(1.0), 1));
    assert_eq!(value(27, Metric::DeploymentFrequency), (Some(2.0), 2));
    assert_eq!(value(28, Metric::DeploymentFrequency), (Some(0.0), 0));
    assert_eq!(value(29, Metric::DeploymentFrequency), (Some(2.0), 2));
    let lead = |d: u32| value(d, Metric::LeadTimeForChanges);
    assert_eq!(lead(26).1, 1);
    assert!((lead(26).0.unwrap() - hms(1, 55, 36)).abs() < 1e-9);
    assert!((lead(27).0.unwrap() - hms(18, 42, 20)).abs() < 1e-9);
    assert_eq!(lead(28), (None, 0));
    // 12-29: #755 53:13:43, #757 3:58:27, #759 4:00:56: the median is #759's.
    assert_eq!(lead(29).1, 3);
    assert!((lead(29).0.unwrap() - hms(4, 0, 56)).abs() < 1e-9);
}
