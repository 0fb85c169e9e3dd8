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
pub mod auth;
pub mod error;
mod state;
pub mod ui;

pub use auth::OperatorToken;
pub use error::Problem;
pub use state::AppState;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The routes every process of the fleet answers, and the API's.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/teams"),
    ("GET", "/api/v1/teams/{team}/metrics"),
    (
        "GET",
        "/api/v1/teams/{team}/days/{date}/metrics/{metric}/records",
    ),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{id}"),
    ("GET", "/api/v1/holds"),
    ("POST", "/api/v1/holds/{id}/release"),
    ("GET", "/api/v1/dead-letters/stats"),
    ("POST", "/api/v1/dead-letters/replay"),
    ("GET", "/api/v1/freshness"),
    ("GET", "/api/v1/fleet"),
];

/// The whole application: `/healthz`, `/readyz`, the API under `/api/v1`,
/// the dashboard at `/`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(api::router())
        .merge(ui::router())
        .with_state(state)
}

async fn healthz() -> Response {
    api::json(&serde_json::json!({ "status": "ok" }))
}

/// Ready when the warehouse answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.warehouse.runs(1).await {
        Ok(_) => api::json(&serde_json::json!({ "status": "ready" })),
        Err(e) => Problem::unavailable(format!("the warehouse does not answer: {e}"))
            .at("/readyz")
            .into_response(),
    }
}

/// Serve [`router`] on `listener` until `shutdown` completes, then finish
/// the requests under way (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
