//! The task envelope: the one message format every broker carries.
//!
//! It is versioned so that a fleet can be upgraded worker by worker: a worker
//! that meets a version it does not understand dead-letters the message with a
//! reason instead of guessing. The attempt count and history travel inside the
//! envelope (not in broker-specific headers such as `x-death`), so retries and
//! dead letters look the same on every broker.

use crate::error::ErrorClass;
use crate::model::{Scope, Source, Stage, Window};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The envelope version this build writes and understands.
pub const ENVELOPE_VERSION: u32 = 1;

/// Bodies larger than this are rejected before parsing: a task envelope is a
/// few hundred bytes, so anything near this size is a mistake or an attack.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;

/// A task as it travels through the broker: what to do, on what, and the
/// record of its earlier attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEnvelope {
    /// Envelope format version ([`ENVELOPE_VERSION`] when written by this build).
    pub version: u32,
    /// UUIDv7: unique, time-ordered, and stable across retries of the same task.
    pub task_id: Uuid,
    /// The pipeline run the task belongs to.
    pub run_id: Uuid,
    /// The stage that runs the task.
    pub stage: Stage,
    /// The source system for extract and normalize; `None` for aggregate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// What the task works on.
    pub scope: Scope,
    /// The time range the task covers (UTC, half-open).
    pub window: Window,
    /// 1-based number of the attempt this delivery is.
    pub attempt: u32,
    /// The retry budget: consecutive attempts without progress before the
    /// task is dead-lettered (see [`RetryPolicy::decide`](crate::RetryPolicy::decide)).
    pub max_attempts: u32,
    /// When the task was first created (UTC); kept across attempts.
    pub created_at: DateTime<Utc>,
    /// Earlier failed attempts of this task, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AttemptRecord>,
    /// How many times the task was replayed from the dead-letter archive.
    /// Events carry it, so an event of the attempt before a replay (delivered
    /// late) cannot overwrite the replayed task's state.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replay: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One failed attempt: when, where, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The 1-based number of the attempt.
    pub attempt: u32,
    /// When the attempt failed (UTC).
    pub at: DateTime<Utc>,
    /// The worker that made the attempt (host/pid or a configured name).
    pub worker: String,
    /// How the failure was classified.
    pub class: ErrorClass,
    /// The failure, with its causes.
    pub message: String,
    /// Whether the attempt got further than the one before it (an extract
    /// stored new pages) before failing. Attempts that progress do not use up
    /// the retry budget: a long crawl under a sporadic fault rate must not be
    /// dead-lettered while it is still advancing.
    #[serde(default)]
    pub progressed: bool,
}

/// Why a message body is not a task this worker can run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The body exceeds [`MAX_ENVELOPE_BYTES`]; it was not parsed.
    #[error("message body is {size} bytes, above the {limit}-byte limit for a task envelope")]
    TooLarge {
        /// The body's size, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body is not JSON, or JSON but not an object.
    #[error("message body is not a JSON object: {reason}")]
    NotJson {
        /// The parser's complaint, or what the body was instead.
        reason: String,
    },
    /// The object has no `version` field.
    #[error("task envelope has no `version` field")]
    MissingVersion,
    /// The `version` is not [`ENVELOPE_VERSION`].
    #[error(
        "task envelope version {found} is not supported (this worker understands version {supported})"
    )]
    UnsupportedVersion {
        /// The `version` value found, as JSON text.
        found: String,
        /// The version this build understands.
        supported: u32,
    },
    /// A supported version, but the fields do not make a valid task.
    #[error("task envelope (version {ENVELOPE_VERSION}) is malformed: {reason}")]
    Malformed {
        /// What is wrong with the fields.
        reason: String,
    },
}

impl TaskEnvelope {
    /// A first attempt of a new task.
    pub fn new(
        run_id: Uuid,
        stage: Stage,
        source: Option<Source>,
        scope: Scope,
        window: Window,
        max_attempts: u32,
    ) -> Self {
        TaskEnvelope {
            version: ENVELOPE_VERSION,
            task_id: Uuid::now_v7(),
            run_id,
            stage,
            source,
            scope,
            window,
            attempt: 1,
            max_attempts: max_attempts.max(1),
            created_at: Utc::now(),
            history: Vec::new(),
            replay: 0,
        }
    }

    /// The JSON message body of this task.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_vec(self).expect("task envelope serializes")
    }

    /// Decode and validate a message body, naming the problem when it is not a task.
    pub fn decode(body: &[u8]) -> Result<Self, EnvelopeError> {
        if body.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge {
                size: body.len(),
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| EnvelopeError::NotJson {
                reason: e.to_string(),
            })?;
        let object = value.as_object().ok_or_else(|| EnvelopeError::NotJson {
            reason: format!("found {}", json_kind(&value)),
        })?;
        match object.get("version") {
            None => return Err(EnvelopeError::MissingVersion),
            Some(v) if v.as_u64() != Some(u64::from(ENVELOPE_VERSION)) => {
                return Err(EnvelopeError::UnsupportedVersion {
                    found: v.to_string(),
                    supported: ENVELOPE_VERSION,
                });
            }
            Some(_) => {}
        }
        let envelope: TaskEnvelope =
            serde_json::from_value(value).map_err(|e| EnvelopeError::Malformed {
                reason: e.to_string(),
            })?;
        envelope.validate()?;
        Ok(envelope)
    }

    fn validate(&self) -> Result<(), EnvelopeError> {
        let malformed = |reason: &str| {
            Err(EnvelopeError::Malformed {
                reason: reason.to_owned(),
            })
        };
        if self.attempt == 0 || self.max_attempts == 0 {
            return malformed("`attempt` and `max_attempts` start at 1");
        }
        if self.window.from >= self.window.to {
            return malformed("`window.from` must be before `window.to`");
        }
        if self.scope.team.trim().is_empty() {
            return malformed("`scope.team` is empty");
        }
        if self.stage != Stage::Aggregate && self.source.is_none() {
            return malformed("`source` is required for extract and normalize tasks");
        }
        Ok(())
    }

    /// The same task, one attempt later, with the failure that ended this one recorded.
    pub fn next_attempt(&self, failure: AttemptRecord) -> Self {
        let mut next = self.clone();
        next.attempt += 1;
        next.history.push(failure);
        next
    }

    /// `stage/source` or `stage`, for logs and queue names.
    pub fn route(&self) -> String {
        match self.source {
            Some(s) => format!("{}.{}", self.stage, s),
            None => self.stage.to_string(),
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> TaskEnvelope {
        TaskEnvelope::new(
            Uuid::now_v7(),
            Stage::Extract,
            Some(Source::Github),
            Scope {
                team: "payments".into(),
                target: Some("acme/ledger".into()),
            },
            Window {
                from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                to: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
            },
            5,
        )
    }

    #[test]
    fn an_envelope_survives_a_round_trip() {
        let task = sample();
        assert_eq!(TaskEnvelope::decode(&task.encode()), Ok(task));
    }

    #[test]
    fn an_unknown_version_is_rejected_naming_both_versions() {
        let mut v: serde_json::Value = serde_json::from_slice(&sample().encode()).unwrap();
        v["version"] = 7.into();
        let err = TaskEnvelope::decode(v.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, EnvelopeError::UnsupportedVersion { .. }));
        assert_eq!(
            err.to_string(),
            "task envelope version 7 is not supported (this worker understands version 1)"
        );
    }

    #[test]
    fn a_malformed_body_is_rejected_naming_the_problem() {
        let err = TaskEnvelope::decode(b"{not json").unwrap_err();
        assert!(matches!(err, EnvelopeError::NotJson { .. }), "{err}");

        let err = TaskEnvelope::decode(b"[1,2]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "message body is not a JSON object: found an array"
        );

        let mut v: serde_json::Value = serde_json::from_slice(&sample().encode()).unwrap();
        v.as_object_mut().unwrap().remove("run_id");
        let err = TaskEnvelope::decode(v.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing field `run_id`"), "{err}");

        let mut v: serde_json::Value = serde_json::from_slice(&sample().encode()).unwrap();
        v["stage"] = "deploy".into();
        let err = TaskEnvelope::decode(v.to_string().as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `deploy`"),
            "{err}"
        );
    }

    #[test]
    fn a_body_without_version_or_with_an_inverted_window_is_rejected() {
        assert_eq!(
            TaskEnvelope::decode(b"{\"task_id\":1}"),
            Err(EnvelopeError::MissingVersion)
        );
        let mut task = sample();
        std::mem::swap(&mut task.window.from, &mut task.window.to);
        let err = TaskEnvelope::decode(&task.encode()).unwrap_err();
        assert!(err.to_string().contains("window.from"), "{err}");
    }

    #[test]
    fn an_oversized_body_is_rejected_before_parsing() {
        let body = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(
            TaskEnvelope::decode(&body),
            Err(EnvelopeError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_next_attempt_keeps_identity_and_records_the_failure() {
        let task = sample();
        let next = task.next_attempt(AttemptRecord {
            attempt: 1,
            at: Utc::now(),
            worker: "w1".into(),
            class: ErrorClass::Transient,
            message: "503".into(),
            progressed: false,
        });
        assert_eq!(next.task_id, task.task_id);
        assert_eq!(next.attempt, 2);
        assert_eq!(next.history.len(), 1);
    }
}
