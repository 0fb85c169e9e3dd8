//! Schema validation at the extract boundary, end to end: a field renamed in
//! a small share of Jira's records (issues and the changelog entries of
//! issues done without a resolution date) leaves the run complete with the
//! rejected records and the unknown field counted; in a larger share it
//! dead-letters the Jira tasks with the ratio and a sample of the rejections.

mod common;

use common::{config, end, run_over, sim_over, warehouse, window_of};
use dorafleet_core::{Config, ErrorClass, Source};
use dorafleet_sim::{Endpoint, RequestLogEntry, RunningSim, drift_selects};
use dorafleet_standalone::RunSummary;
use dorafleet_warehouse::Warehouse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const TEAMS: usize = 3;
/// Long enough for every project to have more than 34 issues, so that 3 %
/// of them is at least one.
const DAYS: u32 = 90;

/// A run over the whole history of a simulator serving `fault`.
async fn run_with(fault: &str) -> (RunningSim, Config, Arc<dyn Warehouse>, RunSummary) {
    let sim = sim_over(11, DAYS, end(), TEAMS, &[fault]).await;
    let config = config(&sim, 3);
    let warehouse = warehouse();
    let summary = run_over(window_of(DAYS), &config, &warehouse).await;
    (sim, config, warehouse, summary)
}

/// What one Jira project served, and how much of it the drift renamed.
#[derive(Debug, Clone, Copy)]
struct Served {
    /// Issues of the search (every issue of the history, served once).
    issues: u64,
    /// Issues whose `fields.created` the simulator renames at the share.
    drifted_issues: u64,
    /// Changelog entries of the issues whose changelog extract read (done
    /// without a resolution date), served outside `served_records`.
    entries: u64,
    /// Changelog entries whose `created` the drift renames too: a Jira
    /// drift hits every Jira record with the field, numbered by its `id`.
    drifted_entries: u64,
}

impl Served {
    /// Records the project's extract validated: issues and changelog entries.
    fn records(&self) -> u64 {
        self.issues + self.entries
    }

    /// Records validation rejects: every drifted one lacks `created`.
    fn drifted(&self) -> u64 {
        self.drifted_issues + self.drifted_entries
    }
}

/// The Jira issue key of a changelog request path
/// (`…/rest/api/3/issue/{key}/changelog`).
fn changelog_key(path: &str) -> Option<&str> {
    let mut parts = path.split('/');
    parts.find(|p| *p == "issue")?;
    parts.next()
}

/// Per Jira project, what was served and what the drift at `share` hit.
/// Every issue of the simulated history is served once; the changelogs are
/// those the request log shows, each served once and whole.
fn served_per_project(sim: &RunningSim, share: f64) -> BTreeMap<String, Served> {
    let log = sim.state().request_log();
    let changelogs: Vec<&RequestLogEntry> = log
        .iter()
        .filter(|e| e.endpoint == Endpoint::JiraChangelog && e.status == 200)
        .collect();
    let keys: BTreeSet<&str> = changelogs
        .iter()
        .map(|e| changelog_key(&e.path).expect("a changelog path names its issue"))
        .collect();
    assert_eq!(keys.len(), changelogs.len(), "each changelog is one page");
    let served: BTreeMap<String, Served> = sim
        .state()
        .organisation()
        .jira_projects
        .iter()
        .map(|p| {
            let count = |n: usize| n as u64;
            let issue_hits = p.issues.iter().filter(|i| {
                let n = i.key.rsplit_once('-').unwrap().1.parse().unwrap();
                drift_selects(n, share)
            });
            let with_changelog = || p.issues.iter().filter(|i| keys.contains(i.key.as_str()));
            let served = Served {
                issues: count(p.issues.len()),
                drifted_issues: count(issue_hits.count()),
                entries: count(with_changelog().map(|i| i.transitions.len()).sum()),
                drifted_entries: count(
                    with_changelog()
                        .flat_map(|i| &i.transitions)
                        .filter(|t| drift_selects(t.id, share))
                        .count(),
                ),
            };
            (p.key.clone(), served)
        })
        .collect();
    assert_eq!(
        served.values().map(|s| s.entries).sum::<u64>(),
        changelogs.iter().map(|e| e.records).sum::<u64>(),
        "the changelogs served are those of the issues in the request log, whole"
    );
    assert!(
        served.values().any(|s| s.entries > 0),
        "some issue was done without a resolution date: {served:?}"
    );
    served
}

#[tokio::test]
async fn schema_drift_in_three_percent_of_jira_issues_passes_with_the_rejections_counted() {
    let (sim, _, warehouse, summary) = run_with("jira:drift=created->createdDate*0.03@1").await;

    let expected = served_per_project(&sim, 0.03);
    let issues: u64 = expected.values().map(|s| s.issues).sum();
    let drifted_issues: u64 = expected.values().map(|s| s.drifted_issues).sum();
    let records: u64 = expected.values().map(Served::records).sum();
    let rejected: u64 = expected.values().map(Served::drifted).sum();
    assert_eq!(
        sim.state().served_records()[&Source::Jira],
        issues,
        "every issue was served once"
    );
    assert!(
        expected.values().all(|s| s.drifted_issues > 0),
        "the drift hit issues in every project: {expected:?}"
    );

    let letters = warehouse.dead_letters(100).await.unwrap();
    assert!(letters.is_empty(), "{letters:#?}");
    assert_eq!((summary.dead, summary.unfinished), (0, 0));
    assert!(summary.blocked_teams.is_empty());
    assert_eq!(summary.normalized.rejected_records, rejected);
    assert_eq!(
        summary.normalized.unknown_fields,
        BTreeMap::from([("createdDate".to_owned(), rejected)])
    );
    assert_eq!(
        summary.normalized.incidents,
        issues - drifted_issues,
        "silver holds every valid issue and no rejected one"
    );
    assert_eq!(
        summary.by_source[&Source::Jira].bronze_records,
        records,
        "bronze keeps the rejected records: issues and changelog entries"
    );
}

#[tokio::test]
async fn schema_drift_in_ten_percent_of_jira_issues_dead_letters_the_jira_tasks_with_a_sample() {
    let (sim, config, warehouse, summary) = run_with("jira:drift=created->createdDate*0.1@1").await;
    let max_ratio = config.quality.max_rejected_ratio;
    assert_eq!(max_ratio, 0.05);

    let expected = served_per_project(&sim, 0.1);
    let failing: BTreeMap<&String, &Served> = expected
        .iter()
        .filter(|(_, s)| s.drifted() as f64 / s.records() as f64 > max_ratio)
        .collect();
    assert_eq!(
        failing.len(),
        expected.len(),
        "every project has at least 10 issues: {expected:?}"
    );

    assert_eq!(summary.by_source[&Source::Jira].dead, failing.len());
    assert_eq!(summary.dead, failing.len(), "only the Jira tasks fail");
    let letters = warehouse.dead_letters(100).await.unwrap();
    assert_eq!(letters.len(), failing.len());
    for letter in &letters {
        assert_eq!(letter.source, Some(Source::Jira));
        assert_eq!(letter.error_class, ErrorClass::Permanent);
        assert_eq!(
            letter.attempts.len(),
            1,
            "a permanent failure is not retried"
        );
        let project = letter.scope.as_ref().unwrap().target.clone().unwrap();
        // Validation counts per page, changelog pages included: the ratio
        // is over the issues and the changelog entries the task read.
        let (n, hits) = (expected[&project].records(), expected[&project].drifted());
        let ratio = hits as f64 / n as f64;
        for needle in [
            format!("rejected {hits} of {n} records"),
            format!("ratio {ratio:.4}"),
            "above quality.max_rejected_ratio 0.05".to_owned(),
            format!("unknown fields: `createdDate` in {hits}"),
            "sample: jira_search page 1 record ".to_owned(),
            // Issues come ordered by update, so only the key is predictable.
            format!("({project}-10): missing `fields.created`"),
        ] {
            assert!(
                letter.reason.contains(&needle),
                "{project}: `{needle}` not in {}",
                letter.reason
            );
        }
    }
    assert_eq!(
        summary.blocked_teams.len(),
        TEAMS,
        "no gold from a dead-lettered source"
    );
}
