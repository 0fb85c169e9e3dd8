//! Warehouse errors, by what the caller should do next, each with the error
//! underneath it (a SQLite or driver error, a decoding failure) so that logs
//! and dead letters can show the whole chain.

use dorafleet_core::{Cause, TaskError, cause};

/// A warehouse failure, classed by what the caller should do next. Cloning
/// shares the cause: one failed commit answers every write it held.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WarehouseError {
    /// The store is busy or unreachable; the operation may succeed if retried.
    #[error("warehouse unavailable (retry later): {context}")]
    Unavailable {
        /// What failed, in words (the message without its class prefix).
        context: String,
        /// The error underneath, if any.
        #[source]
        cause: Option<Cause>,
    },
    /// The configuration names a warehouse that cannot be opened; fix it and restart.
    #[error("warehouse misconfigured: {context}")]
    Config {
        /// What failed, in words (the message without its class prefix).
        context: String,
        /// The error underneath, if any.
        #[source]
        cause: Option<Cause>,
    },
    /// Stored data could not be read back (a bug or manual tampering); do not retry.
    #[error("warehouse data is corrupt: {context}")]
    Corrupt {
        /// What failed, in words (the message without its class prefix).
        context: String,
        /// The error underneath, if any.
        #[source]
        cause: Option<Cause>,
    },
    /// The warehouse this process opened is no longer the one its URL names
    /// (the SQLite file was deleted or replaced under it): whatever it writes
    /// would be lost. Do not retry; restart against the warehouse in use.
    #[error("warehouse replaced: {context}")]
    Replaced {
        /// What happened, in words (the message without its class prefix).
        context: String,
        /// The error underneath, if any.
        #[source]
        cause: Option<Cause>,
    },
    /// A write fenced by a lease generation that is no longer the lease's
    /// current one: another holder took the lease since. The writer must
    /// stop acting for the lease (step down) and reload what it knew.
    #[error("write refused, the lease moved on: {context}")]
    Fenced {
        /// What happened, in words (the message without its class prefix).
        context: String,
        /// The error underneath, if any.
        #[source]
        cause: Option<Cause>,
    },
}

impl WarehouseError {
    /// [`WarehouseError::Unavailable`] without an underlying error.
    pub fn unavailable(context: impl Into<String>) -> Self {
        WarehouseError::Unavailable {
            context: context.into(),
            cause: None,
        }
    }

    /// [`WarehouseError::Unavailable`] caused by `err`.
    pub fn unavailable_from(
        context: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        WarehouseError::Unavailable {
            context: context.into(),
            cause: Some(cause(err)),
        }
    }

    /// [`WarehouseError::Config`] without an underlying error.
    pub fn config(context: impl Into<String>) -> Self {
        WarehouseError::Config {
            context: context.into(),
            cause: None,
        }
    }

    /// [`WarehouseError::Config`] caused by `err`.
    pub fn config_from(
        context: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        WarehouseError::Config {
            context: context.into(),
            cause: Some(cause(err)),
        }
    }

    /// [`WarehouseError::Corrupt`] without an underlying error.
    pub fn corrupt(context: impl Into<String>) -> Self {
        WarehouseError::Corrupt {
            context: context.into(),
            cause: None,
        }
    }

    /// [`WarehouseError::Corrupt`] caused by `err`.
    pub fn corrupt_from(
        context: impl Into<String>,
        err: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        WarehouseError::Corrupt {
            context: context.into(),
            cause: Some(cause(err)),
        }
    }

    /// [`WarehouseError::Replaced`] without an underlying error.
    pub fn replaced(context: impl Into<String>) -> Self {
        WarehouseError::Replaced {
            context: context.into(),
            cause: None,
        }
    }

    /// [`WarehouseError::Fenced`] without an underlying error.
    pub fn fenced(context: impl Into<String>) -> Self {
        WarehouseError::Fenced {
            context: context.into(),
            cause: None,
        }
    }

    /// Whether this is [`WarehouseError::Fenced`]: the writer lost its lease.
    pub fn is_fenced(&self) -> bool {
        matches!(self, WarehouseError::Fenced { .. })
    }

    /// What the failure says without the class prefix.
    pub fn context(&self) -> &str {
        match self {
            WarehouseError::Unavailable { context, .. }
            | WarehouseError::Config { context, .. }
            | WarehouseError::Corrupt { context, .. }
            | WarehouseError::Replaced { context, .. }
            | WarehouseError::Fenced { context, .. } => context,
        }
    }

    /// The error underneath, if any.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            WarehouseError::Unavailable { cause, .. }
            | WarehouseError::Config { cause, .. }
            | WarehouseError::Corrupt { cause, .. }
            | WarehouseError::Replaced { cause, .. }
            | WarehouseError::Fenced { cause, .. } => cause.as_ref(),
        }
    }
}

/// A warehouse failure inside a task: unavailable is worth a retry, the rest
/// is not. The task error keeps the warehouse error as its cause.
impl From<WarehouseError> for TaskError {
    fn from(e: WarehouseError) -> Self {
        let message = e.to_string();
        let retry = matches!(e, WarehouseError::Unavailable { .. });
        let cause = Some(cause(e));
        if retry {
            TaskError::Transient { message, cause }
        } else {
            TaskError::Permanent { message, cause }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_error_from_the_warehouse_keeps_the_sqlite_cause() {
        let sqlite = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        let err = TaskError::from(WarehouseError::unavailable_from("SQLite call", sqlite));
        assert_eq!(err.class(), dorafleet_core::ErrorClass::Transient);
        assert!(
            err.detail()
                .contains("SQLite call: database is locked: Error code 5"),
            "{}",
            err.detail()
        );
    }
}
