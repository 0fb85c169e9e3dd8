//! Dead-letter benchmark: 10,000 letters published to RabbitMQ's dead-letter
//! queue are archived into an SQLite warehouse (stored, then acked), then
//! replayed from the archive (claimed, republished with confirms, marked).
//! Prints letters/s for each; asserts nothing about speed.
//!
//! Run with `scripts/bench.sh replay` (RabbitMQ at 127.0.0.1:5672).

use chrono::Utc;
use dorafleet_broker::{Broker, RabbitBroker, RabbitConfig};
use dorafleet_coordinator::archive::archive_dead_letters;
use dorafleet_coordinator::replay::{ReplayOptions, replay};
use dorafleet_core::{
    AttemptRecord, DeadLetter, ErrorClass, Scope, Source, Stage, TaskEnvelope, Window,
};
use dorafleet_warehouse::{LetterFilter, Warehouse, sqlite::SqliteWarehouse};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const LETTERS: usize = 10_000;

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

#[tokio::main]
async fn main() {
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
    for i in 0..LETTERS {
        broker
            .publish_dead_letter(&letter(i))
            .await
            .expect("publish");
    }
    println!(
        "setup: {LETTERS} dead letters published with confirms in {:.2} s",
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
                if archived.fetch_add(1, Ordering::SeqCst) + 1 == LETTERS {
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

    let began = Instant::now();
    let report = replay(
        warehouse.as_ref(),
        &broker,
        &stored,
        &ReplayOptions {
            actor: "bench@localhost".into(),
            stale_after: Duration::from_secs(60),
        },
        |_, _| {},
    )
    .await
    .expect("replay");
    let replay_secs = began.elapsed().as_secs_f64();

    println!(
        "archive: {} letters from the dead-letter queue into the warehouse in {archive_secs:.2} s ({:.0} letters/s)",
        stored.len(),
        stored.len() as f64 / archive_secs
    );
    println!(
        "replay: {} letters claimed, republished with confirms and marked in {replay_secs:.2} s ({:.0} letters/s)",
        report.replayed.len(),
        report.replayed.len() as f64 / replay_secs
    );
    let _ = broker.delete_topology().await;
    let _ = broker.close().await;
}
