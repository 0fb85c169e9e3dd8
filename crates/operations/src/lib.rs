//! What operators do, as a library: each action is a function that takes
//! the stores it needs and returns a typed plan or report, never printing.
//! The command line parses arguments and renders these; a future HTTP API
//! serves the same values. Keeping the rules here (which letters a replay
//! may take, what a discard leaves alone, how a rerun finishes in-process)
//! means no front end can apply them differently.
//!
//! - [`connect`]: the one place a front end opens the warehouse and the broker;
//! - [`letters`]: dead-letter triage — select, plan, replay, discard, stats;
//! - [`runs`]: runs and their gates, releasing and rerunning held runs;
//! - [`metrics`]: gold read back per team, and each source's freshness;
//! - [`execution`]: where an action's tasks run — the fleet or this process;
//! - [`retention`]: bronze retention for the embedded warehouse;
//! - [`actor`]: who an action is recorded as in the audit trail.

#![warn(missing_docs, unreachable_pub)]

pub mod actor;
pub mod connect;
mod error;
pub mod execution;
pub mod letters;
pub mod metrics;
pub mod retention;
pub mod runs;

pub use error::OperationError;
pub use execution::Execution;

/// The stored records front ends render, re-exported so that they need no
/// warehouse import of their own.
pub use dorafleet_warehouse::{
    ArchivedLetter, AuditEntry, Hold, HoldStatus, LetterFilter, LetterStatus, NormalizeCounts,
    RunRecord, RunStatus, TaskRecord, TaskState, Warehouse,
};
