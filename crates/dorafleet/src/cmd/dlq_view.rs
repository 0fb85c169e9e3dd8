//! Showing dead letters to operators: a table, one letter in full, stats.

use dorafleet_operations::{ArchivedLetter, RunRecord, TaskRecord, TaskState};
use std::collections::BTreeMap;
use std::fmt::Write;

fn route(a: &ArchivedLetter) -> String {
    match (a.letter.stage, a.letter.source) {
        (Some(stage), Some(source)) => format!("{stage}/{source}"),
        (Some(stage), None) => stage.to_string(),
        _ => "(not a task)".into(),
    }
}

fn scope(a: &ArchivedLetter) -> String {
    a.letter
        .scope
        .as_ref()
        .map_or("-".into(), |s| s.to_string())
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

pub fn table(letters: &[ArchivedLetter]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36}  {:<9}  {:<17}  {:<32}  {:<12}  {:>3}  {:<20}  reason",
        "id", "status", "stage/source", "scope", "class", "att", "last failure"
    );
    for a in letters {
        let _ = writeln!(
            out,
            "{:<36}  {:<9}  {:<17}  {:<32}  {:<12}  {:>3}  {:<20}  {}",
            a.letter.id,
            a.status.as_str(),
            route(a),
            shorten(&scope(a), 32),
            a.letter.error_class.as_str(),
            a.letter.attempts.len(),
            a.letter.last_failed_at.format("%Y-%m-%d %H:%M:%S"),
            shorten(&a.letter.reason, 80)
        );
    }
    let _ = writeln!(out, "{} letters", letters.len());
    out
}

pub fn show(a: &ArchivedLetter, jaeger_url: &str) -> String {
    let l = &a.letter;
    let mut out = String::new();
    let _ = writeln!(out, "dead letter {}", l.id);
    let _ = writeln!(
        out,
        "status:        {} (replayed {} times)",
        a.status, a.replay_count
    );
    let _ = writeln!(out, "stage/source:  {}", route(a));
    let _ = writeln!(out, "scope:         {}", scope(a));
    if let Some(w) = &l.window {
        let _ = writeln!(out, "window:        {w}");
    }
    let _ = writeln!(out, "error class:   {}", l.error_class);
    let _ = writeln!(out, "reason:        {}", l.reason);
    let _ = writeln!(
        out,
        "failed:        first {}, last {}",
        l.first_failed_at, l.last_failed_at
    );
    let _ = writeln!(out, "archived:      {}", a.archived_at);
    match &l.trace_id {
        Some(trace) => {
            let _ = writeln!(
                out,
                "trace:         {}/trace/{trace}",
                jaeger_url.trim_end_matches('/')
            );
        }
        None => {
            let _ = writeln!(out, "trace:         none recorded");
        }
    }
    let _ = writeln!(out, "\nattempts (error chain):");
    for at in &l.attempts {
        let _ = writeln!(
            out,
            "  #{} at {} on {} [{}]{}: {}",
            at.attempt,
            at.at,
            at.worker,
            at.class,
            if at.progressed {
                " (made progress)"
            } else {
                ""
            },
            at.message
        );
    }
    let _ = writeln!(out, "\naudit:");
    for e in &a.audit {
        let _ = writeln!(out, "  {} {} {}: {}", e.at, e.actor, e.action, e.detail);
    }
    match (&l.envelope, &l.raw_body) {
        (Some(envelope), _) => {
            let pretty = serde_json::to_string_pretty(envelope).unwrap_or_default();
            let _ = writeln!(out, "\nenvelope:\n{pretty}");
        }
        (None, Some(raw)) => {
            let _ = writeln!(
                out,
                "\nraw body (not a task, first {} bytes):\n{raw}",
                raw.len()
            );
        }
        (None, None) => {}
    }
    out
}

/// Counts by stage, source and error class; oldest and newest; the
/// dead-letter rate of recent runs.
pub fn stats(letters: &[ArchivedLetter], runs: &[(RunRecord, Vec<TaskRecord>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} dead letters", letters.len());
    let mut by: BTreeMap<(String, String), usize> = BTreeMap::new();
    for a in letters {
        *by.entry(("status".into(), a.status.to_string()))
            .or_default() += 1;
        *by.entry((
            "stage".into(),
            a.letter.stage.map_or("-".into(), |s| s.to_string()),
        ))
        .or_default() += 1;
        *by.entry((
            "source".into(),
            a.letter.source.map_or("-".into(), |s| s.to_string()),
        ))
        .or_default() += 1;
        *by.entry(("error class".into(), a.letter.error_class.to_string()))
            .or_default() += 1;
    }
    let mut last = String::new();
    for ((group, key), n) in &by {
        if *group != last {
            let _ = writeln!(out, "by {group}:");
            last.clone_from(group);
        }
        let _ = writeln!(out, "  {key:<14} {n}");
    }
    if let (Some(oldest), Some(newest)) = (
        letters.iter().map(|a| a.letter.last_failed_at).min(),
        letters.iter().map(|a| a.letter.last_failed_at).max(),
    ) {
        let _ = writeln!(out, "oldest: {oldest}\nnewest: {newest}");
    }
    let _ = writeln!(out, "dead-letter rate of recent runs:");
    for (run, tasks) in runs {
        let dead = tasks.iter().filter(|t| t.state == TaskState::Dead).count();
        let rate = if tasks.is_empty() {
            0.0
        } else {
            dead as f64 / tasks.len() as f64
        };
        let _ = writeln!(
            out,
            "  {} {:<9} {:>4}/{:<4} tasks dead ({:.1}%)",
            run.run_id,
            run.status.as_str(),
            dead,
            tasks.len(),
            rate * 100.0
        );
    }
    out
}
