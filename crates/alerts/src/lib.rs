//! The alert monitor: it follows gold changes (the SQLite outbox, or a
//! MongoDB change stream), evaluates the configured alert rules and delivers
//! each alert to a Slack-compatible webhook and stdout, exactly once per
//! (rule, team, day, definition version) across restarts — see [`service`]
//! for how, and for the one window where a duplicate can still happen.
//!
//! - [`feed`]: where changes come from, behind the small [`GoldFeed`] trait;
//! - [`rules`], [`stale`], [`held`]: when a change (or the clock) is worth an alert;
//! - [`sink`]: where alerts go, with retries that never drop one;
//! - [`receiver`]: a recording webhook for tests and the benchmark.

#![warn(missing_docs, unreachable_pub)]

pub mod alert;
pub mod change_stream;
mod error;
pub mod feed;
pub mod held;
pub mod receiver;
pub mod rules;
pub mod service;
pub mod sink;
pub mod stale;

pub use alert::Alert;
pub use change_stream::ChangeStreamFeed;
pub use error::MonitorError;
pub use feed::{FeedChange, GoldFeed, OutboxFeed};
pub use held::{HeldRun, held_run_alerts};
pub use service::{Monitor, MonitorStats};
pub use sink::{AlertSink, StdoutSink, WebhookSink};
