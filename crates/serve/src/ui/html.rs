//! The few pieces of HTML every page shares: escaping, the layout, the
//! embedded assets and how a summary value is shown.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use dorafleet_core::Metric;
use dorafleet_dora::report::MetricSummary;

pub(super) use super::text::escape;

/// `text` safe as one component of a URL path or query.
pub(super) fn url_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The stylesheet, embedded at build time.
pub(super) const STYLE: &str = include_str!("../../assets/style.css");
/// The one script: chart clicks and the operator forms.
pub(super) const SCRIPT: &str = include_str!("../../assets/app.js");

/// An embedded asset with its type; cached for an hour (the binary, not a
/// deploy pipeline, decides when it changes).
pub(super) fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Which page of the navigation is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nav {
    /// `/`.
    Overview,
    /// `/teams/{team}`.
    Team,
    /// `/fleet`.
    Fleet,
}

/// A whole page around `body`.
pub(super) fn page(title: &str, nav: Nav, body: &str) -> Html<String> {
    let link = |href: &str, name: &str, here: bool| {
        format!(
            r#"<a href="{href}"{}>{name}</a>"#,
            if here { r#" aria-current="page""# } else { "" }
        )
    };
    Html(format!(
        concat!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>{title} · dorafleet</title>",
            "<link rel=\"stylesheet\" href=\"/assets/style.css\">",
            "<script src=\"/assets/app.js\" defer></script></head>",
            "<body><header><strong>dorafleet</strong><nav>{overview}{fleet}</nav></header>",
            "<main>{body}</main></body></html>"
        ),
        title = escape(title),
        overview = link("/", "Teams", nav != Nav::Fleet),
        fleet = link("/fleet", "Fleet", nav == Nav::Fleet),
        body = body
    ))
}

/// An error as a page, with the status it is served with.
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        r#"<h1>{}</h1><p class="error">{}</p><p><a href="/">Back to the teams</a></p>"#,
        status.as_u16(),
        escape(message)
    );
    (status, page("error", Nav::Overview, &body)).into_response()
}

/// A metric's name as a heading.
pub(super) fn metric_title(metric: Metric) -> &'static str {
    match metric {
        Metric::DeploymentFrequency => "Deployment frequency",
        Metric::LeadTimeForChanges => "Lead time for changes",
        Metric::ChangeFailureRate => "Change failure rate",
        Metric::FailedDeploymentRecoveryTime => "Failed deployment recovery time",
        Metric::DeploymentReworkRate => "Deployment rework rate",
        Metric::TimeToRestoreService => "Time to restore service",
    }
}

/// A range summary as a table cell's content: "held" or "unknown" when no
/// day is known (never 0), else the value with its level and, when some
/// days are missing, how many are known.
pub(super) fn summary_cell(s: &MetricSummary) -> String {
    let total = s.known_days + s.unknown_days;
    if s.known_days == 0 && total > 0 {
        return if s.held_days > 0 {
            format!(
                r#"<span class="state held" title="{}">held</span>"#,
                escape(s.unknown_reason.as_deref().unwrap_or(""))
            )
        } else {
            format!(
                r#"<span class="state unknown" title="{}">unknown</span>"#,
                escape(s.unknown_reason.as_deref().unwrap_or(""))
            )
        };
    }
    let value = match (s.metric, s.deploy_days, s.value) {
        (Metric::DeploymentFrequency, Some(d), Some(v)) => format!(
            "{} deploy days/wk <small>({}/day)</small>",
            trim1(d.per_week),
            super::chart::format_value(s.metric, v)
        ),
        (_, _, Some(v)) => super::chart::format_value(s.metric, v),
        (_, _, None) => r#"<span class="state none" title="nothing to measure">—</span>"#.into(),
    };
    let level = match (s.level, s.no_level_reason) {
        (Some(l), _) => format!(r#" <span class="level {l}">{l}</span>"#),
        (None, Some(why)) => format!(
            r#" <span class="level none" title="{}">no level</span>"#,
            escape(why)
        ),
        (None, None) => String::new(),
    };
    let partial = if s.unknown_days > 0 {
        format!(
            r#"<br><small class="partial" title="{}">{}/{} days known{}</small>"#,
            escape(s.unknown_reason.as_deref().unwrap_or("")),
            s.known_days,
            total,
            if s.held_days > 0 {
                format!(", {} held", s.held_days)
            } else {
                String::new()
            }
        )
    } else {
        String::new()
    };
    format!("{value}{level}{partial}")
}

fn trim1(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_owned)
}

/// A plain 404 for a path no page serves.
pub(super) fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "no such page")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_urls_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(url_component("a b/c"), "a%20b%2Fc");
    }
}
