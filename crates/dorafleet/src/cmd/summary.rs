//! Printing a run's summary and a progress bar for long runs.

use dorafleet_coordinator::RunProgress;
use dorafleet_core::Source;
use dorafleet_standalone::RunSummary;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;

/// A progress bar on stderr (hidden when stderr is not a terminal, so logs
/// and CI output stay readable), fed from run progress snapshots.
pub fn progress_bar(label: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} tasks  {msg}  ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar
}

pub fn update(bar: &ProgressBar, p: &RunProgress) {
    bar.set_length(p.total as u64);
    bar.set_position(p.finished() as u64);
    bar.set_message(format!(
        "{} pages, {} records, {} retries, {} dead",
        p.pages, p.records, p.retries, p.dead
    ));
}

/// The per-source table. `served` adds a column comparing bronze records with
/// what the simulator says it served (demo only).
pub fn print(summary: &RunSummary, served: Option<&BTreeMap<Source, u64>>) {
    println!();
    println!("run {}", summary.run_id);
    let mut header = format!(
        "{:<8} {:>5} {:>5} {:>5} {:>7} {:>9} {:>5} {:>5} {:>10} {:>7} {:>8}",
        "source",
        "tasks",
        "done",
        "dead",
        "retries",
        "api calls",
        "429",
        "5xx",
        "rl wait",
        "pages",
        "records"
    );
    if served.is_some() {
        header.push_str(&format!(" {:>13}", "sim served"));
    }
    println!("{header}");
    // Rate-limit wait is summed over every request waiting for its turn, so
    // with concurrent tasks it can exceed the wall time.
    for (source, s) in &summary.by_source {
        let count = |pred: fn(u16) -> bool| -> u64 {
            s.http_statuses
                .iter()
                .filter(|(k, _)| pred(**k))
                .map(|(_, v)| v)
                .sum()
        };
        let mut line = format!(
            "{:<8} {:>5} {:>5} {:>5} {:>7} {:>9} {:>5} {:>5} {:>9.1}s {:>7} {:>8}",
            source.as_str(),
            s.tasks,
            s.done,
            s.dead,
            s.retries,
            s.api_calls,
            count(|c| c == 429),
            count(|c| c >= 500),
            s.rate_limit_wait_ms as f64 / 1000.0,
            s.bronze_pages,
            s.bronze_records
        );
        if let Some(served) = served {
            let n = served.get(source).copied().unwrap_or(0);
            let mark = if n == s.bronze_records {
                "= bronze"
            } else {
                "MISMATCH"
            };
            line.push_str(&format!(" {n:>6} {mark}"));
        }
        println!("{line}");
    }
    let n = &summary.normalized;
    println!(
        "silver: {} deployments, {} changes, {} Jira issues ({} resolved through their status); filtered: {} bot changes, {} bot commits, {} aborted builds; skipped: {} CI builds, {} unmerged PRs, {} merged PRs without usable commits; watched: {} running builds; gone: {}",
        n.deployments,
        n.changes,
        n.incidents,
        n.incidents_resolved_by_status,
        n.bot_changes_filtered,
        n.bot_commits_filtered,
        n.aborted_builds_filtered,
        n.non_deploy_builds_skipped,
        n.unmerged_changes_skipped,
        n.changes_without_commits,
        n.running_builds_skipped,
        n.items_gone
    );
    println!(
        "extract: {}",
        super::lines::extract_line(&summary.extracted, summary.gone)
    );
    println!("schema: {}", super::lines::schema_line(n));
    println!("changes: {}", super::lines::linkage_line(n));
    print!("gold: {} records", summary.gold_records);
    if summary.blocked_teams.is_empty() {
        println!();
    } else {
        println!(
            "; a task was dead-lettered for {}: the metrics reading its source are unknown for the days it missed (see the dead letters and the table below)",
            summary
                .blocked_teams
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for hold in &summary.holds {
        println!("held: {}", super::lines::hold_line(hold));
    }
    println!(
        "tasks {} (done {}, dead {}, unfinished {}), retries {}, dead letters archived {}, wall time {:.1} s",
        summary.tasks,
        summary.done,
        summary.dead,
        summary.unfinished,
        summary.retries,
        summary.dead_letters_archived,
        summary.wall.as_secs_f64()
    );
}
