//! Errors as RFC 9457 problem details (`application/problem+json`): a
//! `type` naming the kind of problem, a `title` of that kind, the `status`,
//! a `detail` saying what was wrong with this request and what to do, and
//! the `instance` (the path asked for).
//!
//! Every failure a caller can cause — a bad date, an unknown team or
//! metric, a missing token — is a 4xx with a message; a 500 only means the
//! warehouse failed, and its detail is scrubbed of secrets.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dorafleet_operations::OperationError;
use dorafleet_operations::metrics::MetricsError;
use serde::Serialize;

/// The media type of a problem detail.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Where the problem types are described (their `type` is this + a slug).
pub const PROBLEM_BASE: &str = "https://dorafleet.dev/problems/";

/// One problem detail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong with this request, and what to do instead.
    pub detail: String,
    /// The path the request asked for (filled in by the router's layer when
    /// a handler leaves it empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub instance: String,
}

impl Problem {
    /// A problem of kind `slug` with `status`, `title` and `detail`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("{PROBLEM_BASE}{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: dorafleet_core::secret::scrub_owned(detail.into()),
            instance: String::new(),
        }
    }

    /// 400: a parameter or the body is not what the route takes.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "The request is not valid",
            detail,
        )
    }

    /// 404: the team, run, hold or metric asked for does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 409: the action does not apply to the thing's current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "conflict",
            "The action does not apply in the current state",
            detail,
        )
    }

    /// 401: an operator action without the right bearer token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "An operator token is required",
            detail,
        )
    }

    /// 403: operator actions are disabled (no token configured).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "operator-actions-disabled",
            "Operator actions are disabled",
            detail,
        )
    }

    /// 503: a store the request needs did not answer.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "A store this request needs did not answer",
            detail,
        )
    }

    /// 500: the warehouse failed (the detail is scrubbed of secrets).
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The server failed",
            detail,
        )
    }

    /// This problem about `instance` (the path asked for).
    pub fn at(mut self, instance: impl Into<String>) -> Self {
        self.instance = instance.into();
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(status = self.status, detail = %self.detail, "request failed");
        }
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.extensions_mut().insert(self);
        response
    }
}

/// Turn a warehouse failure into a problem: a 500 whose detail names it.
impl From<dorafleet_warehouse::WarehouseError> for Problem {
    fn from(e: dorafleet_warehouse::WarehouseError) -> Self {
        Problem::internal(format!("reading the warehouse failed: {e}"))
    }
}

impl From<OperationError> for Problem {
    fn from(e: OperationError) -> Self {
        use dorafleet_coordinator::HoldActionError;
        let detail = e.to_string();
        match e {
            OperationError::NoSuchRun(_) | OperationError::NoSuchLetter(_) => {
                Problem::not_found(detail)
            }
            OperationError::UnknownLetters(_) | OperationError::NoReason(_) => {
                Problem::bad_request(detail)
            }
            OperationError::Hold(HoldActionError::UnknownRun(_)) => Problem::not_found(detail),
            OperationError::Hold(HoldActionError::NothingHeld(_)) => Problem::conflict(detail),
            OperationError::Hold(HoldActionError::NoReason) => Problem::bad_request(
                "a reason is required: say why the held data is real ({\"reason\": \"...\"})",
            ),
            OperationError::BrokerConnect { .. } | OperationError::Broker(_) => {
                Problem::unavailable(format!("{detail}: {}", source_chain(&e)))
            }
            _ => Problem::internal(format!("{detail}: {}", source_chain(&e))),
        }
    }
}

impl From<MetricsError> for Problem {
    fn from(e: MetricsError) -> Self {
        let detail = e.to_string();
        match e {
            MetricsError::EmptyRange { from, to } => Problem::bad_request(format!(
                "`from` ({from}) must be before `to` ({to}): `to` is the day after the last one shown"
            )),
            MetricsError::UnknownTeam(team) => Problem::not_found(format!(
                "team `{team}` is not configured (see GET /api/v1/teams)"
            )),
            MetricsError::Levels(e) => {
                Problem::bad_request(format!("levels_year: {e} (2021, 2023 or 2024)"))
            }
            MetricsError::NoTeams => Problem::not_found(detail),
            MetricsError::Operation(e) => e.into(),
        }
    }
}

/// The causes under an error, joined, for a 5xx detail.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push(c.to_string());
        cause = c.source();
    }
    out.join(": ")
}
