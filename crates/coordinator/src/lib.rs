//! The coordinator's work: plan runs into tasks, follow every task to its end
//! through the workers' events, archive dead letters, and — in standalone
//! mode — run a whole pipeline in one process on the in-process broker.

pub mod archive;
pub mod backfill;
pub mod dag;
pub mod fleet;
pub mod holds;
pub mod plan;
pub mod progress;
pub mod replay;
pub mod standalone;

pub use backfill::{BackfillRequest, BackfillSummary, FromLayer, backfill};
pub use fleet::{Coordinator, CoordinatorError, CoordinatorOptions, Plan, RunOutcome};
pub use holds::{HoldActionError, Released, release_run, rerun_held};
pub use plan::{plan_extract, plan_extract_incremental};
pub use progress::RunProgress;
pub use standalone::{
    RunSummary, SourceSummary, StandaloneOptions, finish_in_process, run_standalone,
};
