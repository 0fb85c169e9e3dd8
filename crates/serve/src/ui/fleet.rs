//! `/fleet`: the fleet's health — recent runs, the sensors' holds (each
//! open one with a release form), dead letters by source and class (with a
//! replay-by-filter form), and each source's freshness. The forms post to
//! the API with the operator token (the script adds it as a bearer token);
//! the page itself changes nothing.

use super::html::{self, Nav, escape};
use super::operation_error;
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use dorafleet_core::{ErrorClass, Source};
use dorafleet_operations::{HoldStatus, LetterStatus, letters, metrics, runs};
use dorafleet_warehouse::HoldFilter;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Runs listed.
const RUNS: usize = 20;
/// Resolved holds listed under the open ones.
const RESOLVED_HOLDS: usize = 20;

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub(super) async fn page(State(state): State<AppState>) -> Response {
    let warehouse = state.warehouse.as_ref();
    let runs = match runs::list(warehouse, RUNS).await {
        Ok(r) => r,
        Err(e) => return operation_error(&e),
    };
    let holds = match warehouse.holds(&HoldFilter::default()).await {
        Ok(h) => h,
        Err(e) => return operation_error(&e.into()),
    };
    let stats = match letters::stats(warehouse, 0).await {
        Ok(s) => s,
        Err(e) => return operation_error(&e),
    };
    let freshness = match metrics::freshness(warehouse, &state.config).await {
        Ok(f) => f,
        Err(e) => return operation_error(&e),
    };
    let token_note = if state.operator_token.is_some() {
        "Actions need the operator token (sent as a bearer token, never stored by the page)."
    } else {
        "No operator token is configured: the server refuses every action."
    };

    let mut body = String::with_capacity(16_000);
    let _ = write!(
        body,
        r##"<h1>Fleet</h1><p class="lead">{token_note}</p><nav class="toc"><a href="#runs">Runs</a> <a href="#holds">Holds</a> <a href="#dead-letters">Dead letters</a> <a href="#freshness">Freshness</a> <a href="#queue">Queue</a></nav>"##
    );

    // Runs.
    body.push_str(r#"<section id="runs"><h2>Runs</h2><table><thead><tr><th>run</th><th>kind</th><th>window</th><th>status</th><th>tasks done</th><th>planned</th></tr></thead><tbody>"#);
    for row in &runs {
        let r = &row.run;
        let _ = write!(
            body,
            r#"<tr class="run" data-run="{id}"><td><code title="{id}">{short}</code></td><td>{}</td><td>{} – {}</td><td><span class="status {s}">{s}</span></td><td>{}/{}</td><td>{}</td></tr>"#,
            escape(&r.kind),
            r.window.from.format("%Y-%m-%d %H:%M"),
            r.window.to.format("%Y-%m-%d %H:%M"),
            row.done,
            row.tasks,
            when(r.created_at),
            id = r.run_id,
            short = &r.run_id.to_string()[..8],
            s = r.status.as_str(),
        );
    }
    if runs.is_empty() {
        body.push_str(r#"<tr><td colspan="6">No run yet.</td></tr>"#);
    }
    body.push_str("</tbody></table></section>");

    // Holds: the open ones with a release form, then the latest resolved.
    let open: Vec<_> = holds
        .iter()
        .filter(|h| h.status == HoldStatus::Open)
        .collect();
    let mut resolved: Vec<_> = holds
        .iter()
        .filter(|h| h.status != HoldStatus::Open)
        .collect();
    resolved.sort_by_key(|h| std::cmp::Reverse(h.resolution.as_ref().map(|r| r.at)));
    let _ = write!(
        body,
        r#"<section id="holds"><h2>Holds</h2><p>{} open. A hold keeps a team's days out of gold until it is released (the data is real) or a rerun clears it.</p>"#,
        open.len()
    );
    for h in &open {
        let _ = write!(
            body,
            concat!(
                r#"<article class="hold" data-hold="{id}"><h3>{team}: {sensor} sensor on {scope}</h3>"#,
                r#"<p>Days {from} – {to} (exclusive) held since {created} by run <code>{run}</code>.</p>"#,
                r#"<p class="evidence">{measure}: observed {observed}, expected {expected}; rule: {threshold}. {detail}</p>"#,
                r#"<form class="release" method="post" action="/api/v1/holds/{id}/release" data-hold="{id}">"#,
                r#"<label>reason <input name="reason" required placeholder="why the data is real"></label> "#,
                r#"<label>token <input name="token" type="password" autocomplete="off"></label> "#,
                r#"<button type="submit">Release</button> <output class="result" aria-live="polite"></output></form></article>"#
            ),
            id = h.hold_id,
            team = escape(&h.team_id),
            sensor = escape(&h.sensor),
            scope = escape(h.scope.as_deref().unwrap_or("the team's inputs")),
            from = h.from,
            to = h.to,
            created = when(h.created_at),
            run = h.run_id,
            measure = escape(&h.evidence.measure),
            observed = h.evidence.observed,
            expected = h.evidence.expected,
            threshold = escape(&h.evidence.threshold),
            detail = escape(&h.evidence.detail),
        );
    }
    if !resolved.is_empty() {
        body.push_str(r#"<h3>Resolved</h3><table><thead><tr><th>team</th><th>sensor</th><th>scope</th><th>days</th><th>status</th><th>by</th><th>at</th><th>reason</th></tr></thead><tbody>"#);
        for h in resolved.iter().take(RESOLVED_HOLDS) {
            let (by, at, reason) = h
                .resolution
                .as_ref()
                .map_or((String::new(), String::new(), String::new()), |r| {
                    (escape(&r.by), when(r.at), escape(&r.reason))
                });
            let _ = write!(
                body,
                r#"<tr class="resolved-hold" data-hold="{}"><td>{}</td><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td><td>{by}</td><td>{at}</td><td>{reason}</td></tr>"#,
                h.hold_id,
                escape(&h.team_id),
                escape(&h.sensor),
                escape(h.scope.as_deref().unwrap_or("-")),
                h.from,
                h.to,
                h.status,
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("</section>");

    // Dead letters: waiting letters by source and class, every letter by status.
    let classes = [
        ErrorClass::Transient,
        ErrorClass::RateLimited,
        ErrorClass::Permanent,
    ];
    let mut waiting: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
    let mut by_status: BTreeMap<&'static str, usize> = BTreeMap::new();
    for a in &stats.letters {
        *by_status.entry(a.status.as_str()).or_default() += 1;
        if a.status == LetterStatus::Dead {
            let source = a.letter.source.map_or("-".to_owned(), |s| s.to_string());
            *waiting
                .entry((source, a.letter.error_class.as_str()))
                .or_default() += 1;
        }
    }
    let _ = write!(
        body,
        r#"<section id="dead-letters"><h2>Dead letters</h2><p>{} letters{}.</p>"#,
        stats.letters.len(),
        by_status
            .iter()
            .map(|(s, n)| format!(", {n} {s}"))
            .collect::<String>()
    );
    body.push_str(r#"<table class="letters"><thead><tr><th>waiting (dead)</th>"#);
    for class in classes {
        let _ = write!(body, "<th>{}</th>", class.as_str());
    }
    body.push_str("</tr></thead><tbody>");
    let mut sources: Vec<String> = Source::ALL.iter().map(ToString::to_string).collect();
    for (s, _) in waiting.keys() {
        if !sources.contains(s) {
            sources.push(s.clone());
        }
    }
    for source in &sources {
        let _ = write!(body, r#"<tr><th>{}</th>"#, escape(source));
        for class in classes {
            let n = waiting
                .get(&(source.clone(), class.as_str()))
                .copied()
                .unwrap_or(0);
            let _ = write!(
                body,
                r#"<td class="count" data-source="{}" data-class="{}">{n}</td>"#,
                escape(source),
                class.as_str()
            );
        }
        body.push_str("</tr>");
    }
    body.push_str("</tbody></table>");
    let options = |values: &[&str]| {
        values
            .iter()
            .map(|v| format!(r#"<option value="{v}">{v}</option>"#))
            .collect::<String>()
    };
    let source_names: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
    let _ = write!(
        body,
        concat!(
            r#"<form class="replay" method="post" action="/api/v1/dead-letters/replay">"#,
            r#"<h3>Replay by filter</h3>"#,
            r#"<label>source <select name="source"><option value="">any</option>{sources}</select></label> "#,
            r#"<label>class <select name="error_class"><option value="">any</option>{classes}</select></label> "#,
            r#"<label>team <input name="team" placeholder="any"></label> "#,
            r#"<label><input name="dry_run" type="checkbox"> dry run</label> "#,
            r#"<label>token <input name="token" type="password" autocomplete="off"></label> "#,
            r#"<button type="submit">Replay</button> <output class="result" aria-live="polite"></output>"#,
            r#"<p class="note">Waiting letters matching every field set are republished with a fresh attempt budget; an empty filter is refused.</p></form></section>"#
        ),
        sources = options(&source_names),
        classes = options(&classes.map(ErrorClass::as_str)),
    );

    // Freshness.
    body.push_str(r#"<section id="freshness"><h2>Freshness</h2><table><thead><tr><th>source</th><th>newest record</th><th>furthest behind</th><th>never extracted</th></tr></thead><tbody>"#);
    for f in &freshness {
        let _ = write!(
            body,
            r#"<tr class="freshness" data-source="{}"><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            f.source,
            f.source,
            f.newest.map_or("—".into(), when),
            f.stalest.as_ref().map_or("—".into(), |(scope, t)| format!(
                "{} ({})",
                escape(scope),
                when(*t)
            )),
            if f.never.is_empty() {
                "—".into()
            } else {
                escape(&f.never.join(", "))
            }
        );
    }
    if freshness.is_empty() {
        body.push_str(r#"<tr><td colspan="4">No source configured.</td></tr>"#);
    }
    body.push_str("</tbody></table></section>");
    body.push_str(r#"<section id="queue"><h2>Queue</h2><p class="note">Depth of each RabbitMQ queue, from <a href="/api/v1/fleet">/api/v1/fleet</a>.</p><dl id="queue-depth"></dl></section>"#);
    html::page("Fleet", Nav::Fleet, &body).into_response()
}
