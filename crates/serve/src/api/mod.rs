//! The JSON API under `/api/v1` (placeholder: filled in by the API work).

use crate::AppState;
use axum::Router;

/// The API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
