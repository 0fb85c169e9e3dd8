//! Publishing recorded tasks. A task is always recorded before it is
//! published and recorded published only once the broker confirmed it, so a
//! coordinator stopped in between publishes it again on restart (harmless)
//! and never loses it. Publishes wait for RabbitMQ's confirm, so they go out
//! with their confirms overlapping, up to [`PUBLISH_WINDOW`] at once.

use super::{Coordinator, CoordinatorError};
use dorafleet_broker::BrokerError;
use dorafleet_core::TaskEnvelope;
use dorafleet_telemetry::trace_context;
use dorafleet_warehouse::TaskRecord;
use std::sync::Arc;
use tokio::task::JoinSet;
use tracing::{Instrument, info_span};
use uuid::Uuid;

/// Most task publishes awaiting their confirms at once. A batch of events
/// releases up to one task per event ([`EVENT_BATCH`](super::events::EVENT_BATCH)),
/// and the batch waits for all their confirms: with a window of 64, a batch
/// of 512 waited through several confirm rounds of a few milliseconds each
/// while the events behind it piled up.
pub(super) const PUBLISH_WINDOW: usize = 1024;

/// The `traceparent` of a run by its id.
pub(super) type RunTrace<'a> = dyn Fn(Uuid) -> Option<String> + Send + Sync + 'a;

impl Coordinator {
    /// Publish tasks already recorded (unpublished), then record them
    /// published. If a publish fails none is recorded published: those that
    /// went out are published again later, which is harmless. `trace` gives
    /// the `traceparent` of a run, whose trace each publish continues.
    pub(super) async fn publish_recorded(
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
        self.save_tasks(records).await?;
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
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::events::pending;
    use crate::fleet::fixtures::{Fleet, extract};
    use dorafleet_broker::task_queue;
    use dorafleet_core::Config;
    use dorafleet_warehouse::RunLedger;

    /// `n` recorded, unpublished extracts of one run.
    async fn recorded(fleet: &Fleet, n: usize) -> Vec<TaskRecord> {
        let run_id = Uuid::now_v7();
        let records: Vec<TaskRecord> = (0..n)
            .map(|i| pending(extract(run_id, "t", &format!("acme/{i}"))))
            .collect();
        fleet.warehouse.save_tasks(&records).await.unwrap();
        records
    }

    #[tokio::test]
    async fn more_tasks_than_the_window_are_all_published_and_recorded_published() {
        let fleet = Fleet::new(Config::default());
        let mut records = recorded(&fleet, PUBLISH_WINDOW + 6).await;

        fleet
            .coordinator
            .publish_recorded(&mut records, &|_| None)
            .await
            .unwrap();

        assert!(records.iter().all(|r| r.published));
        let run_id = records[0].envelope.run_id;
        let stored = fleet.warehouse.run_tasks(run_id).await.unwrap();
        assert_eq!(stored.len(), PUBLISH_WINDOW + 6);
        assert!(stored.iter().all(|t| t.published));
        let queue = task_queue(&records[0].envelope);
        assert_eq!(fleet.broker.depth(&queue), PUBLISH_WINDOW + 6);
    }

    #[tokio::test]
    async fn when_a_publish_fails_no_task_is_recorded_published() {
        let fleet = Fleet::new(Config::default());
        let mut records = recorded(&fleet, 3).await;
        fleet.broker.close();

        let result = fleet
            .coordinator
            .publish_recorded(&mut records, &|_| None)
            .await;

        assert!(
            matches!(result, Err(CoordinatorError::Broker(BrokerError::Closed))),
            "{result:?}"
        );
        assert!(records.iter().all(|r| !r.published));
        let run_id = records[0].envelope.run_id;
        let stored = fleet.warehouse.run_tasks(run_id).await.unwrap();
        assert!(stored.iter().all(|t| !t.published));
    }

    #[test]
    fn the_first_publish_failure_is_the_one_reported() {
        let mut failure = None;
        note_failure(None, &mut failure);
        note_failure(Some(Ok(Ok(()))), &mut failure);
        assert!(failure.is_none(), "nothing failed yet");

        note_failure(Some(Ok(Err(BrokerError::Closed))), &mut failure);
        note_failure(
            Some(Ok(Err(BrokerError::Unavailable("later".into())))),
            &mut failure,
        );

        assert!(matches!(failure, Some(BrokerError::Closed)), "{failure:?}");
    }
}
