//! The fleet coordinator: plans runs, publishes their tasks, follows the
//! workers' events, and opens each stage's gate when its inputs succeeded.
//!
//! Its state lives in the warehouse, not in memory: every task is recorded
//! before it is published and every event is applied to the records before it
//! is acked. A coordinator killed mid-run and started again rebuilds each
//! unfinished run from its records, publishes what was recorded but never
//! published, and never republishes finished work. Only the holder of the
//! `coordinator` lease acts, so starting two is safe: the second waits.

use crate::archive::archive_dead_letters;
use crate::dag::RunDag;
use crate::plan::{plan_extract, plan_extract_incremental};
use crate::progress::RunProgress;
use chrono::Utc;
use dorafleet_broker::{Broker, BrokerError, Delivery};
use dorafleet_core::{Config, Source, TaskEnvelope, TaskEvent, TaskEventKind, Window};
use dorafleet_warehouse::{RunRecord, RunStatus, TaskRecord, TaskState, Warehouse, WarehouseError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

const LEASE: &str = "coordinator";

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

/// Called after every applied event with the run's progress.
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
}

impl ActiveRun {
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
        if let Plan::Once { range } = &self.options.plan {
            if active.is_empty() {
                if let Some(run) = self.plan_run(*range).await? {
                    active.insert(run.record.run_id, run);
                }
            }
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
                    if active.is_empty() {
                        if let Some(run) = self.plan_run(None).await? {
                            active.insert(run.record.run_id, run);
                        }
                    }
                }
                delivery = events.next() => match delivery {
                    Some(d) => self.on_event(d, &mut active, on_run_end).await,
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
            let mut run = self.load_run(record).await?;
            let unpublished: Vec<TaskRecord> = run
                .tasks
                .values()
                .filter(|t| !t.published)
                .cloned()
                .collect();
            info!(run_id = %run.record.run_id, tasks = run.tasks.len(), unpublished = unpublished.len(), "resuming run");
            self.publish_recorded(&mut run, unpublished).await?;
            if !self.finish_if_done(&mut run, on_run_end).await? {
                active.insert(run.record.run_id, run);
            }
        }
        Ok(active)
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
        })
    }

    async fn plan_run(&self, range: Option<Window>) -> Result<Option<ActiveRun>, CoordinatorError> {
        let run_id = Uuid::now_v7();
        let now = Utc::now();
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
        };
        self.warehouse.save_run(&record).await?;
        let mut run = ActiveRun {
            dag: RunDag::new(&tasks),
            record,
            tasks: HashMap::new(),
            retries: 0,
            pages: 0,
            records: 0,
        };
        let records: Vec<TaskRecord> = tasks.into_iter().map(pending).collect();
        info!(%run_id, kind, tasks = records.len(), %window, "planned run");
        self.publish_recorded(&mut run, records).await?;
        Ok(Some(run))
    }

    /// Record tasks (unpublished), publish them, then record them published.
    async fn publish_recorded(
        &self,
        run: &mut ActiveRun,
        mut records: Vec<TaskRecord>,
    ) -> Result<(), CoordinatorError> {
        if records.is_empty() {
            return Ok(());
        }
        self.warehouse.save_tasks(&records).await?;
        for r in &mut records {
            self.broker.publish(&r.envelope).await?;
            r.published = true;
        }
        self.warehouse.save_tasks(&records).await?;
        for r in records {
            run.tasks.insert(r.envelope.task_id, r);
        }
        Ok(())
    }

    async fn on_event(
        &self,
        delivery: Delivery,
        active: &mut HashMap<Uuid, ActiveRun>,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) {
        let event = match serde_json::from_slice::<TaskEvent>(&delivery.body) {
            Ok(event) => event,
            Err(e) => {
                warn!(error = %e, "dropping an unreadable task event");
                let _ = delivery.ack().await;
                return;
            }
        };
        match self.apply(&event, active, on_run_end).await {
            Ok(()) => {
                let _ = delivery.ack().await;
            }
            Err(e) => {
                // Unacked, the event comes back; applying it again is harmless.
                warn!(error = %e, task_id = %event.task_id, "could not apply a task event; it will be redelivered");
                drop(delivery);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn apply(
        &self,
        event: &TaskEvent,
        active: &mut HashMap<Uuid, ActiveRun>,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) -> Result<(), CoordinatorError> {
        let mut run = match active.remove(&event.run_id) {
            Some(run) => run,
            // A run this coordinator does not follow: finished (a replayed
            // dead letter reopens it) or unknown (nothing to do).
            None => match self.warehouse.run(event.run_id).await? {
                Some(record) if record.status != RunStatus::Completed => {
                    self.load_run(record).await?
                }
                _ => return Ok(()),
            },
        };
        let result = self.apply_to(event, &mut run).await;
        if result.is_ok() && self.finish_if_done(&mut run, on_run_end).await? {
            return Ok(());
        }
        active.insert(event.run_id, run);
        result
    }

    async fn apply_to(
        &self,
        event: &TaskEvent,
        run: &mut ActiveRun,
    ) -> Result<(), CoordinatorError> {
        let final_in_memory = run.tasks.get(&event.task_id).map(|t| t.state.is_final());
        if final_in_memory == Some(true) {
            // Maybe replayed from the dead-letter archive since: the stored
            // record says so. Reload the run to pick that up.
            let record = run.record.clone();
            *run = self.load_run(record).await?;
        }
        let Some(record) = run.tasks.get(&event.task_id) else {
            return Ok(());
        };
        if record.state.is_final() {
            return Ok(());
        }
        if run.record.status != RunStatus::Running {
            info!(run_id = %run.record.run_id, "a replayed task reopened the run");
            run.record.status = RunStatus::Running;
            run.record.updated_at = Utc::now();
            self.warehouse.save_run(&run.record).await?;
        }
        let mut updated = record.clone();
        updated.state = match event.kind {
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
        updated.worker = Some(event.worker.clone());
        updated.attempts = event.attempt;
        updated.updated_at = Utc::now();
        let next: Vec<TaskRecord> = run.dag.on_event(event).into_iter().map(pending).collect();
        self.warehouse.save_tasks(&[updated.clone()]).await?;
        run.tasks.insert(updated.envelope.task_id, updated);
        self.publish_recorded(run, next).await?;
        if let Some(progress) = &self.options.progress {
            progress(&run.progress());
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
        run.record.status = if dead == 0 {
            RunStatus::Completed
        } else {
            RunStatus::Blocked
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
            by_worker,
        };
        info!(run_id = %outcome.run.run_id, status = %outcome.run.status, tasks = outcome.tasks, dead, "run finished");
        on_run_end(&outcome);
        Ok(true)
    }
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
