//! The DORA metrics: what each one means (the versioned definitions applied
//! to a team's silver records, as pure functions) and how gold reads back
//! for people (days shown as values, verified zeros, unknown or held; ranges
//! summarised from their samples, with performance levels).
//!
//! No I/O: the stages compute gold with [`metrics`], the CLI renders it with
//! [`report`].

#![warn(missing_docs, unreachable_pub)]

pub mod metrics;
pub mod report;

pub use metrics::{
    Behind, ChangeLink, Computed, CoverageStarts, DayValue, DeploymentBehind, IncidentBehind,
    LinkTally, change_links, compute, hours_between, is_deployment, median, records_behind,
    value_of,
};
