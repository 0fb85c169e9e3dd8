//! What a worker publishes when an attempt ends: the outcome event for
//! the coordinator, and for a failure first the retry (a delayed publish of
//! the next attempt) or the dead letter, as the retry policy decides. The
//! delivery is acked only after these are confirmed (see the parent module).

use super::Worker;
use chrono::Utc;
use dorafleet_broker::BrokerError;
use dorafleet_core::{
    AttemptRecord, DeadLetter, RetryDecision, TaskEnvelope, TaskError, TaskEvent, TaskEventKind,
    TaskStats,
};
use dorafleet_telemetry::{metrics, trace_context};
use tracing::{info, warn};

impl Worker {
    pub(super) async fn fail(
        &self,
        task: &TaskEnvelope,
        stats: TaskStats,
        error: TaskError,
        ran: std::time::Duration,
    ) -> Result<(), BrokerError> {
        let progressed = stats.pages > 0;
        let record = AttemptRecord {
            attempt: task.attempt,
            at: Utc::now(),
            worker: self.options.name.clone(),
            class: error.class(),
            message: error.detail(),
            progressed,
        };
        match self.options.retry.decide(task, &error, progressed) {
            RetryDecision::RetryAfter(delay) => {
                info!(task_id = %task.task_id, route = %task.route(), attempt = task.attempt, delay_ms = delay.as_millis() as u64, class = %error.class(), error = %error.detail(), "retrying");
                self.broker
                    .publish_delayed(&task.next_attempt(record), delay)
                    .await?;
                metrics::retry_scheduled(task.stage.as_str(), delay);
                let kind = TaskEventKind::Retrying {
                    next_attempt: task.attempt + 1,
                    delay,
                    class: error.class(),
                    message: error.detail(),
                };
                self.report(task, stats, kind).await?;
                metrics::task_finished(task.stage.as_str(), "retrying", ran);
                Ok(())
            }
            RetryDecision::DeadLetter { reason } => {
                warn!(task_id = %task.task_id, route = %task.route(), attempt = task.attempt, class = %error.class(), %reason, "dead-lettering");
                let mut letter = DeadLetter::for_task(task, record, reason.clone());
                letter.trace_id = trace_context::current_trace_id();
                self.broker.publish_dead_letter(&letter).await?;
                metrics::dead_lettered(
                    task.stage.as_str(),
                    task.source.map_or("none", |s| s.as_str()),
                );
                let kind = TaskEventKind::Dead {
                    class: letter.error_class,
                    reason,
                    dead_letter_id: letter.id,
                };
                self.report(task, stats, kind).await?;
                metrics::task_finished(task.stage.as_str(), "dead", ran);
                Ok(())
            }
        }
    }

    pub(super) async fn report(
        &self,
        task: &TaskEnvelope,
        stats: TaskStats,
        kind: TaskEventKind,
    ) -> Result<(), BrokerError> {
        let event = TaskEvent::of(task, self.options.name.as_str(), stats, kind);
        self.broker.publish_event(&event).await
    }
}
