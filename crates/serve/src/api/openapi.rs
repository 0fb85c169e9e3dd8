//! The OpenAPI 3.1 document of the API (`crates/serve/openapi.json`,
//! embedded at build time), served at `/api/v1/openapi.json`.

use axum::http::header;
use axum::response::IntoResponse;

/// The OpenAPI document, as served.
pub const OPENAPI: &str = include_str!("../../openapi.json");

pub(crate) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Every (method, path) the document describes, methods upper case, paths
/// as written there (`/api/v1/runs/{id}`).
pub fn route_paths() -> Vec<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}
