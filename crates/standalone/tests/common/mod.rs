//! What the coordinator's end-to-end tests share: a simulator, a config that
//! reads it, and a standalone run over its whole history.

#![allow(dead_code)]

use chrono::{NaiveDate, NaiveTime};
use dorafleet_core::{Config, Metric, RetryPolicy, Source, Window};
use dorafleet_sim::{RunningSim, SimOptions, TruthRecord};
use dorafleet_sources::SourceClient;
use dorafleet_standalone::{RunSummary, StandaloneOptions, run_standalone};
use dorafleet_warehouse::{GoldFilter, GoldRecord, Warehouse, sqlite::SqliteWarehouse};
use std::sync::Arc;
use std::time::Duration;

pub const DAYS: u32 = 30;

pub fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

pub fn window() -> Window {
    window_of(DAYS)
}

/// The `days` days up to [`end`].
pub fn window_of(days: u32) -> Window {
    let to = end().and_time(NaiveTime::MIN).and_utc();
    Window {
        from: to - chrono::Duration::days(i64::from(days)),
        to,
    }
}

pub async fn sim(teams: usize, faults: &[&str]) -> RunningSim {
    sim_over(11, DAYS, end(), teams, faults).await
}

/// A simulator of `days` days up to `end_date` (exclusive), seeded.
pub async fn sim_over(
    seed: u64,
    days: u32,
    end_date: NaiveDate,
    teams: usize,
    faults: &[&str],
) -> RunningSim {
    let options = SimOptions {
        seed,
        days,
        teams,
        end_date,
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        ..SimOptions::default()
    };
    RunningSim::start(options, "127.0.0.1:0").await.unwrap()
}

/// The simulator's own config, pointed at it, with a fast retry policy.
pub fn config(sim: &RunningSim, max_attempts: u32) -> Config {
    let org = sim.state().organisation();
    let mut config = Config::from_toml(&org.config_toml("http://127.0.0.1:1")).unwrap();
    for source in Source::ALL {
        let s = config.sources.get_mut(source);
        s.base_url = sim
            .base_url(source)
            .parse()
            .expect("the simulator's URL parses");
        s.requests_per_second = std::num::NonZeroU32::new(500).unwrap();
        s.timeout = std::time::Duration::from_millis(5_000);
        s.page_size = 25;
    }
    config.retry = RetryPolicy {
        base_ms: 20,
        factor: 2.0,
        cap_ms: 200,
        max_attempts,
    };
    config
}

pub fn clients(config: &Config) -> Vec<(SourceClient, u32)> {
    Source::ALL
        .into_iter()
        .map(|s| {
            let c = config.sources.get(s);
            (SourceClient::new(s, c).unwrap(), c.page_size)
        })
        .collect()
}

pub fn warehouse() -> Arc<dyn Warehouse> {
    Arc::new(SqliteWarehouse::open_in_memory().unwrap())
}

/// One standalone run over the simulator's whole history.
pub async fn run(config: &Config, warehouse: &Arc<dyn Warehouse>) -> RunSummary {
    run_over(window(), config, warehouse).await
}

/// How the tests run the pipeline in process: every source, 4 tasks at once.
pub fn options() -> StandaloneOptions {
    StandaloneOptions {
        sources: Source::ALL.to_vec(),
        concurrency: 4,
        worker_name: "test".into(),
        deadline: Duration::from_secs(120),
    }
}

/// One standalone run over `window`.
pub async fn run_over(
    window: Window,
    config: &Config,
    warehouse: &Arc<dyn Warehouse>,
) -> RunSummary {
    plan_and_run(Some(window), config, warehouse)
        .await
        .expect("a run was planned")
}

/// One standalone run over `range`, or incremental without one; `None`
/// when there was nothing to plan.
pub async fn plan_and_run(
    range: Option<Window>,
    config: &Config,
    warehouse: &Arc<dyn Warehouse>,
) -> Option<RunSummary> {
    plan_and_run_with(range, config, warehouse, options()).await
}

/// [`plan_and_run`] with other options (more tasks at once, a longer deadline).
pub async fn plan_and_run_with(
    range: Option<Window>,
    config: &Config,
    warehouse: &Arc<dyn Warehouse>,
    options: StandaloneOptions,
) -> Option<RunSummary> {
    run_standalone(
        range,
        Arc::clone(warehouse),
        clients(config),
        Arc::new(config.clone()),
        options,
        |_| {},
    )
    .await
    .unwrap()
}

pub async fn gold(warehouse: &Arc<dyn Warehouse>) -> Vec<GoldRecord> {
    warehouse.gold(&GoldFilter::default()).await.unwrap()
}

/// Every difference between gold and the simulator's truth, as readable lines.
pub fn differences(gold: &[GoldRecord], truth: &[TruthRecord]) -> Vec<String> {
    let observed: Vec<TruthRecord> = gold
        .iter()
        .map(|g| TruthRecord {
            team: g.team_id.clone(),
            date: g.date,
            metric: g.metric.as_str().to_owned(),
            value: g.value,
            sample_size: g.sample_size,
        })
        .collect();
    dorafleet_sim::differences(truth, &observed)
}

/// Whether `metric` (a truth record's name) reads `source` under the
/// default definitions.
pub fn reads(metric: &str, source: Source) -> bool {
    let metric: Metric = metric.parse().expect("a metric name");
    dorafleet_core::Definitions::default()
        .inputs(metric)
        .contains(&source)
}

/// `truth` without the records of `team` whose metric reads `source`: what
/// gold must equal when that input of that team is down, held or faulty.
pub fn truth_without(truth: &[TruthRecord], team: &str, source: Source) -> Vec<TruthRecord> {
    truth
        .iter()
        .filter(|t| t.team != team || !reads(&t.metric, source))
        .cloned()
        .collect()
}

/// Whether no gold record of `team` is of a metric reading `source`.
pub fn no_gold_reading(gold: &[GoldRecord], team: &str, source: Source) -> bool {
    gold.iter()
        .filter(|g| g.team_id == team)
        .all(|g| !reads(g.metric.as_str(), source))
}

/// Gold values keyed for comparison, without run ids and computation times.
pub fn values(gold: &[GoldRecord]) -> Vec<(String, NaiveDate, Metric, Option<f64>, u64, u32)> {
    gold.iter()
        .map(|g| {
            (
                g.team_id.clone(),
                g.date,
                g.metric,
                g.value,
                g.sample_size,
                g.definition_version,
            )
        })
        .collect()
}
