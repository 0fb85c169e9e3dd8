//! A dead letter: a task (or an undecodable message) that will not be retried,
//! with everything an operator needs to understand and replay it.

use crate::envelope::{AttemptRecord, TaskEnvelope};
use crate::error::ErrorClass;
use crate::model::{Scope, Source, Stage, Window};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Identity of the letter itself (UUIDv7).
    pub id: Uuid,
    /// The task, when the message decoded; `None` for poison messages.
    pub envelope: Option<TaskEnvelope>,
    /// The raw body (lossy UTF-8, truncated) when the message did not decode.
    pub raw_body: Option<String>,
    pub stage: Option<Stage>,
    pub source: Option<Source>,
    pub scope: Option<Scope>,
    pub window: Option<Window>,
    pub error_class: ErrorClass,
    pub reason: String,
    /// Every failed attempt, the last one included.
    pub attempts: Vec<AttemptRecord>,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
    pub trace_id: Option<String>,
}

/// How much of an undecodable body a dead letter keeps.
pub const RAW_BODY_KEEP_BYTES: usize = 4096;

impl DeadLetter {
    /// A task that failed for good: `last` is the attempt that ended it.
    pub fn for_task(task: &TaskEnvelope, last: AttemptRecord, reason: String) -> Self {
        let mut attempts = task.history.clone();
        attempts.push(last);
        let first = attempts.first().map_or_else(Utc::now, |a| a.at);
        let latest = attempts.last().map_or_else(Utc::now, |a| a.at);
        DeadLetter {
            id: Uuid::now_v7(),
            envelope: Some(task.clone()),
            raw_body: None,
            stage: Some(task.stage),
            source: task.source,
            scope: Some(task.scope.clone()),
            window: Some(task.window),
            error_class: attempts.last().map_or(ErrorClass::Permanent, |a| a.class),
            reason,
            attempts,
            first_failed_at: first,
            last_failed_at: latest,
            trace_id: None,
        }
    }

    /// A message that is not a task we can run (poison): kept verbatim, never retried.
    pub fn for_poison(body: &[u8], reason: String, worker: &str) -> Self {
        let now = Utc::now();
        let keep = &body[..body.len().min(RAW_BODY_KEEP_BYTES)];
        DeadLetter {
            id: Uuid::now_v7(),
            envelope: None,
            raw_body: Some(String::from_utf8_lossy(keep).into_owned()),
            stage: None,
            source: None,
            scope: None,
            window: None,
            error_class: ErrorClass::Permanent,
            reason: reason.clone(),
            attempts: vec![AttemptRecord {
                attempt: 1,
                at: now,
                worker: worker.to_owned(),
                class: ErrorClass::Permanent,
                message: reason,
                progressed: false,
            }],
            first_failed_at: now,
            last_failed_at: now,
            trace_id: None,
        }
    }
}
