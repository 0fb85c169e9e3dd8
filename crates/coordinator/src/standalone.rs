//! The standalone runner: one process, the in-process broker, the same
//! worker loop and archiver a fleet uses, so the embedded mode exercises the
//! very code paths the distributed mode runs.

use crate::archive::archive_dead_letters;
use crate::dag::RunDag;
use crate::tracker::{RunProgress, TaskTracker};
use dorafleet_broker::{Broker, BrokerError, InProcessBroker, Route};
use dorafleet_core::{Config, Source, Stage, TaskEnvelope, TaskEvent};
use dorafleet_pipeline::{
    AggregateHandler, ExtractHandler, Handlers, NormalizeHandler, Worker, WorkerOptions,
};
use dorafleet_sources::SourceClient;
use dorafleet_warehouse::{GoldFilter, NormalizeCounts, Warehouse, WarehouseError};
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct StandaloneOptions {
    pub concurrency: usize,
    pub worker_name: String,
    /// Gives up waiting for the run after this long (tasks still retrying stay
    /// unfinished and are reported as such).
    pub deadline: Duration,
}

/// What a run did, per source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceSummary {
    pub tasks: usize,
    pub done: usize,
    pub dead: usize,
    pub retries: u64,
    pub api_calls: u64,
    pub rate_limit_wait_ms: u64,
    pub http_statuses: BTreeMap<u16, u64>,
    pub bronze_pages: u64,
    pub bronze_records: u64,
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: Uuid,
    pub wall: Duration,
    pub tasks: usize,
    pub done: usize,
    pub dead: usize,
    pub unfinished: usize,
    pub retries: u64,
    pub dead_letters_archived: usize,
    pub by_source: BTreeMap<Source, SourceSummary>,
    /// What normalization kept and left out, summed over the run.
    pub normalized: NormalizeCounts,
    /// Gold records written by this run.
    pub gold_records: usize,
    /// Teams whose gold this run could not write (a task was dead-lettered).
    pub blocked_teams: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

/// Run the extract `tasks` of one run, and the normalize and aggregate tasks
/// their gates release, to their end and summarise.
pub async fn run_standalone(
    tasks: Vec<TaskEnvelope>,
    warehouse: Arc<dyn Warehouse>,
    clients: Vec<(SourceClient, u32)>,
    config: Arc<Config>,
    options: StandaloneOptions,
    mut on_progress: impl FnMut(&RunProgress) + Send,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let run_id = tasks.first().map_or_else(Uuid::now_v7, |t| t.run_id);
    let broker = InProcessBroker::new();
    let shared: Arc<dyn Broker> = Arc::new(broker.clone());

    let mut extract = ExtractHandler::new(Arc::clone(&warehouse));
    for (client, page_size) in &clients {
        extract = extract.with_client(client.clone(), *page_size);
    }
    let handlers = Handlers::default()
        .with(Stage::Extract, Arc::new(extract))
        .with(
            Stage::Normalize,
            Arc::new(NormalizeHandler::new(
                Arc::clone(&warehouse),
                Arc::clone(&config),
            )),
        )
        .with(
            Stage::Aggregate,
            Arc::new(AggregateHandler::new(
                Arc::clone(&warehouse),
                Arc::clone(&config),
            )),
        );
    let worker = Worker::new(
        Arc::clone(&shared),
        handlers,
        WorkerOptions {
            name: options.worker_name.clone(),
            concurrency: options.concurrency,
            retry: config.retry.clone(),
            drain_timeout: Duration::from_secs(5),
        },
    );
    let shutdown = CancellationToken::new();
    let routes = Route::all(&Stage::ALL, &Source::ALL);
    let worker_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { worker.run(&routes, shutdown).await }
    });
    let (archived_tx, mut archived) = watch::channel(0usize);
    let archiver = tokio::spawn({
        let (broker, warehouse, shutdown) = (
            Arc::clone(&shared),
            Arc::clone(&warehouse),
            shutdown.clone(),
        );
        async move {
            archive_dead_letters(broker, warehouse, shutdown, |_| {
                archived_tx.send_modify(|n| *n += 1);
            })
            .await
        }
    });

    let mut tracker = TaskTracker::new(&tasks);
    let mut dag = RunDag::new(&tasks);
    let mut events = shared.consume_events().await?;
    for task in &tasks {
        shared.publish(task).await?;
    }
    on_progress(tracker.progress());
    let deadline = tokio::time::sleep(options.deadline);
    tokio::pin!(deadline);
    while !tracker.all_finished() {
        let delivery = tokio::select! {
            _ = &mut deadline => {
                warn!("run deadline reached with tasks unfinished");
                break;
            }
            d = events.next() => match d {
                Some(d) => d,
                None => break,
            },
        };
        match serde_json::from_slice::<TaskEvent>(&delivery.body) {
            Ok(event) => {
                if tracker.apply(&event) {
                    for next in dag.on_event(&event) {
                        tracker.add(&next);
                        shared.publish(&next).await?;
                    }
                    on_progress(tracker.progress());
                }
            }
            Err(e) => warn!(error = %e, "ignoring an unreadable task event"),
        }
        let _ = delivery.ack().await;
    }
    // Every dead task's letter must be in the warehouse before we report.
    let dead = tracker.progress().dead;
    let all_archived = archived.wait_for(|n| *n >= dead);
    if tokio::time::timeout(Duration::from_secs(10), all_archived)
        .await
        .is_err()
    {
        warn!("dead letters still on the queue after 10 s; they stay there for the next archiver");
    }
    shutdown.cancel();
    let _ = worker_task.await;
    let _ = archiver.await;
    broker.close();

    let progress = tracker.progress().clone();
    let mut by_source: BTreeMap<Source, SourceSummary> = tracker
        .by_source()
        .iter()
        .map(|(source, tally)| {
            (
                *source,
                SourceSummary {
                    tasks: tally.tasks,
                    done: tally.done,
                    dead: tally.dead,
                    retries: tally.retries,
                    ..SourceSummary::default()
                },
            )
        })
        .collect();
    for (client, _) in &clients {
        let stats = client.stats();
        let entry = by_source.entry(client.source()).or_default();
        entry.api_calls = stats.api_calls;
        entry.rate_limit_wait_ms = stats.rate_limit_wait_ms;
        entry.http_statuses = stats.by_status.clone();
    }
    for totals in warehouse.bronze_totals(Some(run_id)).await? {
        let entry = by_source.entry(totals.source).or_default();
        entry.bronze_pages = totals.pages;
        entry.bronze_records = totals.records;
    }
    let mut normalized = NormalizeCounts::default();
    for counts in warehouse.normalize_counts(Some(run_id)).await? {
        normalized.add(&counts);
    }
    let gold_records = warehouse
        .gold(&GoldFilter::default())
        .await?
        .iter()
        .filter(|g| g.run_id == run_id)
        .count();
    Ok(RunSummary {
        run_id,
        wall: started.elapsed(),
        tasks: progress.total,
        done: progress.done,
        dead: progress.dead,
        unfinished: progress.total - progress.finished(),
        retries: progress.retries,
        dead_letters_archived: *archived.borrow(),
        by_source,
        normalized,
        gold_records,
        blocked_teams: dag.blocked_teams(),
    })
}
