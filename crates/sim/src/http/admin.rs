//! The admin API under `/_admin`: what tests and operators use to inspect
//! and steer a running simulator (request log, ground truth, organisation,
//! statistics, faults, the simulated clock). Faults never apply here and
//! nothing here is logged.

use crate::faults::FaultRule;
use crate::state::SimState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) async fn requests(State(state): State<Arc<SimState>>) -> Response {
    Json(state.request_log()).into_response()
}

pub(crate) async fn clear_requests(State(state): State<Arc<SimState>>) -> StatusCode {
    state.clear_request_log();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
pub(crate) struct TruthFilter {
    team: Option<String>,
    metric: Option<String>,
}

pub(crate) async fn truth(
    State(state): State<Arc<SimState>>,
    Query(filter): Query<TruthFilter>,
) -> Response {
    let records: Vec<_> = state
        .ground_truth()
        .iter()
        .filter(|r| filter.team.as_ref().is_none_or(|t| *t == r.team))
        .filter(|r| filter.metric.as_ref().is_none_or(|m| *m == r.metric))
        .cloned()
        .collect();
    Json(records).into_response()
}

pub(crate) async fn org(State(state): State<Arc<SimState>>) -> Response {
    Json(state.history().description()).into_response()
}

pub(crate) async fn stats(State(state): State<Arc<SimState>>) -> Response {
    Json(state.stats()).into_response()
}

pub(crate) async fn faults(State(state): State<Arc<SimState>>) -> Response {
    Json(state.faults()).into_response()
}

/// `PUT`: replace all rules with a JSON list of rules or spec strings.
pub(crate) async fn replace_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let parsed = serde_json::from_slice::<Vec<Value>>(&body)
        .map_err(|e| format!("expected a JSON list of fault rules or spec strings: {e}"))
        .and_then(|items| {
            items
                .into_iter()
                .map(rule_from_json)
                .collect::<Result<Vec<_>, _>>()
        });
    match parsed {
        Ok(rules) => {
            state.set_faults(rules);
            Json(state.faults()).into_response()
        }
        Err(problem) => bad_request(problem),
    }
}

/// `POST`: add one rule, as a JSON rule, a JSON string, or a bare spec string.
pub(crate) async fn add_fault(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let parsed = match serde_json::from_slice::<Value>(&body) {
        Ok(value) => rule_from_json(value),
        Err(_) => String::from_utf8_lossy(&body)
            .parse::<FaultRule>()
            .map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(rule) => {
            state.add_fault(rule);
            (StatusCode::CREATED, Json(state.faults())).into_response()
        }
        Err(problem) => bad_request(problem),
    }
}

pub(crate) async fn clear_faults(State(state): State<Arc<SimState>>) -> StatusCode {
    state.clear_faults();
    StatusCode::NO_CONTENT
}

/// `GET /_admin/clock`: `{"now": RFC 3339}`.
pub(crate) async fn clock(State(state): State<Arc<SimState>>) -> Response {
    clock_json(&state)
}

/// `PUT /_admin/clock` with `{"now": "RFC 3339"}`: moves the clock there.
pub(crate) async fn set_clock(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SetClock {
        now: String,
    }
    const EXPECTED: &str =
        r#"expected {"now": "<RFC 3339 instant>"}, e.g. {"now": "2026-03-01T12:00:00Z"}"#;
    let parsed = serde_json::from_slice::<SetClock>(&body)
        .map_err(|e| format!("{EXPECTED}: {e}"))
        .and_then(|request| {
            DateTime::parse_from_rfc3339(request.now.trim())
                .map(|t| t.to_utc())
                .map_err(|e| format!("{EXPECTED}: `{}` is not RFC 3339: {e}", request.now))
        });
    match parsed {
        Ok(t) => {
            state.set_now(t);
            clock_json(&state)
        }
        Err(problem) => bad_request(problem),
    }
}

/// `POST /_admin/clock/advance` with `{"seconds": N}` (N ≥ 0, an integer).
pub(crate) async fn advance_clock(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Advance {
        seconds: u64,
    }
    const EXPECTED: &str = r#"expected {"seconds": N} with N a whole number of seconds >= 0"#;
    let parsed = serde_json::from_slice::<Advance>(&body)
        .map_err(|e| format!("{EXPECTED}: {e}"))
        .and_then(|request| {
            i64::try_from(request.seconds)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .filter(|d| state.now().checked_add_signed(*d).is_some())
                .ok_or_else(|| {
                    format!(
                        "advancing by {} seconds leaves the representable time range",
                        request.seconds
                    )
                })
        });
    match parsed {
        Ok(d) => {
            state.advance(d);
            clock_json(&state)
        }
        Err(problem) => bad_request(problem),
    }
}

fn clock_json(state: &SimState) -> Response {
    let now = state.now().to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Json(json!({ "now": now })).into_response()
}

fn rule_from_json(value: Value) -> Result<FaultRule, String> {
    match value {
        Value::String(spec) => spec
            .parse()
            .map_err(|e: crate::faults::FaultSpecError| e.to_string()),
        other => serde_json::from_value(other.clone())
            .map_err(|e| format!("invalid fault rule {other}: {e}")),
    }
}

fn bad_request(problem: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": problem}))).into_response()
}
