//! The coordinator's work: plan runs into tasks, follow every task to its end
//! through the workers' events, archive dead letters, recompute gold
//! (backfill), and act on holds and dead letters for operators. Running the
//! whole pipeline in one process is `dorafleet-standalone`'s job.

#![warn(missing_docs, unreachable_pub)]

pub mod archive;
pub mod backfill;
pub mod dag;
pub mod fleet;
pub mod holds;
pub mod plan;
pub mod progress;
pub mod replay;
pub mod written;

pub use backfill::{BackfillRequest, BackfillSummary, FromLayer, backfill};
pub use dorafleet_stages::extract::RecordQuality;
pub use fleet::{Coordinator, CoordinatorError, CoordinatorOptions, Plan, RunOutcome};
pub use holds::{HoldActionError, Released, release_run, rerun_held};
pub use plan::{plan_extract, plan_extract_incremental};
pub use progress::RunProgress;
pub use written::{RunRecords, run_records};
