//! Gates per metric: a source down for a whole run blanks only the metrics
//! that read it — deployment frequency and lead time go on through a Jira
//! outage — and names the source as the reason; a replay once the source is
//! back fills the blanks in without rewriting the others.

mod common;

use common::{clients, config, differences, gold, run, sim, truth_without, warehouse};
use dorafleet_broker::InProcessBroker;
use dorafleet_coordinator::replay::{ReplayOptions, replay};
use dorafleet_core::Source;
use dorafleet_standalone::finish_in_process;
use dorafleet_warehouse::{GoldRecord, LetterFilter};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const TEAMS: usize = 2;

/// Gold keyed by (team, day, metric), with the run that wrote each record.
fn provenance(gold: &[GoldRecord]) -> BTreeMap<(String, chrono::NaiveDate, String), uuid::Uuid> {
    gold.iter()
        .map(|g| {
            (
                (g.team_id.clone(), g.date, g.metric.as_str().to_owned()),
                g.run_id,
            )
        })
        .collect()
}

async fn one_source_down_for_the_whole_run_then_replayed(down: Source) {
    let sim = sim(TEAMS, &[&format!("{down}:503@1")]).await;
    let config = config(&sim, 2);
    let warehouse = warehouse();

    let summary = run(&config, &warehouse).await;
    assert!(summary.dead > 0, "{down}: its extracts were dead-lettered");
    assert_eq!(summary.unfinished, 0);
    let truth = sim.state().ground_truth();
    let mut expected = truth.to_vec();
    for team in &config.teams {
        expected = truth_without(&expected, &team.id, down);
    }
    let during = gold(&warehouse).await;
    let diffs = differences(&during, &expected);
    assert!(
        diffs.is_empty(),
        "{down} down: the metrics that do not read it equal the truth:\n{}",
        diffs.join("\n")
    );

    let reports = dorafleet_operations::metrics::team_reports(
        warehouse.as_ref(),
        &config,
        &[],
        common::window().from.date_naive(),
        common::window().to.date_naive(),
    )
    .await
    .unwrap();
    for report in &reports {
        for s in &report.summary {
            let reads = config.definitions.inputs(s.metric).contains(&down);
            if reads {
                assert_eq!(s.known_days, 0, "{down}: {} {}", report.team, s.metric);
                let reason = s.unknown_reason.as_deref().unwrap_or_default();
                assert!(
                    reason.starts_with(&format!("{down} ")) && reason.contains("never extracted"),
                    "{down}: {} {}: {reason}",
                    report.team,
                    s.metric
                );
            } else {
                assert_eq!(s.unknown_days, 0, "{down}: {} {}", report.team, s.metric);
            }
        }
    }

    sim.state().clear_faults();
    let letters = warehouse
        .archived_letters(&LetterFilter::default())
        .await
        .unwrap();
    assert!(letters.iter().all(|l| l.letter.source == Some(down)));
    let broker = InProcessBroker::new();
    let report = replay(
        warehouse.as_ref(),
        &broker,
        &letters,
        &ReplayOptions {
            actor: "test@gates".into(),
            stale_after: Duration::from_secs(60),
        },
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(report.replayed.len(), letters.len());
    let finished = finish_in_process(
        &broker,
        Arc::clone(&warehouse),
        clients(&config),
        Arc::new(config.clone()),
        common::options(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(finished.len(), 1, "the run was reopened and finished");
    assert_eq!((finished[0].dead, finished[0].unfinished), (0, 0));

    let after = gold(&warehouse).await;
    let diffs = differences(&after, &truth);
    assert!(
        diffs.is_empty(),
        "{down} back: all metrics equal the truth:\n{}",
        diffs.join("\n")
    );
    // What did not change was not rewritten: same records, same provenance.
    let (before, now) = (provenance(&during), provenance(&after));
    for (key, run) in &before {
        assert_eq!(now.get(key), Some(run), "{down}: {key:?} was rewritten");
    }
}

#[tokio::test]
async fn a_jira_outage_blanks_only_the_incident_metrics_until_replayed() {
    one_source_down_for_the_whole_run_then_replayed(Source::Jira).await;
}

#[tokio::test]
async fn a_github_outage_blanks_every_metric_that_reads_github_until_replayed() {
    one_source_down_for_the_whole_run_then_replayed(Source::Github).await;
}

#[tokio::test]
async fn a_jenkins_outage_blanks_every_metric_that_reads_jenkins_until_replayed() {
    one_source_down_for_the_whole_run_then_replayed(Source::Jenkins).await;
}
