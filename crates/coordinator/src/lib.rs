//! The coordinator's work: plan runs into tasks, follow every task to its end
//! through the workers' events, archive dead letters, and — in standalone
//! mode — run a whole pipeline in one process on the in-process broker.

pub mod archive;
pub mod backfill;
pub mod dag;
pub mod fleet;
pub mod plan;
pub mod standalone;
pub mod tracker;

pub use backfill::{BackfillRequest, BackfillSummary, FromLayer, backfill};
pub use fleet::{Coordinator, CoordinatorError, CoordinatorOptions, Plan, RunOutcome};
pub use plan::{plan_extract, plan_extract_incremental};
pub use standalone::{RunSummary, SourceSummary, StandaloneOptions, run_standalone};
pub use tracker::{RunProgress, TaskTracker};
