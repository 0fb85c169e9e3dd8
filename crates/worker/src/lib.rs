//! The worker runtime: consume tasks, run them through their stage's
//! handler, and own everything around that — decoding, retries with
//! backoff, dead-lettering, events to the coordinator, acks, graceful drain.
//!
//! A stage is only a [`StageHandler`]: it turns one task into warehouse writes
//! or a classified error. The stages themselves live in `dorafleet-stages`;
//! this crate knows none of them, so every stage gets the same delivery
//! guarantees for free and a benchmark can run the machinery alone
//! ([`NoopHandler`]).

#![warn(missing_docs, unreachable_pub)]

pub mod handler;
pub mod held;
pub mod runtime;
pub mod warehouse_budget;

pub use handler::{HandlerOutcome, Handlers, NoopHandler, StageHandler};
pub use held::still_held;
pub use runtime::{Worker, WorkerOptions};
pub use warehouse_budget::WarehouseBudget;
