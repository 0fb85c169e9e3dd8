//! Dead-letter triage from the command line: an outage dead-letters a
//! source's tasks and blocks its teams' gold; after the fault is lifted a
//! replay by filter brings gold back to the truth. Replays survive being
//! killed, never double up when run concurrently, and refuse bad input.

use dorafleet_system_tests::fleet_support;

use chrono::Utc;
use dorafleet_broker::{Broker, Route};
use dorafleet_core::{
    AttemptRecord, DeadLetter, ErrorClass, Scope, Source, Stage, TaskEnvelope, Window,
};
use dorafleet_warehouse::{LetterFilter, LetterStatus, Warehouse};
use fleet_support::{Fleet, eventually, finish, text};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn range(fleet: &Fleet) -> Vec<String> {
    fleet.range_args()
}

async fn run(fleet: &Fleet, args: &[&str]) -> std::process::Output {
    fleet.cli(args, LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_replayed_by_filter_after_the_fault_is_lifted_brings_gold_to_the_truth() {
    let fleet = Fleet::start(2, &["jira:503@1"], 100).await;
    let mut args = vec!["standalone".to_owned()];
    args.extend(range(&fleet));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&fleet, &args).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "dead letters make the run fail: {}",
        text(&out)
    );
    let jira_projects: usize = fleet
        .sim
        .state()
        .organisation()
        .team_configs()
        .iter()
        .map(|t| t.jira_projects.len())
        .sum();
    let letters = fleet
        .warehouse()
        .archived_letters(&LetterFilter::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), jira_projects, "one letter per Jira project");
    assert!(
        letters
            .iter()
            .all(|a| a.letter.source == Some(Source::Jira))
    );
    let gold = fleet.gold().await;
    assert!(
        gold.iter()
            .all(|g| g.metric != "change_failure_rate"
                && g.metric != "failed_deployment_recovery_time"),
        "every team has a Jira project: no incident metric anywhere"
    );
    let read_without_jira =
        |metric: &str| metric == "deployment_frequency" || metric == "lead_time_for_changes";
    let truth: Vec<_> = fleet
        .sim
        .state()
        .ground_truth()
        .iter()
        .filter(|t| read_without_jira(&t.metric))
        .cloned()
        .collect();
    let diffs = dorafleet_sim::differences(&truth, &gold);
    assert!(
        diffs.is_empty(),
        "the metrics that do not read Jira equal the truth during the outage:\n{}",
        diffs.join("\n")
    );
    let run_id = fleet.warehouse().runs(1).await.unwrap()[0]
        .run_id
        .to_string();
    let shown = text(&run(&fleet, &["runs", "show", &run_id]).await);
    assert!(
        shown.contains("blocked")
            && shown.contains("closed for the metrics reading a dead-lettered scope")
            && shown
                .contains("change_failure_rate              unknown: input dead-lettered (jira:"),
        "{shown}"
    );
    assert!(
        shown.contains("  schema  0 records rejected; no unknown fields"),
        "{shown}"
    );

    fleet.sim.state().clear_faults();
    let out = run(
        &fleet,
        &[
            "dlq",
            "replay",
            "--filter",
            "source=jira",
            "--yes",
            "--standalone",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("replayed {jira_projects} letters")),
        "{}",
        text(&out)
    );
    let diffs = dorafleet_sim::differences(&fleet.sim.state().ground_truth(), &fleet.gold().await);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    let out = run(
        &fleet,
        &["dlq", "list", "--status", "replayed", "--format", "json"],
    )
    .await;
    let listed: Vec<dorafleet_warehouse::ArchivedLetter> =
        serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), jira_projects);
    for a in listed {
        let actions: Vec<&str> = a.audit.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, vec!["archived", "replay_claimed", "replayed"]);
        assert_eq!(a.replay_count, 1);
    }
    let shown = text(&run(&fleet, &["runs", "show", &run_id]).await);
    assert!(
        shown.contains("completed") && shown.contains("passed: gold written"),
        "{shown}"
    );
    assert!(!shown.contains("closed"), "{shown}");
    let runs = fleet.warehouse().runs(10).await.unwrap();
    assert_eq!(runs.len(), 1, "the blocked run itself was completed");
    assert_eq!(runs[0].status, dorafleet_warehouse::RunStatus::Completed);
}

/// Store `n` dead letters of extract tasks straight into the warehouse.
async fn store_letters(warehouse: &Arc<dyn Warehouse>, n: usize) -> Vec<DeadLetter> {
    let now = Utc::now();
    let mut letters = Vec::new();
    for i in 0..n {
        let task = TaskEnvelope::new(
            uuid::Uuid::now_v7(),
            Stage::Extract,
            Some(Source::Github),
            Scope {
                team: "payments".into(),
                target: Some(format!("acme/repo-{i}")),
            },
            Window {
                from: now - chrono::Duration::days(1),
                to: now,
            },
            3,
        );
        let letter = DeadLetter::for_task(
            &task,
            AttemptRecord {
                attempt: 3,
                at: now,
                worker: "w".into(),
                class: ErrorClass::Transient,
                message: "HTTP 503".into(),
                progressed: false,
            },
            "retries exhausted".into(),
        );
        warehouse.store_dead_letter(&letter).await.unwrap();
        letters.push(letter);
    }
    letters
}

/// Every task published to the extract.github queue, by task id.
async fn drain_published(fleet: &Fleet, expected_at_least: usize) -> HashMap<uuid::Uuid, usize> {
    let broker = fleet.broker().await;
    let mut stream = broker
        .consume_tasks(&[Route {
            stage: Stage::Extract,
            source: Some(Source::Github),
        }])
        .await
        .unwrap();
    let mut seen: HashMap<uuid::Uuid, usize> = HashMap::new();
    loop {
        let wait = if seen.values().sum::<usize>() < expected_at_least {
            Duration::from_secs(20)
        } else {
            Duration::from_millis(500)
        };
        match tokio::time::timeout(wait, stream.next()).await {
            Ok(Some(d)) => {
                let task = TaskEnvelope::decode(&d.body).unwrap();
                assert_eq!(task.attempt, 1, "replayed with a fresh budget");
                *seen.entry(task.task_id).or_default() += 1;
                d.ack().await.unwrap();
            }
            _ => break,
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_killed_mid_way_is_finished_by_the_next_with_every_republish_recorded() {
    let fleet = Fleet::start(1, &[], 100).await;
    let warehouse = fleet.warehouse();
    // Enough batches (256 letters each) that the replay is still going when
    // the poll below sees its first batch done.
    let letters = store_letters(&warehouse, 4000).await;
    let _ = fleet.broker().await; // declare the topology before publishing
    let mut first = fleet
        .command(&["dlq", "replay", "--filter", "team=payments", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let replayed = LetterFilter {
        status: Some(LetterStatus::Replayed),
        ..LetterFilter::default()
    };
    eventually(LIMIT, "some letters replayed", || async {
        warehouse.archived_letters(&replayed).await.unwrap().len() >= 50
    })
    .await;
    first.kill().unwrap();
    let _ = first.wait();
    let after_kill = warehouse.archived_letters(&replayed).await.unwrap().len();
    assert!(
        after_kill < letters.len(),
        "killed mid-way ({after_kill} of {})",
        letters.len()
    );

    let out = run(
        &fleet,
        &[
            "dlq",
            "replay",
            "--filter",
            "team=payments",
            "--yes",
            "--stale-after-secs",
            "0",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));

    let all = warehouse
        .archived_letters(&LetterFilter::default())
        .await
        .unwrap();
    assert!(
        all.iter().all(|a| a.status == LetterStatus::Replayed),
        "every letter replayed"
    );
    let published = drain_published(&fleet, letters.len()).await;
    for a in &all {
        let task_id = a.letter.envelope.as_ref().unwrap().task_id;
        let times = published.get(&task_id).copied().unwrap_or(0);
        assert!(times >= 1, "letter {} never republished", a.letter.id);
        let claims = a
            .audit
            .iter()
            .filter(|e| e.action == "replay_claimed")
            .count();
        assert!(
            times <= claims,
            "letter {} republished {times} times with {claims} claims on record",
            a.letter.id
        );
    }
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_replays_of_the_same_filter_republish_each_letter_once() {
    let fleet = Fleet::start(1, &[], 100).await;
    let warehouse = fleet.warehouse();
    let letters = store_letters(&warehouse, 400).await;
    let _ = fleet.broker().await;
    let spawn = || {
        fleet
            .command(&["dlq", "replay", "--filter", "source=github", "--yes"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = tokio::join!(finish(a, LIMIT), finish(b, LIMIT));
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        text(&a),
        text(&b)
    );

    let published = drain_published(&fleet, letters.len()).await;
    assert_eq!(published.len(), letters.len());
    assert!(
        published.values().all(|n| *n == 1),
        "a letter was republished twice"
    );
    let all = warehouse
        .archived_letters(&LetterFilter::default())
        .await
        .unwrap();
    assert!(all.iter().all(|a| a.replay_count == 1));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_filters_unknown_ids_and_a_broker_down_fail_clearly_and_change_nothing() {
    let mut fleet = Fleet::start(1, &[], 100).await;
    let warehouse = fleet.warehouse();
    let letters = store_letters(&warehouse, 3).await;
    let unchanged = |w: Arc<dyn Warehouse>| async move {
        let all = w.archived_letters(&LetterFilter::default()).await.unwrap();
        all.iter()
            .all(|a| a.status == LetterStatus::Dead && a.audit.len() == 1)
    };

    let out = run(
        &fleet,
        &["dlq", "replay", "--filter", "colour=red", "--yes"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown filter key `colour`"),
        "{}",
        text(&out)
    );

    let out = run(&fleet, &["dlq", "replay", "--yes"]).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("refusing to replay every letter"),
        "{}",
        text(&out)
    );

    let unknown = uuid::Uuid::now_v7().to_string();
    let known = letters[0].id.to_string();
    let out = run(&fleet, &["dlq", "replay", &known, &unknown, "--yes"]).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("unknown dead-letter id(s): {unknown}")),
        "{}",
        text(&out)
    );

    let out = run(&fleet, &["dlq", "show", &unknown]).await;
    assert!(
        text(&out).contains("no dead letter with id"),
        "{}",
        text(&out)
    );

    let out = run(&fleet, &["dlq", "replay", "--filter", "source=github"]).await;
    assert!(!out.status.success(), "no terminal, no --yes: refused");
    assert!(text(&out).contains("pass --yes"), "{}", text(&out));

    fleet.env.push((
        "DORAFLEET_BROKER__URL".into(),
        "amqp://guest:guest@127.0.0.1:1/%2f".into(),
    ));
    let out = run(
        &fleet,
        &["dlq", "replay", "--filter", "source=github", "--yes"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("connecting to RabbitMQ"),
        "{}",
        text(&out)
    );
    assert!(
        !text(&out).contains("guest:guest"),
        "the password is never shown"
    );

    let out = run(
        &fleet,
        &[
            "dlq",
            "discard",
            &known,
            "--reason",
            "known outage",
            "--dry-run",
        ],
    )
    .await;
    assert!(
        out.status.success() && text(&out).contains("would discard"),
        "{}",
        text(&out)
    );
    assert!(
        unchanged(fleet.warehouse()).await,
        "nothing changed by any of the above"
    );

    let out = run(
        &fleet,
        &[
            "dlq",
            "discard",
            &known,
            "--reason",
            "known outage",
            "--yes",
        ],
    )
    .await;
    assert!(text(&out).contains("discarded 1 letters"), "{}", text(&out));
    let out = run(&fleet, &["dlq", "show", &known]).await;
    assert!(
        text(&out).contains("status:        discarded"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("known outage"), "{}", text(&out));
    let out = run(&fleet, &["dlq", "stats"]).await;
    assert!(text(&out).contains("3 dead letters"), "{}", text(&out));
}
