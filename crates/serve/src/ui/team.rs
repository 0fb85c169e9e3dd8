//! `/teams/{team}`: one trend chart per metric over the asked range, why
//! each unknown or held stretch is what it is, and a panel the script fills
//! with the records behind a clicked point.

use super::chart;
use super::html::{self, Nav, escape, url_component};
use super::{RangeQuery, bad_request, metrics_error, range_form};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use dorafleet_dora::report::TeamReport;
use dorafleet_operations::metrics::team_reports_with_levels;
use std::fmt::Write;

pub(super) async fn page(
    State(state): State<AppState>,
    Path(team): Path<String>,
    Query(query): Query<RangeQuery>,
) -> Response {
    let range = match query.range() {
        Ok(r) => r,
        Err(message) => return bad_request(&message),
    };
    let report = match team_reports_with_levels(
        state.warehouse.as_ref(),
        &state.config,
        std::slice::from_ref(&team),
        range.from,
        range.to,
        range.levels_year,
    )
    .await
    {
        Ok(mut r) if !r.is_empty() => r.swap_remove(0),
        Ok(_) => return html::not_found(),
        Err(e) => return metrics_error(&e),
    };
    let mut body = String::with_capacity(8_000 + report.days.len() * 6 * 120);
    let _ = write!(
        body,
        r#"<h1>{t}</h1><p class="lead">{} to {} (exclusive): {}/{} days with every metric known{}.</p>{}{}"#,
        report.from,
        report.to,
        report.known_days,
        report.days.len(),
        if report.held_days > 0 {
            format!(", {} held", report.held_days)
        } else {
            String::new()
        },
        range_form(
            &format!("/teams/{}", url_component(&team)),
            &range,
            report.levels.year
        ),
        chart::legend(),
        t = escape(&report.team),
    );
    let _ = write!(
        body,
        r#"<div class="layout"><div class="charts" id="team" data-team="{}">"#,
        escape(&report.team)
    );
    for summary in &report.summary {
        let metric = summary.metric;
        let _ = write!(
            body,
            r#"<section class="metric" id="{m}"><h2>{}</h2><p class="summary">{}</p>{}{}</section>"#,
            html::metric_title(metric),
            html::summary_cell(summary),
            chart::render(&report.team, metric, &chart::series(&report, metric)),
            why_missing(&report, metric),
            m = metric.as_str(),
        );
    }
    body.push_str(concat!(
        r#"</div><aside class="records-panel"><h2>Records</h2>"#,
        r#"<p id="records-title">Click a point to list the deployments, changes and incidents behind it.</p>"#,
        r#"<ul id="records"></ul></aside></div>"#
    ));
    html::page(&report.team, Nav::Team, &body).into_response()
}

/// The unknown and held stretches of one metric, each with why: runs of
/// consecutive days with the same reason.
fn why_missing(report: &TeamReport, metric: dorafleet_core::Metric) -> String {
    let mut runs: Vec<(NaiveDate, NaiveDate, &str, bool)> = Vec::new();
    for row in &report.days {
        let Some(u) = row.unknown.get(&metric) else {
            continue;
        };
        let held = u.held_by_run.is_some();
        match runs.last_mut() {
            Some((_, last, reason, h))
                if *reason == u.reason
                    && *h == held
                    && *last + chrono::Duration::days(1) == row.date =>
            {
                *last = row.date;
            }
            _ => runs.push((row.date, row.date, &u.reason, held)),
        }
    }
    if runs.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        r#"<details class="missing"><summary>Days without a value, and why</summary><ul>"#,
    );
    for (from, to, reason, held) in runs {
        let days = if from == to {
            from.to_string()
        } else {
            format!("{from} – {to}")
        };
        let _ = write!(
            out,
            r#"<li class="{}">{days}: {}</li>"#,
            if held { "held" } else { "unknown" },
            escape(reason)
        );
    }
    out.push_str("</ul></details>");
    out
}
