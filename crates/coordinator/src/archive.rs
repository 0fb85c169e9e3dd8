//! The dead-letter archiver: moves letters from the broker's dead-letter
//! queue into the warehouse — stored first, acked after — where they are
//! queryable and never evicted.

use dorafleet_broker::{Broker, BrokerError};
use dorafleet_core::DeadLetter;
use dorafleet_warehouse::LetterArchive;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Archive until `shutdown`; calls `on_archived` after each stored letter.
pub async fn archive_dead_letters(
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn LetterArchive>,
    shutdown: CancellationToken,
    mut on_archived: impl FnMut(&DeadLetter) + Send,
) -> Result<(), BrokerError> {
    let mut letters = broker.consume_dead_letters().await?;
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            d = letters.next() => match d {
                Some(d) => d,
                None => return Ok(()),
            },
        };
        // Something on the dead-letter queue that is not a letter is itself
        // kept as one: nothing leaves this queue without a record.
        let letter = serde_json::from_slice::<DeadLetter>(&delivery.body).unwrap_or_else(|e| {
            DeadLetter::for_poison(
                &delivery.body,
                format!("unreadable dead letter: {e}"),
                "archiver",
            )
        });
        match warehouse.store_dead_letter(&letter).await {
            Ok(()) => {
                if let Err(err) = delivery.ack().await {
                    warn!(%err, "ack of an archived dead letter failed; it will be stored again (idempotent)");
                }
                on_archived(&letter);
            }
            Err(err) => {
                warn!(%err, letter = %letter.id, "could not archive a dead letter; it stays on the queue");
                drop(delivery);
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
}
