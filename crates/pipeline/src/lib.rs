//! The pipeline's stages and the worker loop that runs them.
//!
//! A stage handler turns one task into warehouse writes and reports a
//! classified error when it cannot; the [`worker`] owns everything else —
//! decoding, retries with backoff, dead-lettering, events, acks — so every
//! stage gets the same delivery guarantees for free.

pub mod extract;
pub mod handler;
pub mod worker;

pub use extract::ExtractHandler;
pub use handler::{HandlerOutcome, Handlers, StageHandler};
pub use worker::{Worker, WorkerOptions};
