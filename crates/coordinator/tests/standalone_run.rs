//! A standalone run extracts every scope of the simulated organisation into
//! bronze, retrying injected faults and dead-lettering what cannot succeed.

use chrono::{NaiveDate, NaiveTime};
use dorafleet_coordinator::{StandaloneOptions, plan_extract, run_standalone};
use dorafleet_core::{Config, RetryPolicy, Source, SourceConfig, Window};
use dorafleet_sim::{RunningSim, SimOptions};
use dorafleet_sources::SourceClient;
use dorafleet_warehouse::{Warehouse, sqlite::SqliteWarehouse};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const DAYS: u32 = 30;

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

async fn sim(faults: &[&str]) -> RunningSim {
    let options = SimOptions {
        seed: 11,
        days: DAYS,
        teams: 2,
        end_date: end(),
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        ..SimOptions::default()
    };
    RunningSim::start(options, "127.0.0.1:0").await.unwrap()
}

fn clients(sim: &RunningSim) -> Vec<(SourceClient, u32)> {
    Source::ALL
        .into_iter()
        .map(|source| {
            let config = SourceConfig {
                base_url: sim.base_url(source),
                requests_per_second: 500,
                timeout_ms: 5_000,
                page_size: 25,
                ..SourceConfig::default()
            };
            (SourceClient::new(source, &config).unwrap(), 25)
        })
        .collect()
}

fn options(max_attempts: u32) -> StandaloneOptions {
    StandaloneOptions {
        concurrency: 4,
        retry: RetryPolicy {
            base_ms: 20,
            factor: 2.0,
            cap_ms: 200,
            max_attempts,
        },
        worker_name: "test".into(),
        deadline: Duration::from_secs(120),
    }
}

fn window() -> Window {
    let to = end().and_time(NaiveTime::MIN).and_utc();
    Window {
        from: to - chrono::Duration::days(i64::from(DAYS)),
        to,
    }
}

#[tokio::test]
async fn a_run_with_faults_retries_them_and_bronze_holds_exactly_what_was_served() {
    let sim = sim(&["github:503@0.05", "jira:429=1#1", "jenkins:500@0.05"]).await;
    let config = Config {
        teams: sim.state().organisation().team_configs(),
        ..Config::default()
    };
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let tasks = plan_extract(&config, Uuid::now_v7(), &Source::ALL, |_, _| Some(window()));
    let expected_tasks = tasks.len();
    let summary = run_standalone(
        tasks,
        Arc::clone(&warehouse),
        clients(&sim),
        options(10),
        |_| {},
    )
    .await
    .unwrap();

    assert_eq!(summary.tasks, expected_tasks);
    let letters = warehouse.dead_letters(10).await.unwrap();
    assert_eq!(
        (summary.done, summary.dead, summary.unfinished),
        (expected_tasks, 0, 0),
        "{letters:#?}"
    );
    let log = sim.state().request_log();
    let injected = log
        .iter()
        .filter(|e| e.fault.is_some() && e.status >= 429)
        .count() as u64;
    assert!(injected > 0, "the faults fired");
    assert_eq!(
        summary.retries, injected,
        "every injected failure was retried once"
    );
    let served = sim.state().served_records();
    for source in Source::ALL {
        let s = &summary.by_source[&source];
        assert_eq!(
            s.bronze_records, served[&source],
            "{source}: bronze = served"
        );
        assert_eq!(
            s.api_calls as usize,
            log.iter().filter(|e| e.source == source).count()
        );
    }
}

#[tokio::test]
async fn a_source_that_always_fails_is_dead_lettered_into_the_warehouse_and_others_complete() {
    let sim = sim(&["jenkins:503@1"]).await;
    let config = Config {
        teams: sim.state().organisation().team_configs(),
        retry: options(3).retry,
        ..Config::default()
    };
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let tasks = plan_extract(&config, Uuid::now_v7(), &Source::ALL, |_, _| Some(window()));
    let jenkins_tasks = tasks
        .iter()
        .filter(|t| t.source == Some(Source::Jenkins))
        .count();
    let summary = run_standalone(
        tasks,
        Arc::clone(&warehouse),
        clients(&sim),
        options(3),
        |_| {},
    )
    .await
    .unwrap();

    assert_eq!(summary.dead, jenkins_tasks);
    assert_eq!(summary.by_source[&Source::Jenkins].dead, jenkins_tasks);
    assert_eq!(summary.by_source[&Source::Github].dead, 0);
    assert_eq!(summary.dead_letters_archived, jenkins_tasks);
    let letters = warehouse.dead_letters(100).await.unwrap();
    assert_eq!(letters.len(), jenkins_tasks);
    for letter in letters {
        assert_eq!(letter.source, Some(Source::Jenkins));
        assert_eq!(letter.attempts.len(), 3, "one history entry per attempt");
        assert!(letter.reason.contains("HTTP 503"), "{}", letter.reason);
    }
}
