//! `/`: every team with its six metrics over a range, levels by DORA report
//! year; a metric with no known day shows "unknown" or "held", never 0.

use super::html::{self, Nav, escape, url_component};
use super::{RangeQuery, bad_request, metrics_error, range_form};
use crate::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use dorafleet_core::Metric;
use dorafleet_operations::metrics::team_reports_with_levels;
use std::fmt::Write;

pub(super) async fn page(
    State(state): State<AppState>,
    Query(query): Query<RangeQuery>,
) -> Response {
    let range = match query.range() {
        Ok(r) => r,
        Err(message) => return bad_request(&message),
    };
    let reports = match team_reports_with_levels(
        state.warehouse.as_ref(),
        &state.config,
        &[],
        range.from,
        range.to,
        range.levels_year,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return metrics_error(&e),
    };
    let year = reports
        .first()
        .map_or(dorafleet_core::config::DEFAULT_LEVELS_YEAR, |r| {
            r.levels.year
        });
    let mut body = String::with_capacity(2_000 + reports.len() * 1_500);
    let _ = write!(
        body,
        r#"<h1>Teams</h1><p class="lead">{} to {} (exclusive), {} teams. A metric without a known day is <span class="state unknown">unknown</span> or <span class="state held">held</span>, never 0.</p>{}"#,
        range.from,
        range.to,
        reports.len(),
        range_form("/", &range, year)
    );
    body.push_str(r#"<table class="overview"><thead><tr><th>team</th>"#);
    for metric in Metric::ALL {
        let _ = write!(body, "<th>{}</th>", html::metric_title(metric));
    }
    body.push_str("<th>overall</th></tr></thead><tbody>");
    let query = format!(
        "?from={}&amp;to={}{}",
        range.from,
        range.to,
        range
            .levels_year
            .map_or(String::new(), |y| format!("&amp;levels_year={y}"))
    );
    for r in &reports {
        let _ = write!(
            body,
            r#"<tr class="team" data-team="{t}"><th><a href="/teams/{u}{query}">{t}</a><br><small>{}/{} days fully known</small></th>"#,
            r.known_days,
            r.days.len(),
            t = escape(&r.team),
            u = url_component(&r.team),
        );
        for s in &r.summary {
            let _ = write!(
                body,
                r#"<td data-metric="{}">{}</td>"#,
                s.metric.as_str(),
                html::summary_cell(s)
            );
        }
        let partial = r
            .summary
            .iter()
            .any(|s| s.known_days == 0 && s.no_level_reason.is_none());
        let overall = match r.overall {
            Some(l) => format!(
                r#"<span class="level {l}">{l}</span>{}"#,
                if partial {
                    " <small>(partial)</small>"
                } else {
                    ""
                }
            ),
            None => r#"<span class="state unknown">—</span>"#.into(),
        };
        let _ = write!(body, "<td>{overall}</td></tr>");
    }
    body.push_str("</tbody></table>");
    if let Some(r) = reports.first() {
        let _ = write!(
            body,
            r#"<p class="note">Levels: {}{}. Deployment frequency is rated by deploy days per week; the deployment rework rate has no level (no DORA report gives clusters for it).</p>"#,
            escape(r.levels.source),
            if r.levels.overridden {
                ", with [levels] overrides"
            } else {
                ""
            }
        );
    }
    html::page("Teams", Nav::Overview, &body).into_response()
}
