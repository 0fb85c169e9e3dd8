//! The worker loop: consume tasks, run their stage, settle every delivery.
//!
//! The rules that keep a fleet from losing work live here, once:
//! - a failed task's next attempt (or its dead letter) is published *before*
//!   the original delivery is acked, so a crash in between duplicates at worst;
//! - nobody holds a delivery while backing off: the retry is a delayed publish;
//! - a body that is not a task (undecodable, unknown version, oversized) is
//!   dead-lettered at once with the reason, never retried, never fatal;
//! - a handler that panics is caught and its task dead-lettered;
//! - an attempt that runs past the task deadline (`worker.task_deadline_secs`)
//!   is stopped and fails as transient: it may succeed later, and its next
//!   attempt resumes from its checkpoint. Its counters are lost with it, so
//!   it counts as an attempt without progress: a task that hits the deadline
//!   `retry.max_attempts` times in a row is dead-lettered, which bounds the
//!   time any task can take;
//! - an attempt whose delivery is lost while it runs (the broker connection
//!   dropped, so RabbitMQ has put the task back for another worker) is
//!   stopped before its next write and reports nothing — no outcome, retry
//!   or dead letter: whatever it still did would be stale, and the task's
//!   next holder does it (see [`crate::held`]);
//! - on shutdown the worker stops taking deliveries, lets in-flight ones finish
//!   within a deadline, and hands back whatever is left unacked.
//!
//! `concurrency` bounds the handlers running, not the deliveries being
//! settled: once a handler is done its slot goes to the next delivery while
//! the outcome's publish waits for its confirm, so the confirms of many
//! tasks are in flight together instead of one per slot. The broker's
//! prefetch bounds the whole ([`prefetch_for`] sizes it); acks leave in
//! batches (the RabbitMQ broker's `multiple` acks).

mod outcome;

use crate::handler::{HandlerOutcome, Handlers};
use dorafleet_broker::{Broker, BrokerError, Delivery, Route};
use dorafleet_core::{
    DeadLetter, EnvelopeError, RetryPolicy, TaskEnvelope, TaskError, TaskEventKind, TaskStats,
};
use dorafleet_telemetry::{metrics, trace_context};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, info, info_span, warn};

/// What a worker says when a task's delivery is lost while its outcome is
/// being published.
const OUTCOME_ABANDONED: &str = "delivery lost while the attempt's outcome was being published (the broker connection dropped): the outcome is abandoned; the broker delivers the task again";
/// What a worker says when a task's delivery is lost mid-attempt.
const DELIVERY_LOST: &str = "delivery lost while the task ran (the broker connection dropped): the attempt is stopped and reports nothing; the broker delivers the task again";

/// Deliveries beyond the running ones a worker holds unacked: outcomes
/// whose publish waits for the broker's confirm, and tasks waiting for a
/// slot. A delivery stays unacked until its outcome is confirmed (a quorum
/// queue's confirm is a replicated, synced write: milliseconds), so with
/// room for only a few, short tasks ran at `room ÷ confirm latency` however
/// idle the worker was: in the fleet benchmark, one worker ran no-op tasks
/// at about 2,750 a second with room for 4, and 6,200 with room for 32.
/// The price is what a prefetch always costs: up to this many tasks wait in
/// a busy worker while another is idle; `broker.prefetch` caps the whole.
pub const SETTLE_ROOM: usize = 32;

/// Deliveries a worker running `concurrency` tasks at once should hold
/// unacked (the broker's prefetch): its running tasks plus [`SETTLE_ROOM`].
pub fn prefetch_for(concurrency: usize) -> u16 {
    u16::try_from(concurrency.max(1).saturating_add(SETTLE_ROOM)).unwrap_or(u16::MAX)
}

/// How a [`Worker`] runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Recorded in attempt histories and events.
    pub name: String,
    /// Tasks run at once.
    pub concurrency: usize,
    /// When a failed task is retried (and after how long) or dead-lettered.
    pub retry: RetryPolicy,
    /// How long in-flight tasks may run on after shutdown is requested.
    pub drain_timeout: Duration,
}

/// Consumes tasks from the broker, runs each through its stage's handler and
/// settles the delivery: done, retried with a delayed publish, or
/// dead-lettered, with an event to the coordinator every time.
#[derive(Debug)]
pub struct Worker {
    broker: Arc<dyn Broker>,
    handlers: Handlers,
    options: WorkerOptions,
    task_deadline: Duration,
}

impl Worker {
    /// A worker taking tasks from `broker` and running them with `handlers`,
    /// with the default task deadline (see
    /// [`with_task_deadline`](Self::with_task_deadline)).
    pub fn new(broker: Arc<dyn Broker>, handlers: Handlers, options: WorkerOptions) -> Self {
        Worker {
            broker,
            handlers,
            options,
            task_deadline: dorafleet_core::config::WorkerConfig::default().task_deadline(),
        }
    }

    /// Stop any attempt that runs longer than `deadline`
    /// (`worker.task_deadline_secs`) and fail it as transient.
    pub fn with_task_deadline(mut self, deadline: Duration) -> Self {
        self.task_deadline = deadline;
        self
    }

    /// Consume `routes` until `shutdown` is cancelled or the broker closes.
    pub async fn run(
        self,
        routes: &[Route],
        shutdown: CancellationToken,
    ) -> Result<(), BrokerError> {
        let mut deliveries = self.broker.consume_tasks(routes).await?;
        let concurrency = self.options.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(concurrency));
        // Deliveries held at once, running or settling: whatever the broker's prefetch.
        let held = Arc::new(Semaphore::new(usize::from(prefetch_for(concurrency))));
        let this = Arc::new(self);
        let mut in_flight = JoinSet::new();
        info!(worker = %this.options.name, routes = ?routes.iter().map(Route::queue).collect::<Vec<_>>(), "worker consuming");
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = Arc::clone(&permits).acquire_owned() => permit.map_err(|_| BrokerError::Closed)?,
            };
            let hold = tokio::select! {
                _ = shutdown.cancelled() => break,
                hold = Arc::clone(&held).acquire_owned() => hold.map_err(|_| BrokerError::Closed)?,
            };
            let delivery = tokio::select! {
                _ = shutdown.cancelled() => break,
                d = deliveries.next() => match d {
                    Some(d) => d,
                    None => break,
                },
            };
            let worker = Arc::clone(&this);
            in_flight.spawn(async move {
                worker.settle(delivery, permit).await;
                drop(hold);
            });
            // Reap finished tasks so the set does not grow without bound.
            while in_flight.try_join_next().is_some() {}
        }
        // The stream stays open while in-flight tasks finish: on RabbitMQ,
        // closing it closes the channel their acks must travel on. Deliveries
        // prefetched but not started go back to the queue when it closes.
        let drained = tokio::time::timeout(this.options.drain_timeout, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                left = in_flight.len(),
                "drain timeout: handing unfinished tasks back to the broker"
            );
            // Aborting drops their deliveries unacked, so the broker redelivers them.
            in_flight.shutdown().await;
        }
        drop(deliveries);
        info!(worker = %this.options.name, "worker stopped");
        Ok(())
    }

    /// Run one delivery to completion and settle it, in a span that
    /// continues the publisher's trace. Errors publishing the outcome leave
    /// the delivery unacked, so it is delivered again. `slot` is given back
    /// as soon as the handler is done.
    async fn settle(&self, delivery: Delivery, slot: OwnedSemaphorePermit) {
        let decoded = TaskEnvelope::decode(&delivery.body);
        let span = match &decoded {
            Ok(task) => info_span!(
                "task",
                otel.name = %format!("task {}", task.route()),
                stage = %task.stage,
                source = task.source.map_or("none", |s| s.as_str()),
                scope = %task.scope,
                attempt = task.attempt,
                task_id = %task.task_id,
                run_id = %task.run_id,
                redelivered = delivery.redelivered,
            ),
            Err(_) => info_span!("poison message", redelivered = delivery.redelivered),
        };
        trace_context::set_parent(&span, &delivery.headers);
        self.settle_decoded(delivery, decoded, slot)
            .instrument(span)
            .await;
    }

    async fn settle_decoded(
        &self,
        delivery: Delivery,
        decoded: Result<TaskEnvelope, EnvelopeError>,
        slot: OwnedSemaphorePermit,
    ) {
        let task = match decoded {
            Ok(task) => task,
            Err(e) => {
                drop(slot);
                let mut letter =
                    DeadLetter::for_poison(&delivery.body, e.to_string(), &self.options.name);
                letter.trace_id = trace_context::current_trace_id();
                warn!(reason = %e, "dead-lettering a message that is not a task");
                metrics::dead_lettered("unknown", "unknown");
                if let Err(err) = self.broker.publish_dead_letter(&letter).await {
                    warn!(%err, "could not dead-letter a poison message; leaving it unacked");
                    return;
                }
                ack(delivery).await;
                return;
            }
        };
        let started = std::time::Instant::now();
        let outcome = self.run_handler(&task, &delivery).await;
        // The next task may start while this one's outcome is confirmed.
        drop(slot);
        let ran = started.elapsed();
        // The broker gave the task to another consumer when this one lost
        // its connection: anything more from this attempt would be stale.
        // `None`: the delivery was lost while the handler ran (said there).
        let Some(outcome) = outcome else {
            return;
        };
        if !delivery.is_held() {
            warn!(task_id = %task.task_id, route = %task.route(), "{DELIVERY_LOST}");
            return;
        }
        let publish = async {
            match outcome.result {
                // Counted once reported: an outcome given up (below) or not
                // published is not a finished task.
                Ok(()) => {
                    self.report(&task, outcome.stats, TaskEventKind::Done)
                        .await?;
                    metrics::task_finished(task.stage.as_str(), "done", ran);
                    Ok(())
                }
                Err(error) => self.fail(&task, outcome.stats, error, ran).await,
            }
        };
        // A publish rides out a reconnect; the delivery does not. Once it is
        // lost the broker gives the task to another consumer, and a retry
        // published after this one reconnects would run the task twice.
        let published = tokio::select! {
            biased;
            published = publish => published,
            () = delivery.lost() => {
                warn!(task_id = %task.task_id, route = %task.route(), "{OUTCOME_ABANDONED}");
                return;
            }
        };
        match published {
            Ok(()) => ack(delivery).await,
            Err(err) => {
                warn!(task_id = %task.task_id, %err, "could not publish the outcome; leaving the delivery unacked")
            }
        }
    }

    /// Run the task's handler; `None` when the delivery was lost meanwhile
    /// (the handler then stops at its next write: see [`crate::held`]).
    async fn run_handler(
        &self,
        task: &TaskEnvelope,
        delivery: &Delivery,
    ) -> Option<HandlerOutcome> {
        let Some(handler) = self.handlers.get(task.stage).cloned() else {
            return Some(HandlerOutcome::failed(
                TaskStats::default(),
                TaskError::permanent(format!(
                    "this worker has no handler for stage {}",
                    task.stage
                )),
            ));
        };
        let owned = task.clone();
        // A separate tokio task, so a panicking handler is caught here instead
        // of taking the worker down (and redelivering the poison forever).
        let span = Span::current();
        let lost = CancellationToken::new();
        let attempt =
            crate::held::holding(lost.clone(), async move { handler.handle(&owned).await });
        let mut running = tokio::spawn(attempt.instrument(span));
        let finished = tokio::select! {
            finished = tokio::time::timeout(self.task_deadline, &mut running) => finished,
            () = delivery.lost() => {
                // Said now, not once the attempt has stopped: an attempt
                // stuck in a request to an unreachable source may take
                // until its timeout to reach its next write.
                warn!(task_id = %task.task_id, route = %task.route(), "{DELIVERY_LOST}");
                // The attempt stops at its next write (`held::still_held`);
                // one stuck elsewhere is stopped at the task deadline.
                lost.cancel();
                if tokio::time::timeout(self.task_deadline, &mut running).await.is_err() {
                    running.abort();
                }
                return None;
            }
        };
        Some(match finished {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join)) => HandlerOutcome::failed(
                TaskStats::default(),
                TaskError::permanent(format!("stage handler crashed: {join}")),
            ),
            Err(_) => {
                // Stopped at its next await; waited for (briefly), so that
                // nothing of this attempt runs on beside the next one.
                running.abort();
                let _ = tokio::time::timeout(Duration::from_secs(5), running).await;
                warn!(task_id = %task.task_id, route = %task.route(),
                    deadline_secs = self.task_deadline.as_secs_f64(), "task ran past its deadline; stopped");
                HandlerOutcome::failed(
                    TaskStats::default(),
                    TaskError::transient(format!(
                        "the attempt ran past the task deadline of {}s (worker.task_deadline_secs) and was stopped; the next attempt resumes from its last checkpoint",
                        self.task_deadline.as_secs_f64()
                    )),
                )
            }
        })
    }
}

async fn ack(delivery: Delivery) {
    if let Err(err) = delivery.ack().await {
        // The broker will redeliver; handlers are idempotent.
        warn!(%err, "ack failed; the task may run again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::NoopHandler;
    use async_trait::async_trait;
    use chrono::Utc;
    use dorafleet_broker::{DeliveryStream, InProcessBroker};
    use dorafleet_core::{DeadLetter, Scope, Source, Stage, TaskEvent, Window};
    use std::time::Instant;

    /// The in-process broker, except that an event's publish (its
    /// "confirm") waits until the test opens the gate.
    #[derive(Debug)]
    struct SlowConfirms {
        inner: InProcessBroker,
        gate: Arc<Semaphore>,
    }

    #[async_trait]
    impl Broker for SlowConfirms {
        async fn publish(&self, task: &TaskEnvelope) -> Result<(), BrokerError> {
            self.inner.publish(task).await
        }
        async fn publish_delayed(
            &self,
            task: &TaskEnvelope,
            delay: Duration,
        ) -> Result<(), BrokerError> {
            self.inner.publish_delayed(task, delay).await
        }
        async fn publish_dead_letter(&self, letter: &DeadLetter) -> Result<(), BrokerError> {
            self.inner.publish_dead_letter(letter).await
        }
        async fn publish_event(&self, event: &TaskEvent) -> Result<(), BrokerError> {
            self.gate
                .acquire()
                .await
                .map_err(|_| BrokerError::Closed)?
                .forget();
            self.inner.publish_event(event).await
        }
        async fn consume_tasks(
            &self,
            routes: &[Route],
        ) -> Result<Box<dyn DeliveryStream>, BrokerError> {
            self.inner.consume_tasks(routes).await
        }
        async fn consume_dead_letters(&self) -> Result<Box<dyn DeliveryStream>, BrokerError> {
            self.inner.consume_dead_letters().await
        }
        async fn consume_events(&self) -> Result<Box<dyn DeliveryStream>, BrokerError> {
            self.inner.consume_events().await
        }
        async fn close(&self) -> Result<(), BrokerError> {
            Broker::close(&self.inner).await
        }
    }

    fn task() -> TaskEnvelope {
        let now = Utc::now();
        TaskEnvelope::new(
            uuid::Uuid::now_v7(),
            Stage::Extract,
            Some(Source::Jira),
            Scope {
                team: "t".into(),
                target: Some("P".into()),
            },
            Window {
                from: now - chrono::Duration::days(1),
                to: now,
            },
            3,
        )
    }

    #[tokio::test]
    async fn the_next_task_runs_while_the_last_ones_outcome_waits_for_its_confirm() {
        let inner = InProcessBroker::new();
        let gate = Arc::new(Semaphore::new(0));
        let broker = Arc::new(SlowConfirms {
            inner: inner.clone(),
            gate: Arc::clone(&gate),
        });
        let route = Route {
            stage: Stage::Extract,
            source: Some(Source::Jira),
        };
        for _ in 0..2 {
            inner.publish(&task()).await.unwrap();
        }
        let mut events = inner.consume_events().await.unwrap();
        let worker = Worker::new(
            broker,
            Handlers::default().with(Stage::Extract, Arc::new(NoopHandler)),
            WorkerOptions {
                name: "w".into(),
                concurrency: 1,
                retry: RetryPolicy::default(),
                drain_timeout: Duration::from_secs(5),
            },
        );
        let shutdown = CancellationToken::new();
        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { worker.run(&[route], shutdown).await }
        });
        // One slot, yet both tasks are taken: the second does not wait
        // behind the first one's confirm.
        let queue = route.queue();
        let deadline = Instant::now() + Duration::from_secs(10);
        while inner.depth(&queue) > 0 {
            assert!(Instant::now() < deadline, "tasks wait behind a confirm");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        gate.add_permits(2);
        for _ in 0..2 {
            let event = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await
                .expect("an event once confirms flow")
                .expect("the events stream is open");
            event.ack().await.unwrap();
        }
        shutdown.cancel();
        running.await.unwrap().unwrap();
        assert_eq!(inner.depth(&queue), 0, "every task acked after its event");
    }
}
