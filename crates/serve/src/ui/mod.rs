//! The dashboard: server-rendered pages from the same library values the
//! API serves (`dorafleet_operations`), with one small script for what
//! needs the browser (a click on a chart's point, the operator forms).
//!
//! - `/`: every team with its six metrics over a range, levels by DORA
//!   report year, unknown and held shown as such;
//! - `/teams/{team}?from=&to=&levels_year=`: a trend chart per metric
//!   ([`chart`]), and the records behind a clicked day (from the API);
//! - `/fleet`: runs, holds (release with a reason and the operator token,
//!   through the API), dead letters by source and class (replay by filter,
//!   through the API) and each source's freshness.
//!
//! The stylesheet and the script are embedded in the binary
//! (`include_str!`) and served under `/assets/`: no CDN, no build step.

pub mod chart;
mod fleet;
mod html;
mod overview;
mod team;
mod text;

use crate::AppState;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{Duration, NaiveDate, Utc};
use dorafleet_operations::metrics::MetricsError;
use serde::Deserialize;

/// The dashboard's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/teams/{team}", get(team::page))
        .route("/fleet", get(fleet::page))
        .route(
            "/assets/style.css",
            get(|| async { html::asset("text/css; charset=utf-8", html::STYLE) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { html::asset("text/javascript; charset=utf-8", html::SCRIPT) }),
        )
}

/// Days a page shows when no range is asked for.
const DEFAULT_DAYS: i64 = 90;

/// A page's range and levels, as the form sends them (empty fields are
/// absent).
#[derive(Debug, Default, Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    levels_year: Option<String>,
}

/// The asked range `[from, to)` and levels year, defaulting to the
/// [`DEFAULT_DAYS`] before today (UTC) and the configured year.
#[derive(Debug, Clone, Copy)]
struct Range {
    from: NaiveDate,
    to: NaiveDate,
    levels_year: Option<u16>,
}

impl RangeQuery {
    /// The range, or which field is wrong (a 400 page: [`bad_request`]).
    fn range(&self) -> Result<Range, String> {
        let date = |name: &str, text: &Option<String>| -> Result<Option<NaiveDate>, String> {
            match text.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(t) => t
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name} must be a date as YYYY-MM-DD, not `{t}`")),
            }
        };
        let to = date("to", &self.to)?.unwrap_or_else(|| Utc::now().date_naive());
        let from = date("from", &self.from)?.unwrap_or(to - Duration::days(DEFAULT_DAYS));
        let levels_year = match self.levels_year.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(y) => Some(y.parse().map_err(|_| {
                format!("levels_year must be a report year such as 2024, not `{y}`")
            })?),
        };
        Ok(Range {
            from,
            to,
            levels_year,
        })
    }
}

/// A 400 page with `message`.
fn bad_request(message: &str) -> Response {
    html::error_page(StatusCode::BAD_REQUEST, message)
}

/// The range form both metric pages show.
fn range_form(action: &str, range: &Range, year: u16) -> String {
    let years = dorafleet_core::config::LEVEL_YEARS
        .iter()
        .map(|y| {
            format!(
                r#"<option value="{y}"{}>{y}</option>"#,
                if *y == year { " selected" } else { "" }
            )
        })
        .collect::<String>();
    format!(
        concat!(
            r#"<form class="range" method="get" action="{action}">"#,
            r#"<label>from <input type="date" name="from" value="{from}" required></label> "#,
            r#"<label>to (exclusive) <input type="date" name="to" value="{to}" required></label> "#,
            r#"<label>levels of the DORA report <select name="levels_year">{years}</select></label> "#,
            r#"<button type="submit">Show</button></form>"#
        ),
        action = action,
        from = range.from,
        to = range.to,
        years = years
    )
}

/// A metrics error as a page: 404 for a team not configured, 400 for a
/// range or year that cannot be shown, 500 for the warehouse.
fn metrics_error(e: &MetricsError) -> Response {
    let status = match e {
        MetricsError::UnknownTeam(_) => StatusCode::NOT_FOUND,
        MetricsError::EmptyRange { .. } | MetricsError::Levels(_) | MetricsError::NoTeams => {
            StatusCode::BAD_REQUEST
        }
        MetricsError::Operation(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match e {
        MetricsError::EmptyRange { from, to } => {
            format!("the range is empty: from ({from}) must be before to ({to})")
        }
        other => other.to_string(),
    };
    html::error_page(status, &message)
}

/// A warehouse error as a 500 page.
fn operation_error(e: &dorafleet_operations::OperationError) -> Response {
    tracing::warn!(error = %e, "a dashboard page could not read the warehouse");
    html::error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
}

#[cfg(test)]
mod tests;
