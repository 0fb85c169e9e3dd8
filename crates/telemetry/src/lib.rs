//! Logging, tracing, metrics and the operations endpoint, in one place for every role.
//!
//! Every binary subcommand goes through [`setup`] once; libraries only emit
//! `tracing` spans and events and never install a subscriber themselves. Logs
//! go to stderr so that a command's real output (tables, JSON) on stdout
//! stays clean. When an OTLP endpoint is configured, dorafleet's own spans
//! (not those of the libraries underneath) are also exported, and
//! [`trace_context`] carries their context across the message broker so a
//! pipeline run is one trace from the coordinator through every worker.

#![warn(missing_docs, unreachable_pub)]

pub mod metrics;
pub mod ops;
pub mod scrub;
pub mod trace_context;
mod tracing_setup;

pub use tracing_setup::{
    LogFormat, OtlpExport, OtlpProtocol, Settings, SetupError, TelemetryGuard, log_layer, setup,
};
