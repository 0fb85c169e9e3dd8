//! The vocabulary every dorafleet role shares: what a task is, how it travels
//! (the versioned envelope), how failures are classified, how long to wait
//! before trying again, and how the whole system is configured.
//!
//! Nothing here performs I/O beyond reading configuration files; brokers,
//! warehouses and source clients build on these types so that a task looks the
//! same in the in-process broker, in RabbitMQ and in the warehouse.

#![warn(missing_docs, unreachable_pub)]

pub mod clock;
pub mod config;
pub mod dead_letter;
pub mod envelope;
pub mod error;
pub mod event;
pub mod model;
pub mod retry;
pub mod secret;
mod serde_time;

pub use clock::Clock;
pub use config::{
    AlertRuleName, BrokerConfig, Config, ConfigError, Definitions, IdentityConfig, LevelThresholds,
    LevelsConfig, LevelsError, MonitorConfig, SensorsConfig, SourceConfig, TeamConfig,
};
pub use dead_letter::DeadLetter;
pub use envelope::{AttemptRecord, EnvelopeError, TaskEnvelope};
pub use error::{Cause, ErrorClass, TaskError, cause, chain};
pub use event::{TaskEvent, TaskEventKind, TaskStats};
pub use model::{Metric, Scope, Source, Stage, Window};
pub use retry::{RetryDecision, RetryPolicy};
pub use secret::Secret;
