//! A dead letter: a task (or an undecodable message) that will not be retried,
//! with everything an operator needs to understand and replay it.
//!
//! A dead letter is stored and shown (`dlq show`), so its texts — the
//! reason, every attempt's message, a poison message's body — are scrubbed
//! of secrets when it is built ([`crate::secret::scrub`]), behind the
//! scrubbing the error texts already had.

use crate::envelope::{AttemptRecord, TaskEnvelope};
use crate::error::ErrorClass;
use crate::model::{Scope, Source, Stage, Window};
use crate::secret::scrub_owned;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A task that failed for good, or a message that was not a task, kept with
/// its failure history so an operator can understand and replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Identity of the letter itself (UUIDv7).
    pub id: Uuid,
    /// The task, when the message decoded; `None` for poison messages.
    pub envelope: Option<TaskEnvelope>,
    /// The raw body (lossy UTF-8, truncated) when the message did not decode.
    pub raw_body: Option<String>,
    /// The task's stage; `None` for poison messages.
    pub stage: Option<Stage>,
    /// The task's source; `None` for aggregate tasks and poison messages.
    pub source: Option<Source>,
    /// The task's scope; `None` for poison messages.
    pub scope: Option<Scope>,
    /// The task's window; `None` for poison messages.
    pub window: Option<Window>,
    /// The class of the last failure (`Permanent` for poison messages).
    pub error_class: ErrorClass,
    /// Why the task will not be retried.
    pub reason: String,
    /// Every failed attempt, the last one included.
    pub attempts: Vec<AttemptRecord>,
    /// When the first failed attempt was made (UTC).
    pub first_failed_at: DateTime<Utc>,
    /// When the last failed attempt was made (UTC).
    pub last_failed_at: DateTime<Utc>,
    /// The OpenTelemetry trace id of the attempt that dead-lettered it, when
    /// it ran inside a trace.
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
        let mut envelope = task.clone();
        for attempt in &mut envelope.history {
            scrub_in_place(&mut attempt.message);
        }
        DeadLetter {
            id: Uuid::now_v7(),
            envelope: Some(envelope),
            raw_body: None,
            stage: Some(task.stage),
            source: task.source,
            scope: Some(task.scope.clone()),
            window: Some(task.window),
            error_class: attempts.last().map_or(ErrorClass::Permanent, |a| a.class),
            reason: scrub_owned(reason),
            attempts: attempts
                .into_iter()
                .map(|mut a| {
                    scrub_in_place(&mut a.message);
                    a
                })
                .collect(),
            first_failed_at: first,
            last_failed_at: latest,
            trace_id: None,
        }
    }

    /// A message that is not a task we can run (poison): kept verbatim, never retried.
    pub fn for_poison(body: &[u8], reason: String, worker: &str) -> Self {
        let now = Utc::now();
        let reason = scrub_owned(reason);
        // Scrubbed before it is cut, so a secret across the cut cannot
        // survive in part.
        let mut kept = scrub_owned(String::from_utf8_lossy(body).into_owned());
        let mut cut = kept.len().min(RAW_BODY_KEEP_BYTES);
        while !kept.is_char_boundary(cut) {
            cut -= 1;
        }
        kept.truncate(cut);
        DeadLetter {
            id: Uuid::now_v7(),
            envelope: None,
            raw_body: Some(kept),
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

fn scrub_in_place(text: &mut String) {
    *text = scrub_owned(std::mem::take(text));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Stage;

    #[test]
    fn a_dead_letter_keeps_no_registered_secret_nor_url_password() {
        let _token = crate::Secret::new("tok_letter_unit_1");
        let poison = DeadLetter::for_poison(
            b"{\"auth\":\"Bearer tok_letter_unit_1\",\"via\":\"amqp://u:letter_pw@h\"}",
            "undecodable: Bearer tok_letter_unit_1".into(),
            "w1",
        );
        let text = serde_json::to_string(&poison).unwrap();
        assert!(!text.contains("tok_letter_unit_1"), "{text}");
        assert!(!text.contains("letter_pw"), "{text}");
        assert!(text.contains("Bearer ***"), "{text}");

        let task = TaskEnvelope::new(
            uuid::Uuid::now_v7(),
            Stage::Aggregate,
            None,
            crate::Scope {
                team: "t".into(),
                target: None,
            },
            crate::Window {
                from: Utc::now() - chrono::Duration::days(1),
                to: Utc::now(),
            },
            3,
        );
        let last = AttemptRecord {
            attempt: 1,
            at: Utc::now(),
            worker: "w1".into(),
            class: ErrorClass::Permanent,
            message: "HTTP 401 echo tok_letter_unit_1".into(),
            progressed: false,
        };
        let letter = DeadLetter::for_task(&task, last, "echo tok_letter_unit_1".into());
        let text = serde_json::to_string(&letter).unwrap();
        assert!(!text.contains("tok_letter_unit_1"), "{text}");
        assert_eq!(letter.attempts[0].message, "HTTP 401 echo ***");
    }
}
