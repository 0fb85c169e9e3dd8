//! The fleet coordinator: plans runs, publishes their tasks, follows the
//! workers' events, and opens each stage's gate when its inputs succeeded.
//!
//! Its state lives in the warehouse, not in memory: every task is recorded
//! before it is published and every event is applied to the records before it
//! is acked. A coordinator killed mid-run and started again rebuilds each
//! unfinished run from its records, publishes what was recorded but never
//! published, and never republishes finished work. Only the holder of the
//! `coordinator` lease acts, so starting two is safe: the second waits.
//!
//! Events are applied in batches. Every publish waits for RabbitMQ's confirm
//! and every warehouse write is a transaction, so one event at a time spends
//! most of its time waiting: a confirm per released task and two commits per
//! event, one after the other. Instead the coordinator takes the event it
//! waited for and whatever further events are already delivered (up to
//! [`EVENT_BATCH`]), applies them all in memory, records every changed and
//! released task in one transaction, publishes the released tasks with their
//! confirms overlapping (up to [`PUBLISH_WINDOW`] at once), records them
//! published, and only then acks the batch. The rules above hold per batch:
//! if any step fails nothing of the batch is acked, every event comes back,
//! and the runs it touched are reloaded from their records (their DAGs
//! rebuilt) before they are used again. Applying an event again is harmless:
//! an event of a task already final is ignored.

use crate::archive::archive_dead_letters;
use crate::dag::RunDag;
use crate::plan::{plan_extract, plan_extract_incremental};
use crate::progress::RunProgress;
use chrono::Utc;
use dorafleet_broker::{Broker, BrokerError, Delivery, DeliveryStream};
use dorafleet_core::{Config, Source, TaskEnvelope, TaskEvent, TaskEventKind, Window};
use dorafleet_telemetry::trace_context;
use dorafleet_warehouse::{
    HoldFilter, HoldStatus, RunRecord, RunStatus, TaskRecord, TaskState, Warehouse, WarehouseError,
};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};
use uuid::Uuid;

const LEASE: &str = "coordinator";

/// Most events applied together. The events stream's prefetch caps it too:
/// no more than that many are ever delivered unacked.
const EVENT_BATCH: usize = 64;

/// Most task publishes awaiting their confirms at once.
const PUBLISH_WINDOW: usize = 64;

/// When the coordinator plans runs.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Plan one run (incremental, or over `range`) unless one is unfinished;
    /// return once no run is left unfinished.
    Once { range: Option<Window> },
    /// Plan an incremental run every `interval` when none is unfinished.
    Every(Duration),
    /// Only finish the unfinished runs, then return.
    ResumeOnly,
}

/// Called with a run's progress after each batch of events that changed it.
pub type ProgressHook = Arc<dyn Fn(&RunProgress) + Send + Sync>;

#[derive(Clone)]
pub struct CoordinatorOptions {
    /// Lease holder name (host-pid by default).
    pub name: String,
    pub lease_ttl: Duration,
    pub plan: Plan,
    pub sources: Vec<Source>,
    pub progress: Option<ProgressHook>,
}

impl std::fmt::Debug for CoordinatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorOptions")
            .field("name", &self.name)
            .field("lease_ttl", &self.lease_ttl)
            .field("plan", &self.plan)
            .field("sources", &self.sources)
            .finish()
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: RunRecord,
    pub tasks: usize,
    pub done: usize,
    pub dead: usize,
    pub retries: u64,
    pub blocked_teams: BTreeSet<String>,
    /// Teams a data-quality sensor held: no gold for their held days.
    pub held_teams: BTreeSet<String>,
    /// Finished tasks per worker.
    pub by_worker: BTreeMap<String, usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

#[derive(Debug)]
struct ActiveRun {
    record: RunRecord,
    dag: RunDag,
    tasks: HashMap<Uuid, TaskRecord>,
    retries: u64,
    pages: u64,
    records: u64,
    /// A batch changed it in memory and could not be recorded: reload it
    /// from the warehouse before using it again.
    stale: bool,
}

impl ActiveRun {
    fn insert_tasks(&mut self, records: impl IntoIterator<Item = TaskRecord>) {
        for r in records {
            self.tasks.insert(r.envelope.task_id, r);
        }
    }

    fn progress(&self) -> RunProgress {
        let count = |state| self.tasks.values().filter(|t| t.state == state).count();
        RunProgress {
            total: self.tasks.len(),
            done: count(TaskState::Done),
            dead: count(TaskState::Dead),
            retries: self.retries,
            pages: self.pages,
            records: self.records,
        }
    }
}

#[derive(Debug)]
pub struct Coordinator {
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn Warehouse>,
    config: Arc<Config>,
    options: CoordinatorOptions,
}

impl Coordinator {
    pub fn new(
        broker: Arc<dyn Broker>,
        warehouse: Arc<dyn Warehouse>,
        config: Arc<Config>,
        options: CoordinatorOptions,
    ) -> Self {
        Coordinator {
            broker,
            warehouse,
            config,
            options,
        }
    }

    /// Act as coordinator until `shutdown` (or, for `Once` and `ResumeOnly`,
    /// until no run is unfinished). Waits as a standby while another holds
    /// the lease; goes back to standby if the lease is lost.
    pub async fn run(
        &self,
        shutdown: CancellationToken,
        mut on_run_end: impl FnMut(&RunOutcome) + Send,
    ) -> Result<(), CoordinatorError> {
        loop {
            if !self.wait_for_lease(&shutdown).await? {
                return Ok(());
            }
            let finished = self.lead(&shutdown, &mut on_run_end).await;
            let _ = self
                .warehouse
                .release_lease(LEASE, &self.options.name)
                .await;
            match finished {
                Ok(true) => return Ok(()),
                Ok(false) if shutdown.is_cancelled() => return Ok(()),
                Ok(false) => warn!("lost the coordinator lease; back to standby"),
                Err(e) => return Err(e),
            }
        }
    }

    /// Returns false when shut down before getting the lease.
    async fn wait_for_lease(&self, shutdown: &CancellationToken) -> Result<bool, CoordinatorError> {
        let mut announced = false;
        loop {
            if shutdown.is_cancelled() {
                return Ok(false);
            }
            if self
                .warehouse
                .acquire_lease(LEASE, &self.options.name, self.options.lease_ttl)
                .await?
            {
                info!(name = %self.options.name, "holding the coordinator lease");
                return Ok(true);
            }
            if !announced {
                info!("standby: another coordinator holds the lease");
                announced = true;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(false),
                _ = tokio::time::sleep(self.options.lease_ttl / 3) => {}
            }
        }
    }

    /// Lead until done (true) or until shut down or the lease is lost (false).
    async fn lead(
        &self,
        shutdown: &CancellationToken,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) -> Result<bool, CoordinatorError> {
        let leadership = shutdown.child_token();
        let keeper = tokio::spawn(keep_lease(
            Arc::clone(&self.warehouse),
            self.options.name.clone(),
            self.options.lease_ttl,
            leadership.clone(),
        ));
        let archiver = tokio::spawn({
            let (broker, warehouse, token) = (
                Arc::clone(&self.broker),
                Arc::clone(&self.warehouse),
                leadership.clone(),
            );
            async move { archive_dead_letters(broker, warehouse, token, |_| {}).await }
        });
        let result = self.lead_inner(&leadership, on_run_end).await;
        leadership.cancel();
        let _ = keeper.await;
        let _ = archiver.await;
        result
    }

    async fn lead_inner(
        &self,
        leadership: &CancellationToken,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) -> Result<bool, CoordinatorError> {
        let mut events = self.broker.consume_events().await?;
        let mut active = self.resume(on_run_end).await?;
        if let Plan::Once { range } = &self.options.plan
            && active.is_empty()
            && let Some(run) = self.plan_run(*range).await?
        {
            active.insert(run.record.run_id, run);
        }
        let every = match self.options.plan {
            Plan::Every(interval) => interval,
            _ => Duration::from_secs(3600 * 24 * 365),
        };
        let mut ticker = tokio::time::interval(every);
        loop {
            if !matches!(self.options.plan, Plan::Every(_)) && active.is_empty() {
                return Ok(true);
            }
            tokio::select! {
                _ = leadership.cancelled() => return Ok(false),
                _ = ticker.tick(), if matches!(self.options.plan, Plan::Every(_)) => {
                    if active.is_empty()
                        && let Some(run) = self.plan_run(None).await?
                    {
                        active.insert(run.record.run_id, run);
                    }
                }
                delivery = events.next() => match delivery {
                    Some(d) => {
                        let batch = take_delivered(d, &mut events).await;
                        self.on_events(batch, &mut active, on_run_end, leadership).await;
                    }
                    None => return Ok(false),
                },
            }
        }
    }

    /// Rebuild every unfinished run from its records and publish what was
    /// recorded but never published.
    async fn resume(
        &self,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) -> Result<HashMap<Uuid, ActiveRun>, CoordinatorError> {
        let mut active = HashMap::new();
        for record in self.warehouse.runs(1000).await? {
            if record.status != RunStatus::Running {
                continue;
            }
            let mut run = self.restore_run(record).await?;
            info!(run_id = %run.record.run_id, tasks = run.tasks.len(), "resumed run");
            if !self.finish_if_done(&mut run, on_run_end).await? {
                active.insert(run.record.run_id, run);
            }
        }
        Ok(active)
    }

    /// Load a run from its records and publish its tasks that were recorded
    /// but never published (a coordinator stopped, or a batch failed, between
    /// recording and publishing them).
    async fn restore_run(&self, record: RunRecord) -> Result<ActiveRun, CoordinatorError> {
        let mut run = self.load_run(record).await?;
        let mut unpublished: Vec<TaskRecord> = run
            .tasks
            .values()
            .filter(|t| !t.published)
            .cloned()
            .collect();
        if !unpublished.is_empty() {
            info!(run_id = %run.record.run_id, unpublished = unpublished.len(), "publishing recorded tasks");
            let trace = run.record.traceparent.clone();
            self.publish_recorded(&mut unpublished, &|_| trace.clone())
                .await?;
            run.insert_tasks(unpublished);
        }
        Ok(run)
    }

    async fn load_run(&self, record: RunRecord) -> Result<ActiveRun, CoordinatorError> {
        let tasks = self.warehouse.run_tasks(record.run_id).await?;
        Ok(ActiveRun {
            dag: RunDag::restore(&tasks),
            retries: tasks
                .iter()
                .map(|t| u64::from(t.attempts.saturating_sub(1)))
                .sum(),
            tasks: tasks.into_iter().map(|t| (t.envelope.task_id, t)).collect(),
            record,
            pages: 0,
            records: 0,
            stale: false,
        })
    }

    async fn plan_run(&self, range: Option<Window>) -> Result<Option<ActiveRun>, CoordinatorError> {
        let run_id = Uuid::now_v7();
        let now = Utc::now();
        // The root of the run's trace. Its context is recorded with the run,
        // so tasks published later (or by a restarted coordinator) join it.
        let span = info_span!(parent: None, "run", run_id = %run_id, kind = range.map_or("incremental", |_| "range"));
        let traceparent = trace_context::traceparent(&span);
        self.plan_run_in(run_id, now, range, traceparent)
            .instrument(span)
            .await
    }

    async fn plan_run_in(
        &self,
        run_id: Uuid,
        now: chrono::DateTime<Utc>,
        range: Option<Window>,
        traceparent: Option<String>,
    ) -> Result<Option<ActiveRun>, CoordinatorError> {
        let (kind, tasks) = match range {
            Some(window) => (
                "range",
                plan_extract(&self.config, run_id, &self.options.sources, |_, _| {
                    Some(window)
                }),
            ),
            None => (
                "incremental",
                plan_extract_incremental(
                    &self.config,
                    self.warehouse.as_ref(),
                    run_id,
                    &self.options.sources,
                    now,
                )
                .await?,
            ),
        };
        let Some(first) = tasks.first() else {
            info!("nothing to plan: every scope is synced up to now");
            return Ok(None);
        };
        let window = Window {
            from: tasks
                .iter()
                .map(|t| t.window.from)
                .min()
                .unwrap_or(first.window.from),
            to: first.window.to,
        };
        let record = RunRecord {
            run_id,
            kind: kind.into(),
            window,
            status: RunStatus::Running,
            created_at: now,
            updated_at: now,
            traceparent,
        };
        self.warehouse.save_run(&record).await?;
        let mut run = ActiveRun {
            dag: RunDag::new(&tasks),
            record,
            tasks: HashMap::new(),
            retries: 0,
            pages: 0,
            records: 0,
            stale: false,
        };
        let mut records: Vec<TaskRecord> = tasks.into_iter().map(pending).collect();
        info!(%run_id, kind, tasks = records.len(), %window, "planned run");
        self.warehouse.save_tasks(&records).await?;
        let trace = run.record.traceparent.clone();
        self.publish_recorded(&mut records, &|_| trace.clone())
            .await?;
        run.insert_tasks(records);
        Ok(Some(run))
    }

    /// Publish tasks already recorded (unpublished), then record them
    /// published. If a publish fails none is recorded published: those that
    /// went out are published again later, which is harmless. `trace` gives
    /// the `traceparent` of a run, whose trace each publish continues.
    async fn publish_recorded(
        &self,
        records: &mut [TaskRecord],
        trace: &RunTrace<'_>,
    ) -> Result<(), CoordinatorError> {
        if records.is_empty() {
            return Ok(());
        }
        self.publish_all(records, trace).await?;
        for r in records.iter_mut() {
            r.published = true;
        }
        self.warehouse.save_tasks(records).await?;
        Ok(())
    }

    /// Publish every task, up to [`PUBLISH_WINDOW`] awaiting their confirms
    /// at once; fails if any publish failed (after all have ended).
    async fn publish_all(
        &self,
        records: &[TaskRecord],
        trace: &RunTrace<'_>,
    ) -> Result<(), CoordinatorError> {
        let mut in_flight = JoinSet::new();
        let mut failure = None;
        for r in records {
            if in_flight.len() == PUBLISH_WINDOW {
                note_failure(in_flight.join_next().await, &mut failure);
            }
            if failure.is_some() {
                break;
            }
            let (broker, task) = (Arc::clone(&self.broker), r.envelope.clone());
            let span = publish_span(&task, trace(task.run_id).as_deref());
            in_flight.spawn(async move { broker.publish(&task).await }.instrument(span));
        }
        while let Some(published) = in_flight.join_next().await {
            note_failure(Some(published), &mut failure);
        }
        failure.map_or(Ok(()), |e| Err(e.into()))
    }

    /// Apply a batch of deliveries, then ack them. If the batch cannot be
    /// applied none is acked: all come back (applying an event again is
    /// harmless), and the runs they belong to are reloaded before next use.
    async fn on_events(
        &self,
        deliveries: Vec<Delivery>,
        active: &mut HashMap<Uuid, ActiveRun>,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
        leadership: &CancellationToken,
    ) {
        let (events, deliveries) = decode_events(deliveries).await;
        if events.is_empty() {
            return;
        }
        match self.apply(&events, active, on_run_end).await {
            Ok(()) => {
                for delivery in deliveries {
                    let _ = delivery.ack().await;
                }
            }
            Err(e) => {
                warn!(error = %e, events = events.len(), first_task_id = %events[0].task_id, "could not apply task events; they will be redelivered");
                for event in &events {
                    if let Some(run) = active.get_mut(&event.run_id) {
                        run.stale = true;
                    }
                }
                drop(deliveries);
                // Back off before the redelivery, but not past a shutdown.
                tokio::select! {
                    _ = leadership.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }

    /// Apply events in memory, record every changed and released task in
    /// one transaction, publish the released tasks and record them
    /// published, then report progress and close the runs that ended.
    async fn apply(
        &self,
        events: &[TaskEvent],
        active: &mut HashMap<Uuid, ActiveRun>,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) -> Result<(), CoordinatorError> {
        let runs = self.prepare_runs(events, active).await?;
        let mut changes = Changes::default();
        for event in events {
            if let Some(run) = active.get_mut(&event.run_id) {
                apply_to(event, run, &mut changes);
            }
        }
        self.persist(&changes, active).await?;
        for run_id in runs {
            let Some(mut run) = active.remove(&run_id) else {
                continue;
            };
            if !changes.changed(run_id) && run.record.status != RunStatus::Running {
                // A late event of a finished run changed nothing: it stays
                // finished, without being closed (and announced) again.
                continue;
            }
            if let (Some(progress), true) = (&self.options.progress, changes.changed(run_id)) {
                progress(&run.progress());
            }
            let finished = self.finish_if_done(&mut run, on_run_end).await;
            if !matches!(finished, Ok(true)) {
                active.insert(run_id, run);
            }
            finished?;
        }
        Ok(())
    }

    /// Have in memory, as recorded, every run the events belong to that is
    /// not finished, and return their ids. Before anything of the batch is
    /// applied, a run is reloaded if it is stale or an event's task is final
    /// in memory: a dead-letter replay may have reopened it since.
    async fn prepare_runs(
        &self,
        events: &[TaskEvent],
        active: &mut HashMap<Uuid, ActiveRun>,
    ) -> Result<Vec<Uuid>, CoordinatorError> {
        let mut runs = Vec::new();
        let mut loaded = HashSet::new();
        let mut ignored = HashSet::new();
        for event in events {
            let run_id = event.run_id;
            if ignored.contains(&run_id) {
                continue;
            }
            if let Entry::Vacant(slot) = active.entry(run_id) {
                let Some(run) = self.unfinished_run(run_id).await? else {
                    ignored.insert(run_id);
                    continue;
                };
                slot.insert(run);
                loaded.insert(run_id);
            }
            let Some(run) = active.get_mut(&run_id) else {
                continue;
            };
            let final_in_memory = run
                .tasks
                .get(&event.task_id)
                .is_some_and(|t| t.state.is_final());
            if (run.stale || final_in_memory) && loaded.insert(run_id) {
                let reloaded = self.restore_run(run.record.clone()).await?;
                *run = ActiveRun {
                    pages: run.pages,
                    records: run.records,
                    ..reloaded
                };
            }
            if !runs.contains(&run_id) {
                runs.push(run_id);
            }
        }
        Ok(runs)
    }

    /// A run this coordinator does not follow, if it is unfinished: the
    /// event of a replayed dead letter reopens a finished (blocked) run. An
    /// unknown or completed run has nothing left to do.
    async fn unfinished_run(&self, run_id: Uuid) -> Result<Option<ActiveRun>, CoordinatorError> {
        match self.warehouse.run(run_id).await? {
            Some(record) if record.status != RunStatus::Completed => {
                Ok(Some(self.restore_run(record).await?))
            }
            _ => Ok(None),
        }
    }

    /// Record what a batch changed: reopened runs, then every changed and
    /// released task in one transaction; then publish the released tasks.
    async fn persist(
        &self,
        changes: &Changes,
        active: &mut HashMap<Uuid, ActiveRun>,
    ) -> Result<(), CoordinatorError> {
        for run_id in &changes.reopened {
            if let Some(run) = active.get(run_id) {
                self.warehouse.save_run(&run.record).await?;
            }
        }
        let changed = task_records(active, changes.updated.iter().chain(&changes.released));
        if changed.is_empty() {
            return Ok(());
        }
        self.warehouse.save_tasks(&changed).await?;
        let mut released = task_records(active, changes.released.iter());
        let trace = |run_id: Uuid| {
            active
                .get(&run_id)
                .and_then(|r| r.record.traceparent.clone())
        };
        self.publish_recorded(&mut released, &trace).await?;
        for r in released {
            if let Some(run) = active.get_mut(&r.envelope.run_id) {
                run.insert_tasks([r]);
            }
        }
        Ok(())
    }

    /// Close the run if every task ended; returns whether it did.
    async fn finish_if_done(
        &self,
        run: &mut ActiveRun,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) -> Result<bool, CoordinatorError> {
        if !run.tasks.values().all(|t| t.state.is_final()) {
            return Ok(false);
        }
        let dead = run
            .tasks
            .values()
            .filter(|t| t.state == TaskState::Dead)
            .count();
        let holds = self
            .warehouse
            .holds(&HoldFilter {
                run_id: Some(run.record.run_id),
                status: Some(HoldStatus::Open),
                ..HoldFilter::default()
            })
            .await?;
        let held_teams: BTreeSet<String> = holds.iter().map(|h| h.team_id.clone()).collect();
        run.record.status = if dead > 0 {
            RunStatus::Blocked
        } else if !held_teams.is_empty() {
            RunStatus::Held
        } else {
            RunStatus::Completed
        };
        run.record.updated_at = Utc::now();
        self.warehouse.save_run(&run.record).await?;
        let mut by_worker = BTreeMap::new();
        for t in run.tasks.values() {
            if let Some(w) = &t.worker {
                *by_worker.entry(w.clone()).or_default() += 1;
            }
        }
        let outcome = RunOutcome {
            run: run.record.clone(),
            tasks: run.tasks.len(),
            done: run.tasks.len() - dead,
            dead,
            retries: run.retries,
            blocked_teams: run.dag.blocked_teams(),
            held_teams,
            by_worker,
        };
        let held_runs = self
            .warehouse
            .runs(1000)
            .await?
            .iter()
            .filter(|r| r.status == RunStatus::Held)
            .count();
        dorafleet_telemetry::metrics::held_runs(held_runs);
        info!(run_id = %outcome.run.run_id, status = %outcome.run.status, tasks = outcome.tasks, dead, "run finished");
        on_run_end(&outcome);
        Ok(true)
    }
}

/// What applying a batch's events changed in memory, to be recorded.
#[derive(Debug, Default)]
struct Changes {
    /// Tasks with a new state, as (run, task).
    updated: BTreeSet<(Uuid, Uuid)>,
    /// Tasks the DAG released, pending and not yet published, as (run, task).
    released: Vec<(Uuid, Uuid)>,
    /// Runs a replayed task reopened.
    reopened: BTreeSet<Uuid>,
}

impl Changes {
    fn changed(&self, run_id: Uuid) -> bool {
        self.updated.iter().any(|(run, _)| *run == run_id)
    }
}

/// Apply one event to its run in memory: the task's new state, and the
/// tasks the DAG releases because of it (pending, unpublished).
fn apply_to(event: &TaskEvent, run: &mut ActiveRun, changes: &mut Changes) {
    let run_id = run.record.run_id;
    // Final tasks and events from before a replay (an older generation,
    // delivered late) change nothing.
    if run
        .tasks
        .get(&event.task_id)
        .is_none_or(|t| t.state.is_final() || event.replay < t.envelope.replay)
    {
        return;
    }
    if run.record.status != RunStatus::Running {
        info!(%run_id, "a replayed task reopened the run");
        run.record.status = RunStatus::Running;
        run.record.updated_at = Utc::now();
        changes.reopened.insert(run_id);
    }
    let state = match event.kind {
        TaskEventKind::Done => TaskState::Done,
        TaskEventKind::Dead { .. } => TaskState::Dead,
        TaskEventKind::Retrying { .. } => {
            run.retries += 1;
            TaskState::Retrying
        }
    };
    if event.stage == dorafleet_core::Stage::Extract {
        run.pages += event.stats.pages;
        run.records += event.stats.records;
    }
    if let Some(record) = run.tasks.get_mut(&event.task_id) {
        record.state = state;
        record.worker = Some(event.worker.clone());
        record.attempts = event.attempt;
        record.updated_at = Utc::now();
    }
    changes.updated.insert((run_id, event.task_id));
    for task in run.dag.on_event(event) {
        changes.released.push((run_id, task.task_id));
        run.insert_tasks([pending(task)]);
    }
}

/// `first` and the deliveries already waiting behind it, up to
/// [`EVENT_BATCH`] in all, without waiting for more.
async fn take_delivered(first: Delivery, events: &mut Box<dyn DeliveryStream>) -> Vec<Delivery> {
    let mut batch = vec![first];
    while batch.len() < EVENT_BATCH {
        match tokio::time::timeout(Duration::ZERO, events.next()).await {
            Ok(Some(delivery)) => batch.push(delivery),
            Ok(None) | Err(_) => break,
        }
    }
    batch
}

/// The events of the readable deliveries, with those deliveries; an
/// unreadable one is acked and dropped.
async fn decode_events(deliveries: Vec<Delivery>) -> (Vec<TaskEvent>, Vec<Delivery>) {
    let mut events = Vec::with_capacity(deliveries.len());
    let mut readable = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        match serde_json::from_slice::<TaskEvent>(&delivery.body) {
            Ok(event) => {
                events.push(event);
                readable.push(delivery);
            }
            Err(e) => {
                warn!(error = %e, "dropping an unreadable task event");
                let _ = delivery.ack().await;
            }
        }
    }
    (events, readable)
}

/// The `traceparent` of a run by its id.
type RunTrace<'a> = dyn Fn(Uuid) -> Option<String> + Send + Sync + 'a;

/// The span of one task's publish, a child of its run's root span: the
/// broker puts its context in the message headers, and the worker's task
/// span becomes its child.
pub(crate) fn publish_span(task: &TaskEnvelope, run_traceparent: Option<&str>) -> tracing::Span {
    let span = info_span!(
        parent: None,
        "publish",
        otel.name = %format!("publish {}", task.route()),
        otel.kind = "producer",
        stage = %task.stage,
        scope = %task.scope,
        task_id = %task.task_id,
        run_id = %task.run_id,
    );
    if let Some(traceparent) = run_traceparent {
        trace_context::continue_trace(&span, traceparent);
    }
    span
}

/// Keep the first failure of a spawned publish.
fn note_failure(
    published: Option<Result<Result<(), BrokerError>, tokio::task::JoinError>>,
    failure: &mut Option<BrokerError>,
) {
    let error = match published {
        None | Some(Ok(Ok(()))) => return,
        Some(Ok(Err(e))) => e,
        Some(Err(join)) => BrokerError::Unavailable(format!("publishing a task failed: {join}")),
    };
    failure.get_or_insert(error);
}

/// Copies of the records of `tasks`, given as (run, task).
fn task_records<'a>(
    active: &HashMap<Uuid, ActiveRun>,
    tasks: impl Iterator<Item = &'a (Uuid, Uuid)>,
) -> Vec<TaskRecord> {
    tasks
        .filter_map(|(run, task)| active.get(run)?.tasks.get(task).cloned())
        .collect()
}

fn pending(envelope: TaskEnvelope) -> TaskRecord {
    TaskRecord {
        envelope,
        state: TaskState::Pending,
        published: false,
        worker: None,
        attempts: 0,
        updated_at: Utc::now(),
    }
}

/// Renew the lease every third of its TTL; give up leadership (cancel
/// `leadership`) as soon as a renewal fails or the lease could have expired.
async fn keep_lease(
    warehouse: Arc<dyn Warehouse>,
    name: String,
    ttl: Duration,
    leadership: CancellationToken,
) {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = leadership.cancelled() => return,
            _ = tokio::time::sleep(ttl / 3) => {}
        }
        match warehouse.acquire_lease(LEASE, &name, ttl).await {
            Ok(true) => last_renewed = tokio::time::Instant::now(),
            Ok(false) => {
                warn!("another coordinator took the lease");
                leadership.cancel();
                return;
            }
            Err(e) if last_renewed.elapsed() < ttl * 2 / 3 => {
                warn!(error = %e, "could not renew the coordinator lease; will retry");
            }
            Err(e) => {
                warn!(error = %e, "could not renew the coordinator lease in time; stepping down");
                leadership.cancel();
                return;
            }
        }
    }
}
