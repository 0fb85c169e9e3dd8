//! What the API benchmarks share: runs that return what the simulator
//! received, and readings of its request log (requests per source, those
//! GitHub's quota counts, repositories that changed, the busiest second).

#![allow(dead_code)]

use crate::common;
use chrono::{DateTime, Duration, Utc};
use dorafleet_core::{Config, Source, Window};
use dorafleet_sim::{RequestLogEntry, RunningSim};
use dorafleet_standalone::StandaloneOptions;
use dorafleet_warehouse::Warehouse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs one standalone run and returns what the simulator received.
pub async fn run_logged(
    sim: &RunningSim,
    range: Option<Window>,
    config: &Config,
    warehouse: &Arc<dyn Warehouse>,
) -> Vec<RequestLogEntry> {
    run_logged_with(sim, range, config, warehouse, common::options()).await
}

/// [`run_logged`] with other standalone options.
pub async fn run_logged_with(
    sim: &RunningSim,
    range: Option<Window>,
    config: &Config,
    warehouse: &Arc<dyn Warehouse>,
    options: StandaloneOptions,
) -> Vec<RequestLogEntry> {
    sim.state().clear_request_log();
    common::plan_and_run_with(range, config, warehouse, options).await;
    sim.state().request_log()
}

pub fn per_source(log: &[RequestLogEntry]) -> BTreeMap<Source, u64> {
    let mut by_source = BTreeMap::new();
    for entry in log {
        *by_source.entry(entry.source).or_insert(0) += 1;
    }
    by_source
}

/// GitHub requests its hourly quota counts: every answer but a `304` (and
/// the 403 of a spent quota, which never comes here: the limit is off).
pub fn github_counted(log: &[RequestLogEntry]) -> u64 {
    log.iter()
        .filter(|e| e.source == Source::Github && e.status != 304)
        .count() as u64
}

/// The repository (`owner/name`) a GitHub request was about.
pub fn repo_of(entry: &RequestLogEntry) -> Option<String> {
    let rest = entry.path.split_once("/repos/")?.1;
    let mut parts = rest.split('/');
    Some(format!("{}/{}", parts.next()?, parts.next()?))
}

/// Repositories with at least one page answered `200`: they changed.
pub fn changed_repos(log: &[RequestLogEntry]) -> BTreeSet<String> {
    log.iter()
        .filter(|e| e.source == Source::Github && e.status == 200)
        .filter_map(repo_of)
        .collect()
}

pub fn set_time(sim: &RunningSim, config: &Config, t: DateTime<Utc>) {
    sim.state().set_now(t);
    config.clock.set(t);
}

/// The most of `times` inside any window `[t, t + 1 s)`.
pub fn max_in_any_second(times: &[DateTime<Utc>]) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    (0..sorted.len())
        .map(|i| {
            sorted[i..]
                .iter()
                .take_while(|t| **t - sorted[i] < Duration::seconds(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// One hour's runs, side by side.
pub struct Hour {
    pub changed: usize,
    pub counted_on: u64,
    pub counted_off: u64,
    pub requests_on: u64,
}

/// GitHub requests counted against its quota, conditional requests
/// on vs off, by the share of repositories that changed in the hour.
pub fn print_conditional(per_hour: &[Hour], repos: usize) {
    println!("conditional requests, GitHub requests counted against its hourly quota per run:");
    let bands: [(&str, f64, f64); 4] = [
        ("no repository changed", 0.0, 0.0),
        ("under 5 % changed", f64::MIN_POSITIVE, 0.05),
        ("5-15 % changed (~10 %)", 0.05, 0.15),
        ("over 15 % changed", 0.15, 1.01),
    ];
    for (label, low, high) in bands {
        let runs: Vec<&Hour> = per_hour
            .iter()
            .filter(|h| {
                let share = h.changed as f64 / repos.max(1) as f64;
                if high == 0.0 {
                    share == 0.0
                } else {
                    share >= low && share < high
                }
            })
            .collect();
        if runs.is_empty() {
            continue;
        }
        let on: u64 = runs.iter().map(|h| h.counted_on).sum();
        let off: u64 = runs.iter().map(|h| h.counted_off).sum();
        let changed: usize = runs.iter().map(|h| h.changed).sum();
        println!(
            "  {label:<24} {:>3} runs, {:.1} of {repos} repos changed: on {:.1}, off {:.1} per run; on/off {:.3}",
            runs.len(),
            changed as f64 / runs.len() as f64,
            on as f64 / runs.len() as f64,
            off as f64 / runs.len() as f64,
            on as f64 / off.max(1) as f64
        );
    }
    let on: u64 = per_hour.iter().map(|h| h.counted_on).sum();
    let off: u64 = per_hour.iter().map(|h| h.counted_off).sum();
    println!(
        "  all {} runs: on {on}, off {off}; on/off {:.3} (target <= 0.15 where ~10 % changed)",
        per_hour.len(),
        on as f64 / off.max(1) as f64
    );
}
