//! What an hourly incremental run costs in API requests on the evolving
//! world: a first sync of 21 days, then one incremental run per simulated
//! hour for two days, each reading the window since the last run plus the
//! records still watched (deployments without a final status, running
//! builds). Its requests are set against a full re-crawl of everything
//! covered, which is what keeping the numbers right would cost without
//! watermarks and watch rules. Prints figures; asserts nothing.
//!
//! Run with `scripts/bench.sh incremental` (knobs: DORAFLEET_BENCH_TEAMS,
//! default 5; DORAFLEET_BENCH_HOURS, default 48).

#[path = "../tests/common/mod.rs"]
mod common;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use common::{config, warehouse};
use dorafleet_core::{Clock, Config, Source, Window};
use dorafleet_sim::{RunningSim, SimOptions};
use dorafleet_warehouse::Warehouse;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const HISTORY_DAYS: u32 = 21;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Requests the simulator received during one run, per source.
async fn run_counting(
    sim: &RunningSim,
    range: Option<Window>,
    config: &Config,
    warehouse: &Arc<dyn Warehouse>,
) -> BTreeMap<Source, u64> {
    sim.state().clear_request_log();
    common::plan_and_run(range, config, warehouse).await;
    let mut by_source = BTreeMap::new();
    for entry in sim.state().request_log() {
        *by_source.entry(entry.source).or_insert(0) += 1;
    }
    by_source
}

fn total(counts: &BTreeMap<Source, u64>) -> u64 {
    counts.values().sum()
}

fn set_time(sim: &RunningSim, config: &Config, t: DateTime<Utc>) {
    sim.state().set_now(t);
    config.clock.set(t);
}

#[tokio::main]
async fn main() {
    let teams = knob("DORAFLEET_BENCH_TEAMS", 5) as usize;
    let hours = knob("DORAFLEET_BENCH_HOURS", 48) as i64;
    let end = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    let start = end.and_time(NaiveTime::MIN).and_utc() - Duration::days(i64::from(HISTORY_DAYS));
    // GitHub's hourly limit runs on real time; the bench counts requests,
    // it does not wait for resets.
    let sim = RunningSim::start(
        SimOptions {
            seed: 42,
            days: HISTORY_DAYS,
            teams,
            end_date: end,
            github_hourly_limit: u32::MAX,
            ..SimOptions::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("the simulator starts");
    let mut config = config(&sim, 6);
    config.sync.earliest = start.date_naive();
    config.sensors.enabled = false;
    let synced_at = start + Duration::days(i64::from(HISTORY_DAYS) - 3) + Duration::hours(9);
    config.clock = Clock::manual(synced_at);
    sim.state().set_now(synced_at);

    let hourly = warehouse();
    let first = run_counting(&sim, None, &config, &hourly).await;
    let mut per_run = Vec::new();
    let mut per_source: BTreeMap<Source, u64> = BTreeMap::new();
    let timer = Instant::now();
    for hour in 1..=hours {
        set_time(&sim, &config, synced_at + Duration::hours(hour));
        let counts = run_counting(&sim, None, &config, &hourly).await;
        for (source, n) in &counts {
            *per_source.entry(*source).or_insert(0) += n;
        }
        per_run.push(total(&counts));
    }
    let hourly_wall = timer.elapsed();
    let now = config.now();
    let full = run_counting(
        &sim,
        Some(Window {
            from: start,
            to: now,
        }),
        &config,
        &warehouse(),
    )
    .await;

    per_run.sort_unstable();
    let mean = per_run.iter().sum::<u64>() as f64 / per_run.len().max(1) as f64;
    let median = per_run[per_run.len() / 2];
    let max = per_run.last().copied().unwrap_or(0);
    let full_total = total(&full);
    println!("evolving world: {teams} teams, {HISTORY_DAYS} days, seed 42, faults off");
    println!(
        "first sync ({} days): {} requests",
        (synced_at - start).num_days(),
        total(&first)
    );
    println!(
        "{hours} hourly incremental runs: requests per run median {median}, mean {mean:.1}, max {max}; {:.2} s per run",
        hourly_wall.as_secs_f64() / hours as f64
    );
    for (source, n) in &per_source {
        println!(
            "  {:<8} {:.1} requests per run",
            source.as_str(),
            *n as f64 / hours as f64
        );
    }
    println!(
        "full re-crawl of the covered window [{}, {}): {full_total} requests",
        start.format("%Y-%m-%d"),
        now.format("%Y-%m-%d %H:%M")
    );
    println!(
        "hourly run / full re-crawl: {:.4} (mean), {:.4} (max)",
        mean / full_total as f64,
        max as f64 / full_total as f64
    );
    sim.shutdown().await;
}
