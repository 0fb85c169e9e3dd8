//! Credentials benchmark: how many requests a budget-bound GitHub extract
//! sends per second with 1, 2 and 4 credentials of the same rate, through
//! the fleet-wide schedules kept in a SQLite warehouse (as workers do).
//! Prints figures, the ratio to one credential measured in the same run,
//! and each credential's busiest second in the simulator's request log;
//! asserts nothing about speed.
//!
//! Run with `scripts/bench.sh credentials`. Knobs (environment):
//! `DORAFLEET_BENCH_REQUESTS` (120 per run), `DORAFLEET_BENCH_RATE`
//! (20 requests per second per credential), `DORAFLEET_BENCH_TASKS`
//! (8 concurrent tasks).

use async_trait::async_trait;
use chrono::{DateTime, Duration as Span, Utc};
use dorafleet_core::config::CredentialConfig;
use dorafleet_core::{Secret, Source, SourceConfig, TaskError};
use dorafleet_sim::{RunningSim, SimOptions, credential_id};
use dorafleet_sources::{FleetBudget, PageRequest, SourceClient, endpoint};
use dorafleet_warehouse::RequestSlots;
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The workers' budget: slots in the warehouse, one schedule per credential.
#[derive(Debug)]
struct WarehouseSlots(Arc<SqliteWarehouse>);

#[async_trait]
impl FleetBudget for WarehouseSlots {
    async fn reserve(
        &self,
        schedule: &str,
        interval: Duration,
    ) -> Result<DateTime<Utc>, TaskError> {
        Ok(self
            .0
            .reserve_slot(&format!("requests.{schedule}"), interval)
            .await?)
    }

    async fn pause_until(&self, schedule: &str, until: DateTime<Utc>) -> Result<(), TaskError> {
        Ok(self
            .0
            .hold_slots_until(&format!("requests.{schedule}"), until)
            .await?)
    }
}

struct Run {
    seconds: f64,
    busiest: BTreeMap<String, usize>,
}

fn busiest_second(arrivals: &[DateTime<Utc>]) -> usize {
    arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|t| **t >= *start && **t < *start + Span::seconds(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

async fn run(
    sim: &RunningSim,
    credentials: usize,
    requests: usize,
    rate: u32,
    tasks: usize,
) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let warehouse =
        Arc::new(SqliteWarehouse::open(dir.path().join("slots.db")).expect("warehouse"));
    let tokens: Vec<String> = (0..credentials)
        .map(|i| format!("ghp_bench_{credentials}_{i}"))
        .collect();
    let mut config = SourceConfig::with_base_url(&sim.base_url(Source::Github), rate);
    config.credentials = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| CredentialConfig {
            name: format!("bench-{i}"),
            token: Some(Secret::new(token.clone())),
            ..CredentialConfig::default()
        })
        .collect();
    let client = SourceClient::new(Source::Github, &config)
        .expect("client")
        .with_fleet_budget(Arc::new(WarehouseSlots(warehouse)));
    let repos = sim.state().organisation().team_configs()[0]
        .github_repos
        .clone();
    sim.state().clear_request_log();

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let (client, next, repos) = (client.clone(), next.clone(), repos.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests {
                        break;
                    }
                    let repo = &repos[n % repos.len()];
                    let url = format!(
                        "/repos/{repo}/pulls?state=all&per_page=5&page={}",
                        1 + n / repos.len()
                    );
                    let request = PageRequest::new(endpoint::PULLS, url, 1);
                    client.get(&request).await.expect("a page");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("task");
    }
    let seconds = started.elapsed().as_secs_f64();
    let log = sim.state().request_log();
    let busiest = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let id = credential_id(token);
            let arrivals: Vec<_> = log
                .iter()
                .filter(|e| e.credential.as_deref() == Some(id.as_str()))
                .map(|e| e.at)
                .collect();
            (format!("bench-{i}"), busiest_second(&arrivals))
        })
        .collect();
    Run { seconds, busiest }
}

#[tokio::main]
async fn main() {
    let requests: usize = env_or("DORAFLEET_BENCH_REQUESTS", 120);
    let rate: u32 = env_or("DORAFLEET_BENCH_RATE", 20);
    let tasks: usize = env_or("DORAFLEET_BENCH_TASKS", 8);
    let sim = RunningSim::start(
        SimOptions {
            teams: 1,
            days: 30,
            github_hourly_limit: u32::MAX,
            ..SimOptions::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("simulator");
    println!(
        "credentials: {requests} GitHub requests, {tasks} concurrent tasks, {rate} requests/s per credential, fleet schedules in SQLite"
    );
    println!(
        "{:>11} {:>9} {:>10} {:>12}  busiest second per credential (limit {rate})",
        "credentials", "seconds", "requests/s", "vs 1 (same run)"
    );
    let mut baseline = None;
    for credentials in [1, 2, 4] {
        let run = run(&sim, credentials, requests, rate, tasks).await;
        let per_second = requests as f64 / run.seconds;
        let base = *baseline.get_or_insert(per_second);
        let busiest: Vec<String> = run
            .busiest
            .iter()
            .map(|(name, n)| format!("{name}={n}"))
            .collect();
        println!(
            "{credentials:>11} {:>9.2} {per_second:>10.1} {:>14.2}x  {}",
            run.seconds,
            per_second / base,
            busiest.join(" ")
        );
    }
    sim.shutdown().await;
}
