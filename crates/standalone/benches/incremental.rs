//! What an hourly incremental run costs in API requests on the evolving
//! world, and how close a sync bound by its request budget finishes to its
//! floor. Prints figures; asserts nothing.
//!
//! 1. A first sync of 21 days, then one incremental run per simulated hour
//!    for two days, each reading the window since the last run plus the
//!    records still watched (deployments without a final status, running
//!    builds). Its requests are set against a full re-crawl of everything
//!    covered, which is what keeping the numbers right would cost without
//!    watermarks and watch rules.
//! 2. The same hourly runs side by side with conditional requests on and
//!    off (`sources.<source>.conditional_requests`), each on its own
//!    warehouse after its own first sync: the GitHub requests counted
//!    against GitHub's hourly quota (every answer but a `304`), per run and
//!    by the share of repositories that changed in the hour (a repository
//!    changed when any of its pages was answered `200` with conditional
//!    requests on).
//! 3. A first sync bound by GitHub's configured budget
//!    (`DORAFLEET_BENCH_GITHUB_RPS` requests per second): its GitHub
//!    requests' span and the whole run's wall time against the floor
//!    (requests ÷ budget), and the most requests the simulator received in
//!    any one second.
//!
//! Run with `scripts/bench.sh incremental` (knobs: DORAFLEET_BENCH_TEAMS,
//! default 5; DORAFLEET_BENCH_HOURS, default 48; DORAFLEET_BENCH_GITHUB_RPS,
//! default 40).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use common::{config, warehouse};
use dorafleet_core::{Clock, Config, Source, Window};
use dorafleet_sim::{RunningSim, SimOptions};
use std::collections::BTreeMap;
use std::time::Instant;
use support::*;

const HISTORY_DAYS: u32 = 21;

#[tokio::main]
async fn main() {
    let teams = knob("DORAFLEET_BENCH_TEAMS", 5) as usize;
    let hours = knob("DORAFLEET_BENCH_HOURS", 48) as i64;
    let github_rps = knob("DORAFLEET_BENCH_GITHUB_RPS", 40) as u32;
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
    // The same clock: both see every hour at once.
    let mut unconditional = config.clone();
    for source in Source::ALL {
        unconditional.sources.get_mut(source).conditional_requests = false;
    }
    let repos: usize = sim
        .state()
        .organisation()
        .team_configs()
        .iter()
        .map(|t| t.github_repos.len())
        .sum();

    let (hourly, hourly_off) = (warehouse(), warehouse());
    let first = run_logged(&sim, None, &config, &hourly).await;
    run_logged(&sim, None, &unconditional, &hourly_off).await;
    let mut per_hour = Vec::new();
    let mut by_source: BTreeMap<Source, u64> = BTreeMap::new();
    let mut hourly_wall = std::time::Duration::ZERO;
    for hour in 1..=hours {
        set_time(&sim, &config, synced_at + Duration::hours(hour));
        let timer = Instant::now();
        let on = run_logged(&sim, None, &config, &hourly).await;
        hourly_wall += timer.elapsed();
        let off = run_logged(&sim, None, &unconditional, &hourly_off).await;
        for (source, n) in per_source(&on) {
            *by_source.entry(source).or_insert(0) += n;
        }
        per_hour.push(Hour {
            changed: changed_repos(&on).len(),
            counted_on: github_counted(&on),
            counted_off: github_counted(&off),
            requests_on: on.len() as u64,
        });
    }
    let now = config.now();
    let full = run_logged(
        &sim,
        Some(Window {
            from: start,
            to: now,
        }),
        &config,
        &warehouse(),
    )
    .await;

    let mut per_run: Vec<u64> = per_hour.iter().map(|h| h.requests_on).collect();
    per_run.sort_unstable();
    let mean = per_run.iter().sum::<u64>() as f64 / per_run.len().max(1) as f64;
    let median = per_run[per_run.len() / 2];
    let max = per_run.last().copied().unwrap_or(0);
    let full_total = full.len() as u64;
    println!(
        "evolving world: {teams} teams, {repos} repositories, {HISTORY_DAYS} days, seed 42, faults off"
    );
    println!(
        "first sync ({} days): {} requests",
        (synced_at - start).num_days(),
        first.len()
    );
    println!(
        "{hours} hourly incremental runs: requests per run median {median}, mean {mean:.1}, max {max}; {:.2} s per run",
        hourly_wall.as_secs_f64() / hours as f64
    );
    for (source, n) in &by_source {
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
    print_conditional(&per_hour, repos);
    budget_bound_sync(&sim, &config, github_rps).await;
    sim.shutdown().await;
}

/// Part 3: a first sync whose GitHub budget binds, against its floor.
async fn budget_bound_sync(sim: &RunningSim, config: &Config, github_rps: u32) {
    let mut bound = config.clone();
    bound.sources.github.requests_per_second =
        std::num::NonZeroU32::new(github_rps.max(1)).expect("at least 1");
    let timer = Instant::now();
    let log = run_logged(sim, None, &bound, &warehouse()).await;
    let wall = timer.elapsed().as_secs_f64();
    let github: Vec<DateTime<Utc>> = log
        .iter()
        .filter(|e| e.source == Source::Github)
        .map(|e| e.at)
        .collect();
    let n = github.len() as f64;
    let floor = n / f64::from(github_rps);
    let span = match (github.iter().min(), github.iter().max()) {
        (Some(first), Some(last)) => (*last - *first).num_microseconds().unwrap_or(0) as f64 / 1e6,
        _ => 0.0,
    };
    println!(
        "budget-bound first sync: {} GitHub requests at {github_rps}/s, floor {floor:.2} s",
        github.len()
    );
    println!(
        "  GitHub requests' span {span:.2} s ({:.3}x the floor); whole run {wall:.2} s ({:.3}x, normalize and aggregate included)",
        span / floor.max(f64::MIN_POSITIVE),
        wall / floor.max(f64::MIN_POSITIVE)
    );
    println!(
        "  most GitHub requests received in any one second: {} (budget {github_rps})",
        max_in_any_second(&github)
    );
}
