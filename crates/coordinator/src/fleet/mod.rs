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
//!
//! Every write of the coordinator's state (runs and task records) carries
//! the generation of the lease it took (a [`Fence`]), and the warehouse
//! refuses it once another coordinator took the lease since: a coordinator
//! paused past its lease writes nothing when it wakes, steps down, and, once
//! it leads again, goes on from the records. A run planned over a range
//! (`Plan::Once`) has an id fixed for the coordinator's lifetime, so one that
//! another coordinator finished meanwhile is seen finished, never planned
//! and extracted again.

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
use dorafleet_warehouse::{Fence, RunRecord, RunStatus, TaskRecord, Warehouse, WarehouseError};
use events::{ActiveRun, Changes, apply_to, decode_events, take_delivered};
use lease::{keep_lease, release_lease, wait_for_lease};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

/// How long a new leader keeps trying to subscribe to the task events
/// before it gives up and exits with the broker's error.
const SUBSCRIBE_WINDOW: Duration = Duration::from_secs(60);

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

impl CoordinatorError {
    /// Whether the warehouse refused a write because another coordinator
    /// took the lease since this one took it: step down.
    pub fn is_fenced(&self) -> bool {
        matches!(self, CoordinatorError::Warehouse(e) if e.is_fenced())
    }

    /// Whether going on cannot help: the lease was lost (step down) or the
    /// warehouse is not the one in use any more (stop). Any other failure
    /// of a batch of events is retried with the batch.
    fn ends_leadership(&self) -> bool {
        matches!(
            self,
            CoordinatorError::Warehouse(
                WarehouseError::Fenced { .. } | WarehouseError::Replaced { .. }
            )
        )
    }
}

/// The fleet coordinator: plans runs, publishes their tasks, follows the
/// workers' events and opens the stages' gates (see the module docs).
#[derive(Debug)]
pub struct Coordinator {
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn Warehouse>,
    config: Arc<Config>,
    options: CoordinatorOptions,
    /// The lease generation this coordinator's writes carry while it leads
    /// (`None` before it first took the lease: unit tests drive it so).
    fence: Mutex<Option<Fence>>,
    /// The id of the run `Plan::Once` plans: one per coordinator, so that
    /// leading again after losing the lease never plans the range twice.
    once_run: Uuid,
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
            fence: Mutex::new(None),
            once_run: Uuid::now_v7(),
        }
    }

    /// The fence of this coordinator's writes, while it leads.
    fn fence(&self) -> Option<Fence> {
        self.fence.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Record a run, fenced by the lease this coordinator holds.
    async fn save_run(&self, run: &RunRecord) -> Result<(), WarehouseError> {
        match self.fence() {
            Some(fence) => self.warehouse.save_run_fenced(run, &fence).await,
            None => self.warehouse.save_run(run).await,
        }
    }

    /// Record tasks, fenced by the lease this coordinator holds.
    async fn save_tasks(&self, tasks: &[TaskRecord]) -> Result<(), WarehouseError> {
        match self.fence() {
            Some(fence) => self.warehouse.save_tasks_fenced(tasks, &fence).await,
            None => self.warehouse.save_tasks(tasks).await,
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
            let Some(fence) = wait_for_lease(self.warehouse.as_ref(), name, ttl, &shutdown).await?
            else {
                return Ok(());
            };
            *self.fence.lock().unwrap_or_else(|p| p.into_inner()) = Some(fence.clone());
            let finished = self.lead(&shutdown, fence, &mut on_run_end).await;
            let _ = release_lease(self.warehouse.as_ref(), name).await;
            match finished {
                Ok(true) => return Ok(()),
                Ok(false) if shutdown.is_cancelled() => return Ok(()),
                Ok(false) => warn!("lost the coordinator lease; back to standby"),
                Err(e) if e.is_fenced() => {
                    warn!(error = %e, "another coordinator took the lease: this one's writes are refused; back to standby, to go on from the records once it leads again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Lead until done (true) or until shut down or the lease is lost (false).
    async fn lead(
        &self,
        shutdown: &CancellationToken,
        fence: Fence,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
    ) -> Result<bool, CoordinatorError> {
        let leadership = shutdown.child_token();
        let keeper = tokio::spawn(keep_lease(
            Arc::clone(&self.warehouse),
            self.options.name.clone(),
            self.options.lease_ttl,
            fence,
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
        let Some(mut events) = self.subscribe_to_events(leadership).await? else {
            return Ok(false);
        };
        let mut active = self.resume(on_run_end).await?;
        if let Plan::Once { range } = &self.options.plan
            && active.is_empty()
        {
            if let Some(run) = self.warehouse.run(self.once_run).await? {
                // Planned by this coordinator before it lost the lease, and
                // not unfinished (resume found nothing): another finished it.
                info!(run_id = %run.run_id, status = %run.status,
                    "the run this coordinator planned was finished by another coordinator while this one did not lead: nothing left to do");
                return Ok(true);
            }
            if let Some(run) = self.plan_run(*range).await? {
                active.insert(run.record.run_id, run);
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
                    if active.is_empty()
                        && let Some(run) = self.plan_run(None).await?
                    {
                        active.insert(run.record.run_id, run);
                    }
                }
                delivery = events.next() => match delivery {
                    Some(d) => {
                        let batch = take_delivered(d, &mut events).await;
                        self.on_events(batch, &mut active, on_run_end, leadership).await?;
                    }
                    None => return Ok(false),
                },
            }
        }
    }

    /// The events stream, subscribed again while the broker is briefly
    /// unavailable (a connection that died while this process was paused
    /// is found dead only on use, and the reconnect may outlast one
    /// attempt): a coordinator that just took the lease must not give it up
    /// for a transient broker failure. `None` when leadership ended first.
    async fn subscribe_to_events(
        &self,
        leadership: &CancellationToken,
    ) -> Result<Option<Box<dyn dorafleet_broker::DeliveryStream>>, CoordinatorError> {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            match self.broker.consume_events().await {
                Ok(events) => return Ok(Some(events)),
                Err(BrokerError::Unavailable(why)) if started.elapsed() < SUBSCRIBE_WINDOW => {
                    warn!(error = %why, retry_in_ms = pause.as_millis() as u64,
                        "cannot subscribe to the task events yet; retrying");
                }
                Err(e) => return Err(e.into()),
            }
            tokio::select! {
                _ = leadership.cancelled() => return Ok(None),
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Apply a batch of deliveries, then ack them. If the batch cannot be
    /// applied none is acked: all come back (applying an event again is
    /// harmless), and the runs they belong to are reloaded before next use.
    /// Fails only when leading cannot go on (the lease was lost, or the
    /// warehouse replaced): the events go back for whoever leads next.
    async fn on_events(
        &self,
        deliveries: Vec<Delivery>,
        active: &mut HashMap<Uuid, ActiveRun>,
        on_run_end: &mut (impl FnMut(&RunOutcome) + Send),
        leadership: &CancellationToken,
    ) -> Result<(), CoordinatorError> {
        let (events, deliveries) = decode_events(deliveries).await;
        if events.is_empty() {
            return Ok(());
        }
        match self.apply(&events, active, on_run_end).await {
            Ok(()) => {
                for delivery in deliveries {
                    let _ = delivery.ack().await;
                }
            }
            Err(e) if e.ends_leadership() => {
                drop(deliveries);
                return Err(e);
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
        Ok(())
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
