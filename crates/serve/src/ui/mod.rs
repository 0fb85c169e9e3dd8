//! The dashboard pages (placeholder: filled in by the UI work).

use crate::AppState;
use axum::Router;

/// The dashboard's routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
