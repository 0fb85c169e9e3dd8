//! Failure classes. Errors are classified where they happen (an HTTP 429 in the
//! source client, a schema violation in a parser), so the worker only has to
//! read the class to know what to do next.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What the caller should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Try again after an exponential backoff (timeouts, 5xx, connection resets).
    Transient,
    /// Try again, but not before the time the server named (429, `Retry-After`).
    RateLimited,
    /// Do not retry: dead-letter at once (validation, 4xx, undecodable payloads).
    Permanent,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Permanent => "permanent",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task failure, already classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("transient failure (will retry with backoff): {0}")]
    Transient(String),
    #[error("rate limited (will retry after {}s): {message}", after.as_secs_f64())]
    RetryAfter { after: Duration, message: String },
    #[error("permanent failure (dead-lettered, not retried): {0}")]
    Permanent(String),
}

impl TaskError {
    pub fn transient(msg: impl Into<String>) -> Self {
        TaskError::Transient(msg.into())
    }

    pub fn permanent(msg: impl Into<String>) -> Self {
        TaskError::Permanent(msg.into())
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            TaskError::Transient(_) => ErrorClass::Transient,
            TaskError::RetryAfter { .. } => ErrorClass::RateLimited,
            TaskError::Permanent(_) => ErrorClass::Permanent,
        }
    }

    /// The earliest moment the server allows another try, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TaskError::RetryAfter { after, .. } => Some(*after),
            _ => None,
        }
    }

    /// The bare message, without the class prefix the `Display` adds.
    pub fn message(&self) -> &str {
        match self {
            TaskError::Transient(m) | TaskError::Permanent(m) => m,
            TaskError::RetryAfter { message, .. } => message,
        }
    }
}
