//! The pipeline's stages and the worker loop that runs them.
//!
//! A stage handler turns one task into warehouse writes and reports a
//! classified error when it cannot; the [`worker`] owns everything else —
//! decoding, retries with backoff, dead-lettering, events, acks — so every
//! stage gets the same delivery guarantees for free.

pub mod aggregate;
pub mod dora;
pub mod extract;
pub mod fleet_budget;
pub mod handler;
pub mod normalize;
pub mod report;
pub mod sensors;
pub mod worker;

pub use aggregate::AggregateHandler;
pub use extract::ExtractHandler;
pub use handler::{HandlerOutcome, Handlers, NoopHandler, StageHandler};
pub use normalize::NormalizeHandler;
pub use worker::{Worker, WorkerOptions};
