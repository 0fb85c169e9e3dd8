//! The fleet coordinator: plans runs, publishes their tasks, follows the
//! workers' events, and opens each stage's gate when its inputs succeeded.
//!
//! Its state lives in the warehouse, not in memory ([`ledger`], [`resume`]): a
//! coordinator killed mid-run and started again picks up every unfinished run
//! where its records left off. Only the holder of the `coordinator` lease
//! acts ([`lease`]), so starting two is safe: the second waits.
//!
//! Events are applied in batches. Every publish waits for RabbitMQ's confirm
//! and every warehouse write is a transaction, so one event at a time spends
//! most of its time waiting: a confirm per released task and two commits per
//! event, one after the other. Instead the coordinator takes the event it
//! waited for and whatever further events are already delivered (up to
//! [`EVENT_BATCH`](events::EVENT_BATCH)), applies them all in memory
//! ([`events`]), records every changed and released task in one transaction,
//! publishes the released tasks with their confirms overlapping (up to
//! [`PUBLISH_WINDOW`](publish::PUBLISH_WINDOW) at once, [`publish`]), records
//! them published, and only then acks the batch. The rules above hold per
//! batch: if any step fails nothing of the batch is acked, every event comes
//! back, and the runs it touched are reloaded from their records (their DAGs
//! rebuilt) before they are used again. Applying an event again is harmless:
//! an event of a task already final is ignored.

mod events;
#[cfg(test)]
mod fixtures;
mod lease;
mod ledger;
mod planning;
mod publish;
mod resume;

pub(crate) use publish::publish_span;

use crate::archive::archive_dead_letters;
use crate::progress::RunProgress;
use dorafleet_broker::{Broker, BrokerError, Delivery};
use dorafleet_core::{Config, Source, TaskEvent, Window};
use dorafleet_warehouse::{RunRecord, RunStatus, Warehouse, WarehouseError};
use events::{ActiveRun, Changes, apply_to, decode_events, take_delivered};
use lease::{keep_lease, release_lease, wait_for_lease};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uuid::Uuid;

/// When the coordinator plans runs.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Plan one run (incremental, or over `range`) unless one is unfinished;
    /// return once no run is left unfinished.
    Once {
        /// The window to plan over; `None` plans an incremental run.
        range: Option<Window>,
    },
    /// Plan an incremental run every `interval` when none is unfinished.
    Every(Duration),
    /// Only finish the unfinished runs, then return.
    ResumeOnly,
}

/// Called with a run's progress after each batch of events that changed it.
pub type ProgressHook = Arc<dyn Fn(&RunProgress) + Send + Sync>;

/// How a [`Coordinator`] runs.
#[derive(Clone)]
pub struct CoordinatorOptions {
    /// Lease holder name (host-pid by default).
    pub name: String,
    /// How long the `coordinator` lease lasts unrenewed; it is renewed
    /// every third of that, and a standby takes over once it lapses.
    pub lease_ttl: Duration,
    /// When runs are planned.
    pub plan: Plan,
    /// Sources the planned runs extract.
    pub sources: Vec<Source>,
    /// Told each run's progress after every batch of events that changed it.
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
    /// The run's record, with its final status.
    pub run: RunRecord,
    /// All the run's tasks.
    pub tasks: usize,
    /// Tasks that finished successfully.
    pub done: usize,
    /// Tasks dead-lettered.
    pub dead: usize,
    /// Retries scheduled over all the run's tasks.
    pub retries: u64,
    /// Teams without gold from this run because one of their tasks died.
    pub blocked_teams: BTreeSet<String>,
    /// Teams a data-quality sensor held: no gold for their held days.
    pub held_teams: BTreeSet<String>,
    /// Finished tasks per worker.
    pub by_worker: BTreeMap<String, usize>,
}

/// Why the coordinator stopped.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// Consuming or publishing on the broker failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// Reading or recording state in the warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

/// The fleet coordinator: plans runs, publishes their tasks, follows the
/// workers' events and opens the stages' gates (see the module docs).
#[derive(Debug)]
pub struct Coordinator {
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn Warehouse>,
    config: Arc<Config>,
    options: CoordinatorOptions,
}

impl Coordinator {
    /// A coordinator over `broker` and `warehouse`; it does nothing until
    /// [`run`](Coordinator::run).
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
            let (name, ttl) = (&self.options.name, self.options.lease_ttl);
            if !wait_for_lease(self.warehouse.as_ref(), name, ttl, &shutdown).await? {
                return Ok(());
            }
            let finished = self.lead(&shutdown, &mut on_run_end).await;
            let _ = release_lease(self.warehouse.as_ref(), name).await;
            match finished {
                Ok(true) => return Ok(()),
                Ok(false) if shutdown.is_cancelled() => return Ok(()),
                Ok(false) => warn!("lost the coordinator lease; back to standby"),
                Err(e) => return Err(e),
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
}
