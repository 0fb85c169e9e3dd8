//! The JSON API under `/api/v1`, described by the OpenAPI document it
//! serves at `/api/v1/openapi.json` (`crates/serve/openapi.json`).
//!
//! Every answer is JSON; every error a problem detail (see
//! [`crate::error`]), including the ones axum's extractors and router give
//! (unknown route, wrong method, unreadable body): a layer turns any error
//! answer that is not one yet into one, and names the path asked for as its
//! `instance`.

mod fleet;
mod letters;
pub mod links;
mod metrics;
mod openapi;
mod runs;
mod teams;

use crate::AppState;
use crate::error::{PROBLEM_JSON, Problem};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use std::collections::BTreeMap;

pub use openapi::{OPENAPI, route_paths};

/// The prefix of every API route.
pub const PREFIX: &str = "/api/v1";

/// The API's routes, under [`PREFIX`].
pub fn router() -> Router<AppState> {
    let v1 = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/teams", get(teams::list))
        .route("/teams/{team}/metrics", get(metrics::team_metrics))
        .route(
            "/teams/{team}/days/{date}/metrics/{metric}/records",
            get(metrics::records),
        )
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::detail))
        .route("/holds", get(runs::holds))
        .route("/holds/{id}/release", post(runs::release))
        .route("/dead-letters/stats", get(letters::stats))
        .route("/dead-letters/replay", post(letters::replay))
        .route("/freshness", get(fleet::freshness))
        .route("/fleet", get(fleet::fleet))
        .fallback(unknown_route);
    // Outside the nest, so that the layer sees the whole path.
    Router::new()
        .nest(PREFIX, v1)
        .layer(middleware::from_fn(problems))
}

async fn unknown_route(request: Request) -> Problem {
    Problem::not_found(format!(
        "no API route {} {PREFIX}{}; the routes are listed in {PREFIX}/openapi.json",
        request.method(),
        request.uri().path()
    ))
}

/// Every error answer as a problem detail naming the path asked for.
async fn problems(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    if let Some(problem) = response.extensions().get::<Problem>().cloned() {
        if problem.instance.is_empty() {
            let mut fixed = problem.at(path).into_response();
            copy_allow(&response, &mut fixed);
            return fixed;
        }
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    // An answer of axum itself (a rejected extractor, a wrong method).
    let allow = response.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let detail = match (status, &allow) {
        (StatusCode::METHOD_NOT_ALLOWED, Some(allow)) => format!(
            "{path} does not take this method; it takes {}",
            allow.to_str().unwrap_or("?")
        ),
        (StatusCode::METHOD_NOT_ALLOWED, None) => {
            format!("{path} does not take this method (see {PREFIX}/openapi.json)")
        }
        _ if text.trim().is_empty() => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
        _ => text,
    };
    let slug = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        s if s.is_server_error() => "internal",
        _ => "bad-request",
    };
    let title = status.canonical_reason().unwrap_or("Request refused");
    let mut out = Problem::new(status, slug, title, detail)
        .at(path)
        .into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

fn copy_allow(from: &Response, to: &mut Response) {
    if let Some(allow) = from.headers().get(header::ALLOW) {
        to.headers_mut().insert(header::ALLOW, allow.clone());
    }
}

/// A JSON answer (200).
pub fn json<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(body),
        )
            .into_response(),
        Err(e) => Problem::internal(format!("serializing the answer failed: {e}")).into_response(),
    }
}

/// The query parameters, refusing any the route does not take (a typo such
/// as `form=` must not be ignored) and repeated ones.
pub(crate) fn query(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, Problem> {
    let mut out = BTreeMap::new();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&key.as_ref()) {
            return Err(Problem::bad_request(if allowed.is_empty() {
                format!("unknown query parameter `{key}`: this route takes none")
            } else {
                format!(
                    "unknown query parameter `{key}`: this route takes {}",
                    allowed.join(", ")
                )
            }));
        }
        if out.insert(key.to_string(), value.to_string()).is_some() {
            return Err(Problem::bad_request(format!(
                "query parameter `{key}` is given more than once"
            )));
        }
    }
    Ok(out)
}

/// The earliest and latest day the API accepts.
fn day_bounds() -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date"),
        NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date"),
    )
}

/// A day written `YYYY-MM-DD`, between 1970 and 9999.
pub(crate) fn parse_day(name: &str, text: &str) -> Result<NaiveDate, Problem> {
    let (first, last) = day_bounds();
    let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .filter(|_| text.trim().len() == 10)
        .ok_or_else(|| {
            Problem::bad_request(format!(
                "`{name}` is `{text}`, not a day: expected YYYY-MM-DD, e.g. 2026-03-01"
            ))
        })?;
    if day < first || day > last {
        return Err(Problem::bad_request(format!(
            "`{name}` is {day}: days from {first} to {last} are accepted"
        )));
    }
    Ok(day)
}

/// A UUID named `name` (a run or hold id).
pub(crate) fn parse_uuid(name: &str, text: &str) -> Result<uuid::Uuid, Problem> {
    uuid::Uuid::parse_str(text.trim()).map_err(|_| {
        Problem::bad_request(format!(
            "`{text}` is not a {name} id: expected a UUID such as 0190f3c2-7d1a-7c3e-9a51-2b6f0e8d4c11"
        ))
    })
}

/// A JSON body of type `T`, or a 400 saying what is wrong with it.
pub(crate) fn body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    example: &str,
) -> Result<T, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::bad_request(format!(
            "the request needs a JSON body, e.g. {example}"
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Problem::bad_request(format!(
            "the body is not what this route takes ({e}); expected e.g. {example}"
        ))
    })
}
