//! Failure classes. Errors are classified where they happen (an HTTP 429 in the
//! source client, a schema violation in a parser), so the worker only has to
//! read the class to know what to do next.
//!
//! Error texts leave the process (logs, dead letters, task events, spans),
//! and a server may have quoted a secret into them, so they are scrubbed
//! ([`crate::secret::scrub`]) when a message is built through the
//! constructors, and again whenever an error is rendered (`Display`,
//! [`chain`], [`TaskError::detail`]) — which also covers causes (a driver
//! error quoting a connection URL) and secrets registered after the error
//! was built.

use crate::secret::{scrub, scrub_owned};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
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
    /// The snake_case name, as serialized.
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

/// What went wrong underneath an error: the original error value, kept so
/// that logs and dead letters can print the whole chain (see [`chain`]).
/// Shared (`Arc`) so that errors carrying it stay cheap to clone.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Wrap any error as a [`Cause`].
pub fn cause(err: impl std::error::Error + Send + Sync + 'static) -> Cause {
    Arc::new(err)
}

/// The error and every cause beneath it, joined by `: ` — what an operator
/// needs to see in a log line or a dead letter ("… error sending request:
/// connection refused"). A cause whose text the message above it already
/// contains is not repeated. The text is scrubbed of secrets.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let line = cause.to_string();
        if !line.is_empty() && !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        next = cause.source();
    }
    scrub_owned(text)
}

/// A task failure, already classified, with the error that caused it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TaskError {
    /// Worth retrying after a backoff ([`ErrorClass::Transient`]).
    #[error("transient failure (will retry with backoff): {}", scrub(.message))]
    Transient {
        /// What failed.
        message: String,
        /// The underlying error, if any.
        #[source]
        cause: Option<Cause>,
    },
    /// The server asked to wait before trying again ([`ErrorClass::RateLimited`]).
    #[error("rate limited (will retry after {}s): {}", after.as_secs_f64(), scrub(.message))]
    RetryAfter {
        /// How long the server asked to wait.
        after: Duration,
        /// What failed.
        message: String,
    },
    /// Not worth retrying ([`ErrorClass::Permanent`]).
    #[error("permanent failure (dead-lettered, not retried): {}", scrub(.message))]
    Permanent {
        /// What failed.
        message: String,
        /// The underlying error, if any.
        #[source]
        cause: Option<Cause>,
    },
}

/// Two task errors are the same failure when class, message and delay
/// agree; the cause is detail.
impl PartialEq for TaskError {
    fn eq(&self, other: &Self) -> bool {
        self.class() == other.class()
            && self.message() == other.message()
            && self.retry_after() == other.retry_after()
    }
}

impl Eq for TaskError {}

impl TaskError {
    /// A transient failure of `msg`, without a cause.
    pub fn transient(msg: impl Into<String>) -> Self {
        TaskError::Transient {
            message: scrub_owned(msg.into()),
            cause: None,
        }
    }

    /// A permanent failure of `msg`, without a cause.
    pub fn permanent(msg: impl Into<String>) -> Self {
        TaskError::Permanent {
            message: scrub_owned(msg.into()),
            cause: None,
        }
    }

    /// A transient failure of `msg` caused by `err`.
    pub fn transient_from(
        msg: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        TaskError::Transient {
            message: scrub_owned(msg.into()),
            cause: Some(cause(err)),
        }
    }

    /// A permanent failure of `msg` caused by `err`.
    pub fn permanent_from(
        msg: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        TaskError::Permanent {
            message: scrub_owned(msg.into()),
            cause: Some(cause(err)),
        }
    }

    /// The failure's class, which decides whether and when to retry.
    pub fn class(&self) -> ErrorClass {
        match self {
            TaskError::Transient { .. } => ErrorClass::Transient,
            TaskError::RetryAfter { .. } => ErrorClass::RateLimited,
            TaskError::Permanent { .. } => ErrorClass::Permanent,
        }
    }

    /// The earliest moment the server allows another try, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TaskError::RetryAfter { after, .. } => Some(*after),
            _ => None,
        }
    }

    /// The bare message, without the class prefix the `Display` adds
    /// (scrubbed when built through the constructors; render with
    /// `Display` or [`detail`](Self::detail) before it leaves the process).
    pub fn message(&self) -> &str {
        match self {
            TaskError::Transient { message, .. }
            | TaskError::Permanent { message, .. }
            | TaskError::RetryAfter { message, .. } => message,
        }
    }

    /// The whole failure with its causes, for logs and dead letters.
    pub fn detail(&self) -> String {
        chain(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Refused;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Sending(#[source] Refused);

    #[test]
    fn the_chain_names_every_cause_once() {
        let err = TaskError::transient_from("GET /repos/acme/api/pulls", Sending(Refused));
        assert_eq!(
            err.detail(),
            "transient failure (will retry with backoff): GET /repos/acme/api/pulls: \
             error sending request: connection refused"
        );
        let repeated = TaskError::permanent_from("stored checkpoint: connection refused", Refused);
        assert_eq!(
            repeated.detail(),
            "permanent failure (dead-lettered, not retried): stored checkpoint: connection refused"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request for url (https://bot:url_pw_err_1@git.example/api)")]
    struct SendingTo;

    #[test]
    fn error_texts_are_scrubbed_of_secrets_in_messages_and_causes() {
        let _token = crate::Secret::new("tok_error_unit_1");
        let echoed =
            TaskError::permanent("GET /x: HTTP 401: {\"auth\":\"Bearer tok_error_unit_1\"}");
        assert_eq!(
            echoed.message(),
            "GET /x: HTTP 401: {\"auth\":\"Bearer ***\"}"
        );
        assert!(!echoed.to_string().contains("tok_error_unit_1"), "{echoed}");

        let from_cause = TaskError::transient_from("GET /x", SendingTo);
        let detail = from_cause.detail();
        assert!(!detail.contains("url_pw_err_1"), "{detail}");
        assert!(
            detail.contains("https://bot:***@git.example/api"),
            "{detail}"
        );

        // built directly (not through a constructor): rendering still scrubs
        let direct = TaskError::RetryAfter {
            after: Duration::from_secs(1),
            message: "HTTP 429 echo tok_error_unit_1".into(),
        };
        assert!(!direct.to_string().contains("tok_error_unit_1"), "{direct}");
        assert!(!direct.detail().contains("tok_error_unit_1"), "{direct}");
    }

    #[test]
    fn task_errors_compare_by_class_and_message_not_by_cause() {
        assert_eq!(
            TaskError::transient_from("timeout", Refused),
            TaskError::transient("timeout")
        );
        assert_ne!(
            TaskError::transient("timeout"),
            TaskError::permanent("timeout")
        );
    }
}
