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
