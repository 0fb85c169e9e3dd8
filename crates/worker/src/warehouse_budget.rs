//! The fleet-wide request budget, kept in the warehouse every worker shares:
//! each request of a source takes the next slot of that source's schedule,
//! so however many workers run, requests reach the source at most once per
//! interval; a server's `Retry-After` holds the schedule for everyone.
//!
//! Taking a slot is a write to the shared warehouse, and with one write per
//! request the slots were half of a worker's writes. So the requests of
//! this process that wait for a slot of the same schedule at the same time
//! take their slots together, in one write: one task per schedule reserves,
//! for everyone queued while its last write ran, a run of consecutive slots.
//! Only requests already waiting are counted, so no slot goes unused, and
//! the run is spaced exactly as single slots would be. (Leasing slots ahead
//! of demand would save more writes but, when the budget does not bind,
//! either waste it or let requests bunch; see `RequestSlots`.)
//!
//! Slots are instants on the workers' clocks, so workers on several machines
//! need synchronised clocks (NTP); on one machine they share one clock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::TaskError;
use dorafleet_sources::FleetBudget;
use dorafleet_warehouse::RequestSlots;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The most slots one write reserves.
const MOST_AT_ONCE: usize = 64;

/// A [`FleetBudget`] whose request schedules are slots in the shared
/// warehouse, one schedule per source credential (key
/// `requests.<schedule>`: `requests.github` for a single token,
/// `requests.github/<credential>` for a named one).
#[derive(Debug, Clone)]
pub struct WarehouseBudget {
    warehouse: Arc<dyn RequestSlots>,
    /// Per schedule key, the queue of the task reserving its slots.
    queues: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Waiting>>>>,
}

/// A request waiting for its slot.
#[derive(Debug)]
struct Waiting {
    interval: Duration,
    reply: oneshot::Sender<Result<DateTime<Utc>, TaskError>>,
}

impl WarehouseBudget {
    /// A budget kept in `warehouse`.
    pub fn new(warehouse: Arc<dyn RequestSlots>) -> Self {
        WarehouseBudget {
            warehouse,
            queues: Arc::default(),
        }
    }

    fn key(schedule: &str) -> String {
        format!("requests.{schedule}")
    }

    /// The queue of `key`'s reserving task, started when there is none (or
    /// when the runtime it ran on has shut down).
    fn queue(&self, key: String) -> mpsc::UnboundedSender<Waiting> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queue) = queues.get(&key).filter(|q| !q.is_closed()) {
            return queue.clone();
        }
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(reserve_in_runs(
            Arc::clone(&self.warehouse),
            key.clone(),
            waiting,
        ));
        queues.insert(key, queue.clone());
        queue
    }
}

/// Serves `key`'s waiting requests: everyone queued takes a slot of one run,
/// reserved in one write. Ends when every budget handle is gone.
async fn reserve_in_runs(
    warehouse: Arc<dyn RequestSlots>,
    key: String,
    mut queue: mpsc::UnboundedReceiver<Waiting>,
) {
    let schedule = key.strip_prefix("requests.").unwrap_or(&key).to_owned();
    let mut run = Vec::with_capacity(MOST_AT_ONCE);
    while queue.recv_many(&mut run, MOST_AT_ONCE).await > 0 {
        // A request given up while it queued (its task cancelled) takes no slot.
        run.retain(|w: &Waiting| !w.reply.is_closed());
        let Some(interval) = run.iter().map(|w| w.interval).max() else {
            continue;
        };
        let count = NonZeroU32::new(u32::try_from(run.len()).unwrap_or(u32::MAX))
            .unwrap_or(NonZeroU32::MIN);
        match warehouse.reserve_slots(&key, interval, count).await {
            Ok(first) => {
                dorafleet_telemetry::metrics::request_slots_reserved(
                    &schedule,
                    u64::from(count.get()),
                );
                let step = chrono::Duration::from_std(interval).unwrap_or_default();
                let mut slot = first;
                for waiting in run.drain(..) {
                    // A caller gone since holds its slot unused: it is
                    // budget left over, never a request too many.
                    let _ = waiting.reply.send(Ok(slot));
                    slot += step;
                }
            }
            Err(e) => {
                let error = TaskError::from(e);
                for waiting in run.drain(..) {
                    let _ = waiting.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

#[async_trait]
impl FleetBudget for WarehouseBudget {
    async fn reserve(
        &self,
        schedule: &str,
        interval: Duration,
    ) -> Result<DateTime<Utc>, TaskError> {
        let (reply, slot) = oneshot::channel();
        let waiting = Waiting { interval, reply };
        if let Err(mpsc::error::SendError(waiting)) = self.queue(Self::key(schedule)).send(waiting)
        {
            // The reserving task ended between the check and the send (its
            // runtime shut down); a fresh one serves this request.
            let _ = self.queue(Self::key(schedule)).send(waiting);
        }
        slot.await.map_err(|_| {
            TaskError::transient(format!(
                "the request slot of `{schedule}` was not reserved: the reserving task stopped; \
                 the task is retried"
            ))
        })?
    }

    async fn pause_until(&self, schedule: &str, until: DateTime<Utc>) -> Result<(), TaskError> {
        Ok(self
            .warehouse
            .hold_slots_until(&Self::key(schedule), until)
            .await?)
    }
}
