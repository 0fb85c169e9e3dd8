//! Dead-letter benchmark: 3 × 10,000 letters published to RabbitMQ's
//! dead-letter queue are archived into an SQLite warehouse (stored, then
//! acked), each letter's task recorded dead in a blocked run, then replayed
//! from the archive (claimed, republished with confirms, marked, the task
//! and run reopened) three ways, so every figure comes from the same run: a
//! third one letter at a time, as replays went before batching (claim,
//! publish and await its confirm, mark); a third with the confirms of a
//! batch pipelined but the warehouse written per letter (claim and read
//! back, then mark), as replays went before the archive's batch methods;
//! and a third by [`replay`], a batch at a time. Prints letters/s and the
//! ratios; asserts nothing about speed.
//!
//! Run with `scripts/bench.sh replay` (RabbitMQ at 127.0.0.1:5672). Knob:
//! `DORAFLEET_BENCH_LETTERS` (10000, per third).

use chrono::Utc;
use dorafleet_broker::{Broker, RabbitBroker, RabbitConfig};
use dorafleet_coordinator::archive::archive_dead_letters;
use dorafleet_coordinator::replay::{REPLAY_BATCH, ReplayOptions, replay, replay_envelope};
use dorafleet_core::{
    AttemptRecord, DeadLetter, ErrorClass, Scope, Source, Stage, TaskEnvelope, Window,
};
use dorafleet_warehouse::{
    ArchivedLetter, LetterArchive, LetterFilter, RunRecord, RunStatus, TaskRecord, TaskState,
    Warehouse, sqlite::SqliteWarehouse,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

fn letter(i: usize) -> DeadLetter {
    let now = Utc::now();
    let task = TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        Stage::Extract,
        Some(Source::Github),
        Scope {
            team: format!("team-{}", i % 20),
            target: Some(format!("acme/repo-{i}")),
        },
        Window {
            from: now - chrono::Duration::days(1),
            to: now,
        },
        6,
    );
    DeadLetter::for_task(
        &task,
        AttemptRecord {
            attempt: 6,
            at: now,
            worker: "bench".into(),
            class: ErrorClass::Transient,
            message: "HTTP 503".into(),
            progressed: false,
        },
        "retries exhausted after 6 attempts without progress".into(),
    )
}

/// How replays went before batching: per letter, a claim, a publish whose
/// confirm is awaited, and the mark.
async fn replay_one_at_a_time(
    warehouse: &dyn LetterArchive,
    broker: &dyn Broker,
    letters: &[ArchivedLetter],
    options: &ReplayOptions,
) -> usize {
    let mut replayed = 0;
    for letter in letters {
        let id = letter.letter.id;
        let claimed = warehouse
            .claim_letter(id, &options.actor, options.stale_after)
            .await
            .expect("claim");
        let Some(task) = claimed.as_ref().and_then(replay_envelope) else {
            continue;
        };
        broker.publish(&task).await.expect("republish");
        warehouse
            .finish_replay(id, &options.actor, &task)
            .await
            .expect("mark");
        replayed += 1;
    }
    replayed
}

/// How replays went before the archive's batch methods: a batch's claims
/// one by one (each read back), its publishes with their confirms
/// pipelined, then its marks one by one.
async fn replay_with_per_letter_writes(
    warehouse: &dyn LetterArchive,
    broker: &dyn Broker,
    letters: &[ArchivedLetter],
    options: &ReplayOptions,
) -> usize {
    let mut replayed = 0;
    for batch in letters.chunks(REPLAY_BATCH) {
        let mut claimed = Vec::with_capacity(batch.len());
        for letter in batch {
            let id = letter.letter.id;
            let letter = warehouse
                .claim_letter(id, &options.actor, options.stale_after)
                .await
                .expect("claim");
            if let Some(task) = letter.as_ref().and_then(replay_envelope) {
                claimed.push((id, task));
            }
        }
        let tasks: Vec<TaskEnvelope> = claimed.iter().map(|(_, task)| task.clone()).collect();
        for outcome in broker.publish_all(&tasks).await {
            outcome.expect("republish");
        }
        for (id, task) in &claimed {
            warehouse
                .finish_replay(*id, &options.actor, task)
                .await
                .expect("mark");
            replayed += 1;
        }
    }
    replayed
}

/// One blocked run holding every letter's task, recorded dead, as the
/// coordinator leaves them: marking a letter replayed then resets a real
/// task record and reopens a real run.
async fn record_dead_tasks(warehouse: &dyn Warehouse, letters: &[ArchivedLetter]) {
    let now = Utc::now();
    let run_id = uuid::Uuid::now_v7();
    let mut records = Vec::with_capacity(letters.len());
    for letter in letters {
        let mut task = letter.letter.envelope.clone().expect("a task");
        task.run_id = run_id;
        records.push(TaskRecord {
            envelope: task,
            state: TaskState::Dead,
            published: true,
            worker: Some("bench".into()),
            attempts: 6,
            updated_at: now,
        });
    }
    warehouse
        .save_run(&RunRecord {
            run_id,
            kind: "range".into(),
            window: Window {
                from: now - chrono::Duration::days(1),
                to: now,
            },
            status: RunStatus::Blocked,
            created_at: now,
            updated_at: now,
            traceparent: None,
        })
        .await
        .expect("run");
    warehouse.save_tasks(&records).await.expect("tasks");
}

#[tokio::main]
async fn main() {
    let third: usize = std::env::var("DORAFLEET_BENCH_LETTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let letters = 3 * third;
    let prefix = format!("bench-replay-{}", uuid::Uuid::now_v7().simple());
    let broker = RabbitBroker::connect(RabbitConfig {
        prefix,
        ..RabbitConfig::default()
    })
    .await
    .expect("RabbitMQ at 127.0.0.1:5672 (scripts/bench.sh starts it)");
    let dir = tempfile::tempdir().expect("temp dir");
    let warehouse: Arc<dyn Warehouse> =
        Arc::new(SqliteWarehouse::open(dir.path().join("bench.db")).expect("warehouse"));

    let began = Instant::now();
    let mut publishing = JoinSet::new();
    for chunk in (0..letters)
        .collect::<Vec<_>>()
        .chunks(letters.div_ceil(16))
    {
        let (broker, chunk) = (broker.clone(), chunk.to_vec());
        publishing.spawn(async move {
            for i in chunk {
                broker
                    .publish_dead_letter(&letter(i))
                    .await
                    .expect("publish");
            }
        });
    }
    while publishing.join_next().await.is_some() {}
    println!(
        "setup: {letters} dead letters published with confirms in {:.2} s",
        began.elapsed().as_secs_f64()
    );

    let archived = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let began = Instant::now();
    let archiver = tokio::spawn({
        let (broker, warehouse, stop, archived) = (
            Arc::new(broker.clone()) as Arc<dyn Broker>,
            Arc::clone(&warehouse),
            stop.clone(),
            Arc::clone(&archived),
        );
        async move {
            archive_dead_letters(broker, warehouse, stop.clone(), move |_| {
                if archived.fetch_add(1, Ordering::SeqCst) + 1 == letters {
                    stop.cancel();
                }
            })
            .await
        }
    });
    let _ = tokio::time::timeout(Duration::from_secs(600), archiver).await;
    let archive_secs = began.elapsed().as_secs_f64();
    let stored = warehouse
        .archived_letters(&LetterFilter::default())
        .await
        .expect("list");
    println!(
        "archive: {} letters from the dead-letter queue into the warehouse in {archive_secs:.2} s ({:.0} letters/s)",
        stored.len(),
        stored.len() as f64 / archive_secs
    );
    record_dead_tasks(warehouse.as_ref(), &stored).await;
    let (one_by_one, rest) = stored.split_at(stored.len() / 3);
    let (per_letter_writes, batched) = rest.split_at(rest.len() / 2);
    let options = ReplayOptions {
        actor: "bench@localhost".into(),
        stale_after: Duration::from_secs(60),
    };

    let began = Instant::now();
    let sequential = replay_one_at_a_time(warehouse.as_ref(), &broker, one_by_one, &options).await;
    let sequential_rate = sequential as f64 / began.elapsed().as_secs_f64();
    println!(
        "replay one at a time:             {sequential} letters claimed, republished (each confirm awaited) and marked -> {sequential_rate:.0} letters/s"
    );

    let began = Instant::now();
    let per_letter =
        replay_with_per_letter_writes(warehouse.as_ref(), &broker, per_letter_writes, &options)
            .await;
    let per_letter_rate = per_letter as f64 / began.elapsed().as_secs_f64();
    println!(
        "replay, per-letter writes (before): {per_letter} letters claimed one by one, republished (confirms pipelined), marked one by one -> {per_letter_rate:.0} letters/s"
    );

    let began = Instant::now();
    let report = replay(warehouse.as_ref(), &broker, batched, &options, |_, _| {})
        .await
        .expect("replay");
    let batched_rate = report.replayed.len() as f64 / began.elapsed().as_secs_f64();
    println!(
        "replay in batches (current):      {} letters claimed, republished (confirms pipelined) and marked a batch at a time -> {batched_rate:.0} letters/s",
        report.replayed.len()
    );
    println!(
        "replay: {batched_rate:.0} letters/s = {:.2}x per-letter writes, {:.2}x one at a time, in the same run (target >= 5,000 letters/s)",
        batched_rate / per_letter_rate,
        batched_rate / sequential_rate
    );
    let _ = broker.delete_topology().await;
    let _ = broker.close().await;
}
