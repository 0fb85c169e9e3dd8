//! Incremental truth: the simulated world keeps changing after each run has
//! read it — deployment statuses arrive hours later, builds run across run
//! boundaries, incidents are reopened, deployments deleted — and hourly
//! incremental runs must still end where one full run over the same days
//! ends, and both where the simulator's truth is.

mod common;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use common::{config, differences, gold, sim_over, values, warehouse};
use dorafleet_core::{Clock, Config, Window};
use dorafleet_sim::RunningSim;
use dorafleet_warehouse::Warehouse;
use std::sync::Arc;

const DAYS: u32 = 14;
const FAULTS: &[&str] = &["github:503@0.02", "jira:502@0.02", "jenkins:500@0.02"];

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The pipeline's config for the simulated world: it starts where the world
/// starts, and its clock is the simulator's.
fn evolving_config(sim: &RunningSim, start: DateTime<Utc>) -> Config {
    let mut config = config(sim, 10);
    config.sync.earliest = start.date_naive();
    config.sensors.enabled = false;
    config.clock = Clock::manual(start);
    config
}

/// One standalone run; what it found deleted, or `None` when nothing was planned.
async fn run_once(
    range: Option<Window>,
    config: &Config,
    warehouse: &Arc<dyn Warehouse>,
) -> Option<u64> {
    let summary = common::plan_and_run(range, config, warehouse).await;
    summary.map(|s| {
        assert_eq!(
            (s.dead, s.unfinished),
            (0, 0),
            "run {} at {}",
            s.run_id,
            config.now()
        );
        s.gone
    })
}

/// Moves the simulator's clock and the pipeline's together.
fn set_time(sim: &RunningSim, config: &Config, t: DateTime<Utc>) {
    sim.state().set_now(t);
    assert!(config.clock.set(t));
}

#[tokio::test]
async fn hourly_runs_over_an_evolving_world_equal_one_full_run_and_the_truth() {
    let start = midnight(end()) - Duration::days(i64::from(DAYS));
    // Seed 9's fortnight holds every late event the test is about (checked below).
    let sim = sim_over(9, DAYS, end(), 2, FAULTS).await;
    sim.state().set_now(start);
    let config = evolving_config(&sim, start);

    let hourly = warehouse();
    let (mut runs, mut gone) = (0, 0);
    for hour in 1..=i64::from(DAYS) * 24 {
        set_time(&sim, &config, start + Duration::hours(hour));
        if let Some(found) = run_once(None, &config, &hourly).await {
            runs += 1;
            gone += found;
        }
    }
    assert_eq!(runs, DAYS as usize * 24, "every hour planned a run");
    let now = midnight(end());
    assert_eq!(config.now(), now);

    let full = warehouse();
    let range = Window {
        from: start,
        to: now,
    };
    assert!(run_once(Some(range), &config, &full).await.is_some());

    let truth = sim.state().ground_truth();
    assert_eq!(
        truth.len(),
        DAYS as usize * 2 * dorafleet_sim::METRICS.len(),
        "14 days × 2 teams × 6 metrics"
    );
    let (hourly_gold, full_gold) = (gold(&hourly).await, gold(&full).await);
    let diffs = differences(&hourly_gold, &truth);
    assert!(
        diffs.is_empty(),
        "hourly runs vs truth:\n{}",
        diffs.join("\n")
    );
    let diffs = differences(&full_gold, &truth);
    assert!(diffs.is_empty(), "full run vs truth:\n{}", diffs.join("\n"));
    assert_eq!(values(&hourly_gold), values(&full_gold));

    // The world did change under the runs, in every way the test is about.
    let history = sim.state().history();
    let late_statuses = history
        .repos
        .iter()
        .flat_map(|r| &r.deployments)
        .filter(|d| d.created_at >= start && d.created_at < now)
        .filter(|d| {
            d.latest_status()
                .is_some_and(|s| s.created_at - d.created_at >= Duration::hours(1))
        })
        .count();
    let builds_across_runs = history
        .jenkins_jobs
        .iter()
        .flat_map(|j| &j.builds)
        .filter(|b| {
            b.finished_at()
                .is_some_and(|f| f < now && crosses_an_hour(b.started_at, f))
        })
        .count();
    let reopened = history
        .jira_projects
        .iter()
        .flat_map(|p| &p.issues)
        .filter(|i| {
            i.transitions
                .iter()
                .any(|t| t.to == "Reopened" && t.at < now)
        })
        .count();
    let deleted = history
        .repos
        .iter()
        .flat_map(|r| &r.deployments)
        .filter(|d| d.deleted_at.is_some_and(|t| t < now))
        .count();
    let without_resolution_date = history
        .jira_projects
        .iter()
        .flat_map(|p| &p.issues)
        .filter(|i| i.resolution_unset && i.created < now)
        .count();
    eprintln!(
        "{runs} hourly runs; late statuses {late_statuses}, builds across runs {builds_across_runs}, \
         reopened {reopened}, deleted deployments {deleted} (seen gone by a run: {gone}), \
         done without resolution date {without_resolution_date}"
    );
    assert!(
        late_statuses > 0
            && builds_across_runs > 0
            && reopened > 0
            && deleted > 0
            && without_resolution_date > 0,
        "late statuses {late_statuses}, builds across runs {builds_across_runs}, reopened {reopened}, \
         deleted {deleted}, without resolution date {without_resolution_date}"
    );
}

fn crosses_an_hour(from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let hour = |t: DateTime<Utc>| t.timestamp().div_euclid(3600);
    hour(from) != hour(to)
}
