//! A 1,000-repository organisation at the API's limit: 200 teams of 5
//! repositories (Jira projects and Jenkins jobs to match), GitHub read with
//! k credentials of their own budget each. Prints figures; asserts nothing.
//!
//! 1. The simulator alone: how many GitHub list requests per second it
//!    serves to 32 concurrent clients, so the figures below are known not to
//!    be the simulator's.
//! 2. A first sync bound by GitHub's budget: GitHub requests ÷ (k × the rate
//!    of one credential) is the floor; the span of the GitHub requests and
//!    the whole run's wall time are set against it, and the simulator's
//!    request log gives each credential's busiest second.
//! 3. Hourly incremental runs after it, with conditional requests on and
//!    off side by side (each on its own warehouse, first synced at the same
//!    instant): the GitHub requests counted against the hourly quota (every
//!    answer but a `304`), per run, with the share of repositories that
//!    changed in the hour (a repository changed when any of its pages was
//!    answered `200` with conditional requests on).
//!
//! Run with `scripts/bench.sh org`. Knobs (environment):
//! `DORAFLEET_BENCH_TEAMS` (200), `DORAFLEET_BENCH_REPOS_PER_TEAM` (5),
//! `DORAFLEET_BENCH_DAYS` (7; 365 is the year the issue names, about
//! 810,000 GitHub requests), `DORAFLEET_BENCH_CREDENTIALS` (4),
//! `DORAFLEET_BENCH_CREDENTIAL_RPS` (25 requests per second each),
//! `DORAFLEET_BENCH_HOURS` (10),
//! `DORAFLEET_BENCH_SYNC_HOUR` (13: the first sync at 13:00 UTC of the last
//! day, the hourly runs after it), `DORAFLEET_BENCH_CONCURRENCY` (32 tasks at
//! once).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use common::{config, warehouse};
use dorafleet_core::config::CredentialConfig;
use dorafleet_core::{Clock, Config, Secret, Source};
use dorafleet_sim::{RequestLogEntry, RunningSim, SimOptions, credential_id};
use dorafleet_standalone::StandaloneOptions;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Instant;
use support::*;

struct Knobs {
    teams: usize,
    repos_per_team: usize,
    days: u32,
    credentials: u32,
    rate: u32,
    hours: i64,
    sync_hour: i64,
    concurrency: usize,
}

impl Knobs {
    fn read() -> Knobs {
        Knobs {
            teams: knob("DORAFLEET_BENCH_TEAMS", 200) as usize,
            repos_per_team: knob("DORAFLEET_BENCH_REPOS_PER_TEAM", 5).max(2) as usize,
            days: knob("DORAFLEET_BENCH_DAYS", 7).max(1) as u32,
            credentials: knob("DORAFLEET_BENCH_CREDENTIALS", 4).max(1) as u32,
            rate: knob("DORAFLEET_BENCH_CREDENTIAL_RPS", 25).max(1) as u32,
            hours: knob("DORAFLEET_BENCH_HOURS", 10) as i64,
            sync_hour: knob("DORAFLEET_BENCH_SYNC_HOUR", 13).min(23) as i64,
            concurrency: knob("DORAFLEET_BENCH_CONCURRENCY", 32).max(1) as usize,
        }
    }

    fn options(&self) -> StandaloneOptions {
        StandaloneOptions {
            concurrency: self.concurrency,
            deadline: std::time::Duration::from_secs(4 * 3600),
            ..common::options()
        }
    }
}

fn token(i: u32) -> String {
    format!("bench-token-{i}")
}

/// GitHub through `k` credentials of `rate` requests per second each.
fn with_credentials(config: &Config, k: u32, rate: u32) -> Config {
    let mut config = config.clone();
    let github = &mut config.sources.github;
    github.credentials = (1..=k)
        .map(|i| CredentialConfig {
            name: format!("bench-{i}"),
            token: Some(Secret::new(token(i))),
            requests_per_second: NonZeroU32::new(rate),
            ..CredentialConfig::default()
        })
        .collect();
    config
}

#[tokio::main]
async fn main() {
    let knobs = Knobs::read();
    let end = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    let start = end.and_time(NaiveTime::MIN).and_utc() - Duration::days(i64::from(knobs.days));
    let built = Instant::now();
    // GitHub's hourly limit runs on real time; the bench counts requests,
    // it does not wait for resets.
    let sim = RunningSim::start(
        SimOptions {
            seed: 42,
            days: knobs.days,
            teams: knobs.teams,
            repos_per_team: knobs.repos_per_team,
            end_date: end,
            github_hourly_limit: u32::MAX,
            ..SimOptions::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("the simulator starts");
    let org = sim.state().organisation();
    println!(
        "organisation: {} teams, {} repositories, {} Jira projects, {} Jenkins jobs, {} days, seed 42 (generated in {:.1} s)",
        org.teams.len(),
        org.repos.len(),
        org.jira_projects.len(),
        org.jenkins_jobs.len(),
        knobs.days,
        built.elapsed().as_secs_f64()
    );
    simulator_alone(
        &sim,
        &org.repos.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
    )
    .await;

    let mut config = config(&sim, 6);
    config.sync.earliest = start.date_naive();
    config.sensors.enabled = false;
    let synced_at =
        start + Duration::days(i64::from(knobs.days) - 1) + Duration::hours(knobs.sync_hour);
    config.clock = Clock::manual(synced_at);
    sim.state().set_now(synced_at);
    for source in [Source::Jira, Source::Jenkins] {
        config.sources.get_mut(source).requests_per_second = NonZeroU32::new(2_000).unwrap();
    }
    let bound = with_credentials(&config, knobs.credentials, knobs.rate);

    let (hourly, hourly_off) = (warehouse(), warehouse());
    let (timer, began) = (Instant::now(), Utc::now());
    let first = run_logged_with(&sim, None, &bound, &hourly, knobs.options()).await;
    let wall = timer.elapsed().as_secs_f64();
    print_first_sync(&first, wall, &knobs);
    let github = first
        .iter()
        .filter(|e| e.source == Source::Github)
        .map(|e| e.at);
    if let (Some(first_at), Some(last_at)) = (github.clone().min(), github.max()) {
        println!(
            "  before the first GitHub request {:.1} s; after the last {:.1} s",
            seconds(first_at - began),
            seconds(began + Duration::milliseconds((wall * 1000.0) as i64) - last_at)
        );
    }

    // The hourly runs count requests; their budget does not bind.
    let unbound = with_credentials(&config, knobs.credentials, 2_000);
    let mut unconditional = unbound.clone();
    for source in Source::ALL {
        unconditional.sources.get_mut(source).conditional_requests = false;
    }
    let timer = Instant::now();
    run_logged_with(&sim, None, &unconditional, &hourly_off, knobs.options()).await;
    println!(
        "the second warehouse's first sync (conditional requests off, budget not binding): {:.1} s",
        timer.elapsed().as_secs_f64()
    );
    println!("hourly incremental runs, GitHub requests counted against its quota:");
    let mut per_hour = Vec::new();
    for hour in 1..=knobs.hours {
        set_time(&sim, &config, synced_at + Duration::hours(hour));
        let on = run_logged_with(&sim, None, &unbound, &hourly, knobs.options()).await;
        let off = run_logged_with(&sim, None, &unconditional, &hourly_off, knobs.options()).await;
        let ran = Hour {
            changed: changed_repos(&on).len(),
            counted_on: github_counted(&on),
            counted_off: github_counted(&off),
            requests_on: on.len() as u64,
        };
        println!(
            "  +{hour:>2} h: {:>4} of {} repositories changed ({:>5.1} %); on {:>5}, off {:>5}; on/off {:.3}",
            ran.changed,
            org.repos.len(),
            100.0 * ran.changed as f64 / org.repos.len().max(1) as f64,
            ran.counted_on,
            ran.counted_off,
            ran.counted_on as f64 / ran.counted_off.max(1) as f64,
        );
        // The first run after a sync of several days asks for the day's
        // commit lists, new URLs with nothing to revalidate (as every run
        // does after midnight): it says nothing about what changed.
        if hour > 1 {
            per_hour.push(ran);
        }
    }
    println!("  (the first hour is left out below: its commit lists are new URLs)");
    print_conditional(&per_hour, org.repos.len());
    sim.shutdown().await;
}

fn seconds(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// Part 1: GitHub list pages served per second to 32 concurrent clients.
async fn simulator_alone(sim: &RunningSim, repos: &[String]) {
    const CLIENTS: usize = 32;
    const FOR: std::time::Duration = std::time::Duration::from_secs(3);
    let base = sim.base_url(Source::Github);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, base, repos) = (client.clone(), base.clone(), repos.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut served = 0u64;
            let mut i = c;
            while started.elapsed() < FOR {
                let url = format!(
                    "{base}/repos/acme/{}/pulls?state=all&per_page=100",
                    repos[i % repos.len()]
                );
                let answered = client
                    .get(url)
                    .bearer_auth(token(1))
                    .send()
                    .await
                    .and_then(|r| r.error_for_status());
                if answered.is_ok() {
                    served += 1;
                }
                i += CLIENTS;
            }
            served
        }));
    }
    let mut served = 0;
    for task in tasks {
        served += task.await.unwrap_or(0);
    }
    println!(
        "simulator alone: {:.0} GitHub pull-request pages per second to {CLIENTS} concurrent clients",
        served as f64 / started.elapsed().as_secs_f64()
    );
    sim.state().clear_request_log();
}

/// Part 2: the budget-bound first sync against its floor, per credential.
fn print_first_sync(log: &[RequestLogEntry], wall: f64, knobs: &Knobs) {
    let github: Vec<&RequestLogEntry> = log.iter().filter(|e| e.source == Source::Github).collect();
    let budget = f64::from(knobs.credentials * knobs.rate);
    let floor = github.len() as f64 / budget;
    let span = match (
        github.iter().map(|e| e.at).min(),
        github.iter().map(|e| e.at).max(),
    ) {
        (Some(first), Some(last)) => (last - first).num_microseconds().unwrap_or(0) as f64 / 1e6,
        _ => 0.0,
    };
    println!(
        "first sync: {} requests ({} GitHub, {} Jira, {} Jenkins); GitHub through {} credentials of {}/s: floor {floor:.1} s",
        log.len(),
        github.len(),
        log.iter().filter(|e| e.source == Source::Jira).count(),
        log.iter().filter(|e| e.source == Source::Jenkins).count(),
        knobs.credentials,
        knobs.rate
    );
    println!(
        "  GitHub requests' span {span:.1} s ({:.3}x the floor); whole run {wall:.1} s ({:.3}x, normalize and aggregate included)",
        span / floor.max(f64::MIN_POSITIVE),
        wall / floor.max(f64::MIN_POSITIVE)
    );
    let mut by_credential: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    for entry in &github {
        let name = entry.credential.clone().unwrap_or_else(|| "none".into());
        by_credential.entry(name).or_default().push(entry.at);
    }
    let names: BTreeMap<String, String> = (1..=knobs.credentials)
        .map(|i| (credential_id(&token(i)), format!("bench-{i}")))
        .collect();
    for (id, times) in &by_credential {
        println!(
            "  credential {} ({id}): {} requests, busiest second {} (budget {})",
            names.get(id).map_or("?", String::as_str),
            times.len(),
            max_in_any_second(times),
            knobs.rate
        );
    }
}
