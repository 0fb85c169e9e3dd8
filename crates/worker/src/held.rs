//! Whether the running attempt still holds its delivery.
//!
//! When a worker loses its broker connection, RabbitMQ puts the tasks it
//! held back in the queue and another worker runs them. The first worker's
//! attempts must then stop writing: their results would be stale. They stop
//! at their next write, not wherever they happen to be awaiting — a future
//! dropped in the middle of a warehouse transaction leaves that transaction
//! to the server, while one that stops between writes leaves nothing behind.
//! So the worker runtime runs each attempt inside [`holding`], and the stages
//! call [`still_held`] before each write (a bronze page, a checkpoint, a
//! silver batch, gold).
//!
//! Outside a worker (the embedded mode, tests of a stage alone) nothing can
//! take a task back, and [`still_held`] always answers yes.

use dorafleet_core::TaskError;
use std::future::Future;
use tokio_util::sync::CancellationToken;

tokio::task_local! {
    static LOST: CancellationToken;
}

/// Run `attempt` as the holder of a delivery that is lost once `lost` is
/// cancelled.
pub async fn holding<F: Future>(lost: CancellationToken, attempt: F) -> F::Output {
    LOST.scope(lost, attempt).await
}

/// `Ok` while the running attempt may still write; a transient error once
/// its delivery is lost (the worker reports nothing for such an attempt).
pub fn still_held() -> Result<(), TaskError> {
    match LOST.try_with(CancellationToken::is_cancelled) {
        Ok(true) => Err(TaskError::transient(
            "the broker took the task back (this worker's connection dropped): the attempt stops before writing more; the task's next holder runs it",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_attempt_may_write_until_its_delivery_is_lost() {
        let lost = CancellationToken::new();
        let attempt = holding(lost.clone(), async {
            let before = still_held();
            lost.cancel();
            (before, still_held())
        });
        let (before, after) = attempt.await;
        assert!(before.is_ok());
        let err = after.unwrap_err();
        assert!(err.to_string().contains("took the task back"), "{err}");
    }

    #[tokio::test]
    async fn outside_a_worker_every_write_is_allowed() {
        assert!(still_held().is_ok());
    }
}
