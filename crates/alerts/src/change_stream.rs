//! The MongoDB feed: a change stream on gold, resumed from the persisted
//! resume token (hex of its BSON bytes, the monitor's checkpoint).
//!
//! The stream stays open between batches; the checkpoint only (re)opens it.
//! When the token fell off the oplog (`ChangeStreamHistoryLost`), the feed
//! opens a fresh stream *first*, then rescans gold and hands every record
//! over as a change, then follows the fresh stream: nothing written in
//! between can slip through, and what the rescan repeats is dropped by the
//! alerts' dedup keys. (The rescan reads all of gold: gold records carry no
//! commit order the lost token could be compared with.)

use crate::error::MonitorError;
use crate::feed::{FeedChange, GoldFeed};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_warehouse::mongo::{
    GoldChangeStream, GoldFeedError, MongoWarehouse, ResumeToken, decode_resume_token,
    encode_resume_token,
};
use dorafleet_warehouse::{GoldFilter, GoldStore};
use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

/// Most changes handed over per batch.
const BATCH: usize = 256;

/// The MongoDB [`GoldFeed`]: follows a change stream on gold; see the module docs.
#[derive(Debug)]
pub struct ChangeStreamFeed {
    warehouse: Arc<MongoWarehouse>,
    stream: Option<GoldChangeStream>,
    /// Records of a rescan not yet handed over.
    rescanned: VecDeque<FeedChange>,
    wait: Duration,
}

impl ChangeStreamFeed {
    /// A feed on `warehouse`'s gold that waits up to `wait` for the first
    /// change of a batch. The stream is opened on the first call.
    pub fn new(warehouse: Arc<MongoWarehouse>, wait: Duration) -> Self {
        ChangeStreamFeed {
            warehouse,
            stream: None,
            rescanned: VecDeque::new(),
            wait,
        }
    }

    /// Open the stream after `after`; on lost history, a fresh stream and a rescan.
    async fn open(&mut self, after: Option<&str>) -> Result<(), MonitorError> {
        let token = after.map(decode_checkpoint).transpose()?;
        match self.warehouse.watch_gold(token).await {
            Ok(stream) => {
                self.stream = Some(stream);
                Ok(())
            }
            Err(GoldFeedError::HistoryLost(why)) => self.rescan(after, &why).await,
            Err(GoldFeedError::Warehouse(e)) => Err(e.into()),
        }
    }

    async fn rescan(&mut self, after: Option<&str>, why: &str) -> Result<(), MonitorError> {
        tracing::warn!(
            reason = why,
            "gold change history lost: rescanning gold, then following a fresh stream"
        );
        let stream = self.warehouse.watch_gold(None).await.map_err(feed_error)?;
        let checkpoint = match stream.resume_token() {
            Some(token) => encode_checkpoint(&token)?,
            None => after.unwrap_or_default().to_owned(),
        };
        let gold = self.warehouse.gold(&GoldFilter::default()).await?;
        self.rescanned = gold
            .into_iter()
            .map(|record| FeedChange {
                record,
                checkpoint: checkpoint.clone(),
                written_at: None,
            })
            .collect();
        self.stream = Some(stream);
        Ok(())
    }
}

fn feed_error(e: GoldFeedError) -> MonitorError {
    match e {
        GoldFeedError::HistoryLost(why) => MonitorError::Unavailable(why),
        GoldFeedError::Warehouse(e) => e.into(),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn encode_checkpoint(token: &ResumeToken) -> Result<String, MonitorError> {
    Ok(to_hex(&encode_resume_token(token)?))
}

fn decode_checkpoint(hex: &str) -> Result<ResumeToken, MonitorError> {
    let bytes = from_hex(hex).ok_or_else(|| {
        MonitorError::Corrupt(format!(
            "checkpoint `{hex}` is not a change stream resume token (was it written by a SQLite monitor?)"
        ))
    })?;
    decode_resume_token(&bytes).map_err(|e| {
        MonitorError::Corrupt(format!(
            "checkpoint `{hex}` is not a change stream resume token: {e}"
        ))
    })
}

#[async_trait]
impl GoldFeed for ChangeStreamFeed {
    async fn next_batch(&mut self, after: Option<&str>) -> Result<Vec<FeedChange>, MonitorError> {
        if !self.rescanned.is_empty() {
            let n = self.rescanned.len().min(BATCH);
            return Ok(self.rescanned.drain(..n).collect());
        }
        if self.stream.is_none() {
            self.open(after).await?;
            if !self.rescanned.is_empty() {
                let n = self.rescanned.len().min(BATCH);
                return Ok(self.rescanned.drain(..n).collect());
            }
        }
        let mut batch = Vec::new();
        let Some(stream) = self.stream.as_mut() else {
            return Ok(batch);
        };
        // Wait up to `wait` for the first change, then take what is there.
        let first = match tokio::time::timeout(self.wait, stream.next()).await {
            Err(_) => return Ok(batch),
            Ok(next) => next,
        };
        let mut next = first;
        loop {
            match next {
                Ok(Some(change)) => {
                    if let Some(record) = change.record {
                        batch.push(FeedChange {
                            record,
                            checkpoint: encode_checkpoint(&change.resume_token)?,
                            written_at: None,
                        });
                    }
                }
                Ok(None) => {
                    // Invalidated (gold dropped or renamed): reopen from the checkpoint.
                    self.stream = None;
                    return Ok(batch);
                }
                Err(GoldFeedError::HistoryLost(why)) => {
                    self.stream = None;
                    if batch.is_empty() {
                        self.rescan(after, &why).await?;
                    }
                    return Ok(batch);
                }
                Err(GoldFeedError::Warehouse(e)) => {
                    self.stream = None;
                    if batch.is_empty() {
                        return Err(e.into());
                    }
                    return Ok(batch);
                }
            }
            if batch.len() >= BATCH {
                return Ok(batch);
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ok(batch);
            };
            next = match stream.next_if_any().await {
                Ok(None) => return Ok(batch),
                other => other,
            };
        }
    }

    /// This feed reads the change stream, never the outbox, and its rescan
    /// reads gold itself: the outbox only needs to age out.
    async fn trim(
        &mut self,
        _checkpoint: &str,
        written_before: DateTime<Utc>,
    ) -> Result<u64, MonitorError> {
        Ok(self
            .warehouse
            .purge_gold_changes(u64::MAX, written_before)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_that_is_not_a_resume_token_is_corrupt_and_says_why() {
        for bad in ["42", "zz", "abc"] {
            let err = decode_checkpoint(bad).unwrap_err();
            assert!(
                matches!(err, MonitorError::Corrupt(ref m) if m.contains("resume token")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn checkpoint_bytes_survive_the_hex_round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        let hex = to_hex(&bytes);
        assert_eq!(hex.len(), 512);
        assert_eq!(from_hex(&hex), Some(bytes));
        assert_eq!(from_hex("0g"), None);
    }
}
