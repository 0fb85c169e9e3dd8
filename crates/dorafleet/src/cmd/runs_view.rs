//! Showing runs to operators: the list, one run in full (stages, gates per
//! team, holds with their evidence, records per layer, dead letters), and a
//! hold on one line.

use dorafleet_operations::runs::{Gate, RunDetail, RunRow, Tally};
use std::fmt::Write;

fn tally(t: &Tally) -> String {
    format!(
        "{} tasks: {} done, {} dead, {} retrying, {} pending",
        t.total, t.done, t.dead, t.retrying, t.pending
    )
}

pub fn list(rows: &[RunRow]) -> String {
    let mut out = format!(
        "{:<36}  {:<11}  {:<9}  {:<23}  {:<10}  window\n",
        "run", "kind", "status", "created", "tasks"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<36}  {:<11}  {:<9}  {:<23}  {:<10}  {}",
            r.run.run_id,
            r.run.kind,
            r.run.status.as_str(),
            r.run.created_at.format("%Y-%m-%d %H:%M:%S"),
            format!("{}/{}", r.done, r.tasks),
            r.run.window
        );
    }
    out
}

fn gate(g: Gate, normalized: &Tally, extracts: &Tally) -> String {
    match g {
        Gate::Closed => "closed for the metrics reading a dead-lettered scope (below; see `dorafleet dlq list --run RUN`)".to_owned(),
        Gate::Held => {
            "held: a sensor kept its days out of gold (see holds; `runs release` or `runs rerun`)"
                .to_owned()
        }
        Gate::Passed => "passed: gold written".to_owned(),
        Gate::Waiting => format!(
            "waiting: {}/{} scopes normalized",
            normalized.done, extracts.total
        ),
        Gate::Aggregating => "open: aggregating".to_owned(),
    }
}

pub fn show(d: &RunDetail) -> String {
    let mut out = String::new();
    let run = &d.run;
    let _ = writeln!(out, "run {} ({}) {}", run.run_id, run.kind, run.status);
    let _ = writeln!(out, "window:  {}", run.window);
    let _ = writeln!(
        out,
        "created: {}, updated: {}",
        run.created_at, run.updated_at
    );
    out.push_str("\nstages:\n");
    for (stage, t) in &d.stages {
        let _ = writeln!(out, "  {:<10} {}", stage.as_str(), tally(t));
    }
    out.push_str("\ngates per team:\n");
    for t in &d.teams {
        let _ = writeln!(
            out,
            "  {:<12} extract {}/{}, normalize {}/{}, aggregate {}/{} — {}",
            t.team,
            t.extract.done,
            t.extract.total,
            t.normalize.done,
            t.normalize.total,
            t.aggregate.done,
            t.aggregate.total,
            gate(t.gate, &t.normalize, &t.extract)
        );
        if matches!(t.gate, Gate::Closed | Gate::Held) {
            for m in &t.metrics {
                let because = if m.because_of.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", m.because_of.join(", "))
                };
                let state = match m.gate {
                    Gate::Closed => "unknown: input dead-lettered",
                    Gate::Held => "held",
                    Gate::Passed => "passed",
                    Gate::Waiting => "waiting",
                    Gate::Aggregating => "aggregating",
                };
                let _ = writeln!(out, "    {:<32} {state}{because}", m.metric.as_str());
            }
        }
    }
    if !d.holds.is_empty() {
        out.push_str("\nholds:\n");
        for h in &d.holds {
            let _ = writeln!(out, "  {}", super::lines::hold_line(h));
        }
    }
    out.push_str("\nrecords per layer:\n");
    for (source, pages, records) in &d.bronze {
        let _ = writeln!(
            out,
            "  bronze  {:<8} {pages} pages, {records} records",
            source.as_str()
        );
    }
    let n = &d.silver;
    let _ = writeln!(
        out,
        "  silver  {} deployments, {} changes, {} Jira issues, {} resolved through their status (filtered: {} bot changes, {} aborted builds; {} merged PRs without usable commits; {} gone)",
        n.deployments,
        n.changes,
        n.incidents,
        n.incidents_resolved_by_status,
        n.bot_changes_filtered,
        n.aborted_builds_filtered,
        n.changes_without_commits,
        n.items_gone
    );
    let _ = writeln!(
        out,
        "  extract {}",
        super::lines::extract_line(&d.extracted, d.gone)
    );
    let _ = writeln!(out, "  schema  {}", super::lines::schema_line(n));
    let _ = writeln!(out, "  changes {}", super::lines::linkage_line(n));
    let _ = writeln!(out, "  gold    {} records", d.gold_records);
    if !d.letters.is_empty() {
        out.push_str("\ndead letters:\n");
        for a in &d.letters {
            let _ = writeln!(
                out,
                "  {} {} {}: {}",
                a.letter.id,
                a.status,
                a.letter
                    .scope
                    .as_ref()
                    .map_or("-".into(), |s| s.to_string()),
                a.letter.reason
            );
        }
    }
    out
}
