//! The standalone runner: the fleet's coordinator and worker loop in one
//! process, on the in-process broker. Standalone runs are recorded in the
//! warehouse exactly like fleet runs (runs, task states, dead letters), so
//! the same operator commands — and dead-letter replays that reopen a run's
//! gates — work in both modes.

#![warn(missing_docs, unreachable_pub)]

use dorafleet_broker::{Broker, BrokerError, DEAD_LETTER_QUEUE, InProcessBroker, Route};
use dorafleet_coordinator::{Coordinator, CoordinatorOptions, Plan, RunProgress};
use dorafleet_core::{Config, DeadLetter, Source, Stage, Window};
use dorafleet_sources::SourceClient;
use dorafleet_warehouse::{
    Hold, HoldFilter, NormalizeCounts, TaskState, Warehouse, WarehouseError,
};
use dorafleet_worker::{Worker, WorkerOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uuid::Uuid;

/// How a standalone run plans and works.
#[derive(Debug, Clone)]
pub struct StandaloneOptions {
    /// Sources planned (all, normally).
    pub sources: Vec<Source>,
    /// Tasks the in-process workers run at once: this many extracting, and
    /// as many normalizing and aggregating.
    pub concurrency: usize,
    /// Recorded as the worker in attempts and events, and as the
    /// coordinator's lease holder.
    pub worker_name: String,
    /// Gives up waiting after this long (tasks still under way stay
    /// unfinished in the warehouse; `coordinator --resume-only` or the next
    /// standalone run picks them up).
    pub deadline: Duration,
}

/// What a run did, per source (extract tasks: the API work).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceSummary {
    /// The run's extract tasks of this source.
    pub tasks: usize,
    /// Those finished successfully.
    pub done: usize,
    /// Those dead-lettered.
    pub dead: usize,
    /// Attempts beyond each task's first.
    pub retries: u64,
    /// Requests this process's client sent to the source since it was built.
    pub api_calls: u64,
    /// Time that client's requests waited on rate limits, in milliseconds.
    pub rate_limit_wait_ms: u64,
    /// That client's responses by HTTP status.
    pub http_statuses: BTreeMap<u16, u64>,
    /// Bronze pages the run stored for the source.
    pub bronze_pages: u64,
    /// Records in those pages.
    pub bronze_records: u64,
}

/// What one run did, read back from the warehouse once it ended (or the
/// deadline passed).
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run summarised.
    pub run_id: Uuid,
    /// Time from the start of this in-process run to the summary.
    pub wall: Duration,
    /// All the run's tasks, every stage.
    pub tasks: usize,
    /// Tasks finished successfully.
    pub done: usize,
    /// Tasks dead-lettered.
    pub dead: usize,
    /// Tasks neither done nor dead (the deadline passed first).
    pub unfinished: usize,
    /// Attempts beyond each task's first, over all tasks.
    pub retries: u64,
    /// Dead letters of the run in the warehouse's archive.
    pub dead_letters_archived: usize,
    /// Extract work per source.
    pub by_source: BTreeMap<Source, SourceSummary>,
    /// What normalization kept and left out, summed over the run.
    pub normalized: NormalizeCounts,
    /// What extract rejected and met, summed over the run's extract tasks,
    /// dead-lettered ones included.
    pub extracted: dorafleet_coordinator::RecordQuality,
    /// Items the run's crawls found deleted after they were listed.
    pub gone: u64,
    /// Gold records written by this run.
    pub gold_records: usize,
    /// Teams whose gold this run could not write (a task was dead-lettered).
    pub blocked_teams: BTreeSet<String>,
    /// Holds this run's sensors placed (no gold for their days).
    pub holds: Vec<Hold>,
}

/// Why a standalone run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The in-process broker failed (consuming or acking dead letters).
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// Reading or writing the warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// The in-process coordinator stopped with an error.
    #[error(transparent)]
    Coordinator(#[from] dorafleet_coordinator::CoordinatorError),
}

/// Plan one run (over `range`, or incremental from the watermarks), run it
/// to its end in this process, and summarise it. `None` when there was
/// nothing to do.
pub async fn run_standalone(
    range: Option<Window>,
    warehouse: Arc<dyn Warehouse>,
    clients: Vec<(SourceClient, u32)>,
    config: Arc<Config>,
    options: StandaloneOptions,
    on_progress: impl Fn(&RunProgress) + Send + Sync + 'static,
) -> Result<Option<RunSummary>, RunError> {
    let broker = InProcessBroker::new();
    let mut summaries = run_in_process(
        Plan::Once { range },
        &broker,
        warehouse,
        clients,
        config,
        options,
        Arc::new(on_progress),
    )
    .await?;
    Ok(summaries.pop())
}

/// Finish every unfinished run (e.g. reopened by a dead-letter replay whose
/// tasks were published to `broker`) in this process.
pub async fn finish_in_process(
    broker: &InProcessBroker,
    warehouse: Arc<dyn Warehouse>,
    clients: Vec<(SourceClient, u32)>,
    config: Arc<Config>,
    options: StandaloneOptions,
    on_progress: impl Fn(&RunProgress) + Send + Sync + 'static,
) -> Result<Vec<RunSummary>, RunError> {
    run_in_process(
        Plan::ResumeOnly,
        broker,
        warehouse,
        clients,
        config,
        options,
        Arc::new(on_progress),
    )
    .await
}

async fn run_in_process(
    plan: Plan,
    broker: &InProcessBroker,
    warehouse: Arc<dyn Warehouse>,
    clients: Vec<(SourceClient, u32)>,
    config: Arc<Config>,
    options: StandaloneOptions,
    on_progress: Arc<dyn Fn(&RunProgress) + Send + Sync>,
) -> Result<Vec<RunSummary>, RunError> {
    let started = Instant::now();
    let shared: Arc<dyn Broker> = Arc::new(broker.clone());
    let stop_worker = CancellationToken::new();
    let workers = spawn_workers(
        &shared,
        &warehouse,
        &clients,
        &config,
        &options,
        &stop_worker,
    );

    let coordinator = Coordinator::new(
        Arc::clone(&shared),
        Arc::clone(&warehouse),
        Arc::clone(&config),
        CoordinatorOptions {
            name: options.worker_name.clone(),
            lease_ttl: Duration::from_secs(30),
            plan,
            sources: options.sources.clone(),
            progress: Some(on_progress),
        },
    );
    let mut runs = Vec::new();
    let stop = CancellationToken::new();
    let finished = tokio::time::timeout(
        options.deadline,
        coordinator.run(stop.clone(), |outcome| runs.push(outcome.run.run_id)),
    )
    .await;
    match finished {
        Ok(result) => result?,
        Err(_) => {
            warn!("deadline reached with tasks unfinished; they stay recorded for the next run");
            stop.cancel();
        }
    }
    if runs.is_empty() {
        // Stopped by the deadline: summarise the run(s) left unfinished.
        runs = warehouse
            .runs(10)
            .await?
            .into_iter()
            .filter(|r| r.status == dorafleet_warehouse::RunStatus::Running)
            .map(|r| r.run_id)
            .collect();
    }
    archive_remaining(broker, warehouse.as_ref()).await?;
    stop_worker.cancel();
    for worker in workers {
        let _ = worker.await;
    }
    broker.close();

    let mut summaries = Vec::new();
    for run_id in runs {
        summaries.push(summarize(run_id, started.elapsed(), warehouse.as_ref(), &clients).await?);
    }
    Ok(summaries)
}

/// Two in-process workers, as a fleet would run them: one extracting with
/// `concurrency` tasks at once, and one normalizing and aggregating with
/// `concurrency` slots of its own. Sharing one pool, extract tasks waiting on
/// a source's request budget would hold every slot while the pages already
/// fetched wait to be normalized, and a budget-bound run would end with all
/// of that work still to do.
fn spawn_workers(
    broker: &Arc<dyn Broker>,
    warehouse: &Arc<dyn Warehouse>,
    clients: &[(SourceClient, u32)],
    config: &Arc<Config>,
    options: &StandaloneOptions,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<Result<(), BrokerError>>> {
    [
        vec![Stage::Extract],
        vec![Stage::Normalize, Stage::Aggregate],
    ]
    .into_iter()
    .map(|stages| {
        let handlers =
            dorafleet_stages::handlers(&stages, warehouse, config, clients.iter().cloned());
        let worker = Worker::new(
            Arc::clone(broker),
            handlers,
            WorkerOptions {
                name: options.worker_name.clone(),
                concurrency: options.concurrency,
                retry: config.retry.clone(),
                drain_timeout: Duration::from_secs(5),
            },
        )
        .with_task_deadline(config.worker.task_deadline());
        let stop = stop.clone();
        tokio::spawn(async move { worker.run(&Route::all(&stages, &Source::ALL), stop).await })
    })
    .collect()
}

/// Move whatever is still on the in-process dead-letter queue into the
/// warehouse: this process is about to end, and its queue with it.
async fn archive_remaining(
    broker: &InProcessBroker,
    warehouse: &dyn Warehouse,
) -> Result<(), RunError> {
    let mut letters = broker.consume_dead_letters().await?;
    while broker.depth(DEAD_LETTER_QUEUE) > 0 {
        let Some(delivery) = letters.next().await else {
            break;
        };
        let letter = serde_json::from_slice::<DeadLetter>(&delivery.body).unwrap_or_else(|e| {
            DeadLetter::for_poison(
                &delivery.body,
                format!("unreadable dead letter: {e}"),
                "standalone",
            )
        });
        warehouse.store_dead_letter(&letter).await?;
        delivery.ack().await?;
    }
    Ok(())
}

async fn summarize(
    run_id: Uuid,
    wall: Duration,
    warehouse: &dyn Warehouse,
    clients: &[(SourceClient, u32)],
) -> Result<RunSummary, RunError> {
    let tasks = warehouse.run_tasks(run_id).await?;
    let count = |state| tasks.iter().filter(|t| t.state == state).count();
    let (done, dead) = (count(TaskState::Done), count(TaskState::Dead));
    let mut by_source: BTreeMap<Source, SourceSummary> = BTreeMap::new();
    let mut blocked_teams = BTreeSet::new();
    let mut retries = 0;
    for t in &tasks {
        let failed_attempts = u64::from(t.attempts.saturating_sub(1));
        retries += failed_attempts;
        if t.state == TaskState::Dead {
            blocked_teams.insert(t.envelope.scope.team.clone());
        }
        let (Some(source), Stage::Extract) = (t.envelope.source, t.envelope.stage) else {
            continue;
        };
        let s = by_source.entry(source).or_default();
        s.tasks += 1;
        s.done += usize::from(t.state == TaskState::Done);
        s.dead += usize::from(t.state == TaskState::Dead);
        s.retries += failed_attempts;
    }
    for (client, _) in clients {
        let stats = client.stats();
        let s = by_source.entry(client.source()).or_default();
        s.api_calls = stats.api_calls;
        s.rate_limit_wait_ms = stats.rate_limit_wait_ms;
        s.http_statuses = stats.by_status.clone();
    }
    let written = dorafleet_coordinator::run_records(warehouse, run_id).await?;
    for totals in &written.bronze {
        let s = by_source.entry(totals.source).or_default();
        s.bronze_pages = totals.pages;
        s.bronze_records = totals.records;
    }
    let normalized = written.silver;
    let (extracted, gone) = (written.extracted, written.gone);
    let gold_records = written.gold_records;
    let dead_letters_archived = written.letters.len();
    Ok(RunSummary {
        run_id,
        wall,
        tasks: tasks.len(),
        done,
        dead,
        unfinished: tasks.len() - done - dead,
        retries,
        dead_letters_archived,
        by_source,
        normalized,
        extracted,
        gone,
        gold_records,
        blocked_teams,
        holds: warehouse
            .holds(&HoldFilter {
                run_id: Some(run_id),
                ..HoldFilter::default()
            })
            .await?,
    })
}
