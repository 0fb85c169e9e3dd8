//! A held run from the command line: a Jenkins list silently cut short is
//! held (exit 3), `runs show` gives the evidence, `metrics` shows the held
//! days as held rather than zero, and `runs rerun --standalone` after the
//! fault is lifted clears the hold and brings gold to the truth.

use dorafleet_system_tests::fleet_support;

use fleet_support::{Fleet, text};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

async fn run(fleet: &Fleet, args: &[&str]) -> (Option<i32>, String) {
    let out = fleet.cli(args, LIMIT).await;
    (out.status.code(), text(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_run_is_shown_with_its_evidence_and_a_rerun_after_the_fix_brings_gold_to_the_truth()
{
    let fleet = Fleet::start(2, &["jenkins:truncate#1"], 100).await;
    let mut args = vec!["standalone".to_owned()];
    args.extend(fleet.range_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = run(&fleet, &args).await;
    assert_eq!(code, Some(3), "a held run exits 3: {out}");
    assert!(out.contains("held: open "), "{out}");

    let held_run = fleet.warehouse().runs(1).await.unwrap()[0].clone();
    let id = held_run.run_id.to_string();
    assert_eq!(held_run.status, dorafleet_warehouse::RunStatus::Held);
    let (_, listed) = run(&fleet, &["runs", "list"]).await;
    assert!(listed.contains(&id) && listed.contains("held"), "{listed}");
    let (_, shown) = run(&fleet, &["runs", "show", &id]).await;
    for needle in [
        "held: a sensor kept its days out of gold",
        "holds:",
        "pagination jenkins:",
        "a short page ended the build list",
    ] {
        assert!(shown.contains(needle), "`{needle}` not in:\n{shown}");
    }
    let held_team = fleet.warehouse().holds(&Default::default()).await.unwrap()[0]
        .team_id
        .clone();
    // The hold is on a Jenkins scope: every metric reading Jenkins is held
    // for the team; time to restore service reads Jira alone and goes on.
    let reads_jenkins = |metric: &str| {
        dorafleet_core::Definitions::default()
            .inputs(metric.parse().unwrap())
            .contains(&dorafleet_core::Source::Jenkins)
    };
    assert!(
        fleet
            .gold()
            .await
            .iter()
            .all(|g| g.team != held_team || !reads_jenkins(&g.metric))
    );
    let (_, csv) = run(
        &fleet,
        &[
            "metrics", "--format", "csv", "--team", &held_team, args[1], args[2], args[3], args[4],
        ],
    )
    .await;
    assert!(csv.contains(",held,"), "{csv}");
    assert!(
        csv.lines()
            .filter(|l| l.contains(",known,"))
            .all(|l| l.contains("time_to_restore_service")),
        "no number of a held metric: {csv}"
    );
    let (_, table) = run(
        &fleet,
        &[
            "metrics", "--team", &held_team, args[1], args[2], args[3], args[4],
        ],
    )
    .await;
    assert!(
        table.contains("held by the pagination sensor on jenkins:"),
        "{table}"
    );
    assert!(
        table.contains("freshness (newest record extracted):"),
        "{table}"
    );
    for source in ["github", "jira", "jenkins"] {
        assert!(
            table
                .lines()
                .any(|l| l.trim_start().starts_with(source) && l.contains("newest")),
            "no freshness line for {source}: {table}"
        );
    }

    fleet.sim.state().clear_faults();
    let (code, out) = run(&fleet, &["runs", "rerun", &id, "--standalone"]).await;
    assert_eq!(code, Some(0), "{out}");
    let diffs = dorafleet_sim::differences(&fleet.sim.state().ground_truth(), &fleet.gold().await);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    let (_, shown) = run(&fleet, &["runs", "show", &id]).await;
    assert!(
        shown.contains("completed") && shown.contains("cleared"),
        "{shown}"
    );
    let (code, out) = run(&fleet, &["runs", "release", &id, "--reason", "real"]).await;
    assert_ne!(code, Some(0));
    assert!(out.contains("has no open holds"), "{out}");
}
