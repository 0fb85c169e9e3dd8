//! Where gold changes come from: a small trait over "the next changes after
//! this checkpoint", so the monitor loop does not care whether they come
//! from the SQLite outbox or a MongoDB change stream.
//!
//! A checkpoint is an opaque string that resumes the feed just after one
//! change: the outbox sequence number on SQLite, a change stream resume
//! token on MongoDB. A MongoDB feed keeps its stream open between calls and
//! uses the checkpoint only to (re)open it; when the server answers
//! `ChangeStreamHistoryLost` (the token fell off the oplog) it rescans gold
//! changed since its last checkpoint and opens a fresh stream.

use crate::error::MonitorError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_warehouse::{GoldRecord, GoldStore};
use std::sync::Arc;
use std::time::Duration;

/// One gold change and the checkpoint that resumes just after it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedChange {
    /// The gold record as changed.
    pub record: GoldRecord,
    /// The checkpoint that resumes the feed just after this change.
    pub checkpoint: String,
    /// When the change was committed, if the feed knows (for latency).
    pub written_at: Option<DateTime<Utc>>,
}

/// A source of gold changes in commit order, resumable from a checkpoint.
#[async_trait]
pub trait GoldFeed: Send + std::fmt::Debug {
    /// The next changes after `after` (`None`: the start of the feed),
    /// oldest first. Waits a little (about a poll interval) when there are
    /// none and then returns an empty batch, so the caller can check for
    /// shutdown; cancelling the future loses nothing.
    async fn next_batch(&mut self, after: Option<&str>) -> Result<Vec<FeedChange>, MonitorError>;

    /// The monitor has handled everything up to `checkpoint`: drop what the
    /// feed keeps of it that was written before `written_before`. Returns
    /// how many changes were purged.
    async fn trim(
        &mut self,
        checkpoint: &str,
        written_before: DateTime<Utc>,
    ) -> Result<u64, MonitorError>;
}

/// The SQLite feed: polls the warehouse's gold outbox.
#[derive(Debug)]
pub struct OutboxFeed {
    warehouse: Arc<dyn GoldStore>,
    poll_interval: Duration,
    batch: usize,
}

impl OutboxFeed {
    /// A feed on `warehouse`'s outbox that sleeps `poll_interval` when it is empty.
    pub fn new(warehouse: Arc<dyn GoldStore>, poll_interval: Duration) -> Self {
        OutboxFeed {
            warehouse,
            poll_interval,
            batch: 256,
        }
    }
}

#[async_trait]
impl GoldFeed for OutboxFeed {
    async fn next_batch(&mut self, after: Option<&str>) -> Result<Vec<FeedChange>, MonitorError> {
        let after_seq = after.map_or(Ok(0), outbox_sequence)?;
        let changes = self
            .warehouse
            .gold_changes_after(after_seq, self.batch)
            .await?;
        if changes.is_empty() {
            tokio::time::sleep(self.poll_interval).await;
        }
        Ok(changes
            .into_iter()
            .map(|c| FeedChange {
                record: c.record,
                checkpoint: c.seq.to_string(),
                written_at: Some(c.written_at),
            })
            .collect())
    }

    async fn trim(
        &mut self,
        checkpoint: &str,
        written_before: DateTime<Utc>,
    ) -> Result<u64, MonitorError> {
        let through = outbox_sequence(checkpoint)?;
        Ok(self
            .warehouse
            .purge_gold_changes(through, written_before)
            .await?)
    }
}

fn outbox_sequence(checkpoint: &str) -> Result<u64, MonitorError> {
    checkpoint.parse::<u64>().map_err(|_| {
        MonitorError::Corrupt(format!(
            "checkpoint `{checkpoint}` is not an outbox sequence (was it written by a MongoDB monitor?)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use dorafleet_core::Metric;
    use dorafleet_warehouse::contract::gold_record;
    use dorafleet_warehouse::sqlite::SqliteWarehouse;

    fn gold(day: u32) -> GoldRecord {
        let date = NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
        gold_record("payments", date, Metric::ChangeFailureRate, Some(0.5))
    }

    #[tokio::test]
    async fn the_outbox_feed_resumes_after_each_changes_checkpoint() {
        let w: Arc<dyn dorafleet_warehouse::Warehouse> =
            Arc::new(SqliteWarehouse::open_in_memory().unwrap());
        w.upsert_gold(&[gold(1), gold(2)]).await.unwrap();
        let mut feed = OutboxFeed::new(w.clone(), Duration::from_millis(1));
        let first = feed.next_batch(None).await.unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[1].record.date, gold(2).date);
        assert!(first[1].written_at.is_some());
        w.upsert_gold(&[gold(3)]).await.unwrap();
        let after_first = feed.next_batch(Some(&first[0].checkpoint)).await.unwrap();
        let days: Vec<u32> = after_first
            .iter()
            .map(|c| chrono::Datelike::day(&c.record.date))
            .collect();
        assert_eq!(days, vec![2, 3]);
        let last = &after_first[1].checkpoint;
        assert!(feed.next_batch(Some(last)).await.unwrap().is_empty());
        let err = feed.next_batch(Some("8263abc")).await.unwrap_err();
        assert!(matches!(err, MonitorError::Corrupt(_)), "{err}");
    }
}
