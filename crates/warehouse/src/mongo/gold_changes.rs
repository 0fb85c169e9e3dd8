//! The gold change feed the monitor follows: a change stream on the gold
//! collection, resumable from a persisted resume token.
//!
//! The driver resumes a stream by itself after resumable errors (elections,
//! network blips). It cannot resume once the oplog no longer holds the
//! token's position: the server then answers `ChangeStreamHistoryLost`
//! (code 286), either when the stream is opened with `resume_after` or on a
//! later `getMore`. That surfaces here as [`GoldFeedError::HistoryLost`]; the
//! monitor must then rescan gold since its last checkpoint (by
//! `computed_at`) and open a fresh stream without a token, or it would miss
//! changes. [`is_change_stream_history_lost`] tells that case apart on a raw
//! driver error: `ErrorKind::Command` with `code == 286` (code name
//! `ChangeStreamHistoryLost`).

use super::classify;
use super::gold::GoldDoc;
use super::indexes::GOLD;
use crate::{GoldRecord, WarehouseError};
use futures::StreamExt;
use mongodb::Database;
use mongodb::bson::{self, Document, doc};
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::error::{Error as DriverError, ErrorKind};
use mongodb::options::FullDocumentType;
use serde::{Deserialize, Serialize};

/// The server error code for a resume point that fell off the oplog.
pub(crate) const CHANGE_STREAM_HISTORY_LOST: i32 = 286;

/// Why following the gold change stream failed.
#[derive(Debug, thiserror::Error)]
pub enum GoldFeedError {
    /// The resume token is older than the oplog: rescan gold since the last
    /// checkpoint, then open a fresh stream without a token.
    #[error("gold change history lost (rescan gold, then watch from now): {0}")]
    HistoryLost(String),
    /// Any other failure, classed like every warehouse error.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

/// Whether a driver error is `ChangeStreamHistoryLost` (286).
pub fn is_change_stream_history_lost(e: &DriverError) -> bool {
    matches!(e.kind.as_ref(), ErrorKind::Command(c)
        if c.code == CHANGE_STREAM_HISTORY_LOST || c.code_name == "ChangeStreamHistoryLost")
}

fn feed_error(e: DriverError) -> GoldFeedError {
    if is_change_stream_history_lost(&e) {
        GoldFeedError::HistoryLost(e.to_string())
    } else {
        GoldFeedError::Warehouse(classify(e))
    }
}

/// One change to gold.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldChange {
    /// Persist this after handling the change: resuming after it delivers
    /// the next change and never this one again.
    pub resume_token: ResumeToken,
    /// `Insert`, `Update` or `Replace` (the stream follows no other kind).
    pub operation: OperationType,
    /// The record as it is now (`fullDocument: updateLookup`); `None` when
    /// it was deleted again before the lookup.
    pub record: Option<GoldRecord>,
}

/// Inserts, updates and replacements of gold records, in commit order.
#[derive(Debug)]
pub struct GoldChangeStream {
    inner: ChangeStream<ChangeStreamEvent<Document>>,
}

pub(super) async fn watch(
    db: &Database,
    resume_after: Option<ResumeToken>,
) -> Result<GoldChangeStream, GoldFeedError> {
    let inner = db
        .collection::<Document>(GOLD)
        .watch()
        .pipeline([doc! {
            "$match": { "operationType": { "$in": ["insert", "update", "replace"] } }
        }])
        .full_document(FullDocumentType::UpdateLookup)
        .resume_after(resume_after)
        .await
        .map_err(feed_error)?;
    Ok(GoldChangeStream { inner })
}

impl GoldChangeStream {
    /// Wait for the next change. `None` when the stream ended for good (the
    /// collection was dropped or renamed: an `invalidate` event).
    pub async fn next(&mut self) -> Result<Option<GoldChange>, GoldFeedError> {
        match self.inner.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(feed_error(e)),
            Some(Ok(event)) => change(event).map(Some),
        }
    }

    /// At most one round trip: the next change if the server has one now.
    /// Between changes, [`resume_token`](Self::resume_token) then moves on
    /// past changes the `$match` filtered out, so persisting it while idle
    /// keeps the token inside the oplog window.
    pub async fn next_if_any(&mut self) -> Result<Option<GoldChange>, GoldFeedError> {
        match self.inner.next_if_any().await.map_err(feed_error)? {
            None => Ok(None),
            Some(event) => change(event).map(Some),
        }
    }

    /// The token to resume after everything this stream returned so far.
    pub fn resume_token(&self) -> Option<ResumeToken> {
        self.inner.resume_token()
    }
}

fn change(event: ChangeStreamEvent<Document>) -> Result<GoldChange, GoldFeedError> {
    let record = event
        .full_document
        .map(|d| {
            bson::from_document::<GoldDoc>(d)
                .map_err(|e| WarehouseError::corrupt_from("gold change", e))
                .and_then(GoldDoc::into_record)
        })
        .transpose()?;
    Ok(GoldChange {
        resume_token: event.id,
        operation: event.operation_type,
        record,
    })
}

/// A resume token as stored by the monitor.
#[derive(Serialize, Deserialize)]
struct StoredToken {
    token: ResumeToken,
}

/// A resume token as bytes (BSON), to persist between runs.
pub fn encode_resume_token(token: &ResumeToken) -> Result<Vec<u8>, WarehouseError> {
    bson::to_vec(&StoredToken {
        token: token.clone(),
    })
    .map_err(|e| WarehouseError::corrupt_from("resume token", e))
}

/// The resume token [`encode_resume_token`] stored.
pub fn decode_resume_token(bytes: &[u8]) -> Result<ResumeToken, WarehouseError> {
    bson::from_slice::<StoredToken>(bytes)
        .map(|s| s.token)
        .map_err(|e| WarehouseError::corrupt_from("stored resume token", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::Bson;
    use mongodb::error::CommandError;

    fn command_error(code: i32, name: &str) -> DriverError {
        let error: CommandError = bson::from_document(doc! {
            "code": code, "codeName": name, "errmsg": "as the server words it",
        })
        .unwrap();
        DriverError::from(ErrorKind::Command(error))
    }

    #[test]
    fn history_lost_is_told_apart_from_other_server_errors() {
        let lost = command_error(286, "ChangeStreamHistoryLost");
        assert!(is_change_stream_history_lost(&lost));
        assert!(matches!(feed_error(lost), GoldFeedError::HistoryLost(_)));
        let other = command_error(11600, "InterruptedAtShutdown");
        assert!(!is_change_stream_history_lost(&other));
        assert!(matches!(
            feed_error(other),
            GoldFeedError::Warehouse(WarehouseError::Unavailable { .. })
        ));
    }

    #[test]
    fn a_stored_resume_token_decodes_to_the_same_token() {
        let token: ResumeToken = bson::from_bson(Bson::Document(
            doc! { "_data": "8267E8A1B2000000012B022C0100296E5A1004" },
        ))
        .unwrap();
        let stored = encode_resume_token(&token).unwrap();
        assert_eq!(decode_resume_token(&stored).unwrap(), token);
        assert!(decode_resume_token(b"not bson").is_err());
    }
}
