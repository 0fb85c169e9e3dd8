//! `dorafleet serve`: one process serving a JSON HTTP API and a web
//! dashboard from the same binary, against either warehouse.
//!
//! The people who read DORA metrics do not live in a terminal; what they ask
//! is "why is this number what it is?" and "is this zero real?". Both are
//! answered from what the warehouse already knows: which days are unknown,
//! held or verified zero, and which records each number came from. The API
//! (`api`) serves the operations library's typed reports as JSON, described
//! by an OpenAPI document; the dashboard (`ui`) renders pages and
//! server-side SVG charts from the same values, so the two cannot disagree.
//!
//! Read-only without authentication; operator actions (releasing a hold,
//! replaying dead letters) need the configured bearer token and are audited
//! like the CLI's.

#![warn(missing_docs, unreachable_pub)]

pub mod api;
mod state;
pub mod ui;

pub use state::AppState;

use axum::Router;

/// The whole application: the API under `/api/v1`, the dashboard at `/`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::router())
        .merge(ui::router())
        .with_state(state)
}
