//! An extract task's crawl: it resumes from its checkpoint after failing
//! mid-crawl, stores every page once, and keeps several requests in flight.

use chrono::{NaiveDate, NaiveTime};
use dorafleet_core::{Scope, Source, SourceConfig, Stage, TaskEnvelope, TaskError, Window};
use dorafleet_sim::{RunningSim, SimOptions};
use dorafleet_sources::SourceClient;
use dorafleet_stages::ExtractHandler;
use dorafleet_warehouse::{BronzeFilter, Warehouse, sqlite::SqliteWarehouse};
use dorafleet_worker::StageHandler;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

const END: (i32, u32, u32) = (2026, 6, 1);

async fn sim(faults: &[&str]) -> RunningSim {
    let options = SimOptions {
        seed: 7,
        days: 30,
        teams: 1,
        end_date: NaiveDate::from_ymd_opt(END.0, END.1, END.2).unwrap(),
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        ..SimOptions::default()
    };
    RunningSim::start(options, "127.0.0.1:0").await.unwrap()
}

fn client(sim: &RunningSim, source: Source) -> SourceClient {
    client_with_in_flight(
        sim,
        source,
        SourceConfig::default().requests_in_flight_per_task,
    )
}

fn client_with_in_flight(sim: &RunningSim, source: Source, in_flight: u32) -> SourceClient {
    let config = SourceConfig {
        base_url: sim.base_url(source).parse().unwrap(),
        requests_per_second: std::num::NonZeroU32::new(1000).unwrap(),
        timeout: std::time::Duration::from_millis(5_000),
        page_size: 10,
        requests_in_flight_per_task: in_flight,
        ..SourceConfig::default()
    };
    SourceClient::new(source, &config).unwrap()
}

fn extract_task(source: Source, team: &str, target: &str) -> TaskEnvelope {
    let to = NaiveDate::from_ymd_opt(END.0, END.1, END.2)
        .unwrap()
        .and_time(NaiveTime::MIN)
        .and_utc();
    TaskEnvelope::new(
        Uuid::now_v7(),
        Stage::Extract,
        Some(source),
        Scope {
            team: team.into(),
            target: Some(target.into()),
        },
        Window {
            from: to - chrono::Duration::days(30),
            to,
        },
        5,
    )
}

#[tokio::test]
async fn a_task_failing_mid_crawl_one_request_at_a_time_resumes_at_its_checkpoint_and_fetches_no_page_twice()
 {
    let fetched_twice = fail_mid_crawl_and_resume(1).await;
    assert_eq!(fetched_twice, 0);
}

#[tokio::test]
async fn a_task_failing_mid_crawl_with_requests_in_flight_stores_what_they_brought_and_fetches_no_page_twice()
 {
    let fetched_twice = fail_mid_crawl_and_resume(4).await;
    assert_eq!(fetched_twice, 0);
}

/// `task`'s next attempt, after its current one failed with `error`
/// having stored pages.
fn after_failure(task: &TaskEnvelope, error: &TaskError) -> TaskEnvelope {
    task.next_attempt(dorafleet_core::AttemptRecord {
        attempt: task.attempt,
        at: chrono::Utc::now(),
        worker: "test".into(),
        class: error.class(),
        message: error.to_string(),
        progressed: true,
    })
}

/// The bronze pages `task_id` stored.
async fn task_pages(
    warehouse: &dyn Warehouse,
    task_id: Uuid,
) -> Vec<dorafleet_warehouse::BronzePage> {
    let filter = BronzeFilter {
        task_id: Some(task_id),
        ..Default::default()
    };
    warehouse.bronze_pages(&filter).await.unwrap()
}

/// Fails a GitHub crawl with `in_flight` requests per task on its first
/// child list, runs it again, checks that it resumed from its checkpoint
/// and stored each page once, and returns how many pages were fetched twice.
async fn fail_mid_crawl_and_resume(in_flight: u32) -> usize {
    let sim = sim(&["github/pull_commits:503#1"]).await;
    let team = sim.state().organisation().team_configs()[0].clone();
    let repo = team.github_repos[0].clone();
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let handler = ExtractHandler::new(Arc::clone(&warehouse))
        .with_client(client_with_in_flight(&sim, Source::Github, in_flight), 10);
    let task = extract_task(Source::Github, &team.id, &repo);

    let first = handler.handle(&task).await;
    assert!(
        matches!(first.result, Err(TaskError::Transient { .. })),
        "{:?}",
        first.result
    );
    let checkpoint = warehouse
        .extract_checkpoint(task.task_id)
        .await
        .unwrap()
        .expect("pages before the failure were checkpointed");
    assert!(checkpoint.pages_done >= 1 && !checkpoint.completed);

    let second = handler
        .handle(&after_failure(&task, &TaskError::transient("503")))
        .await;
    assert_eq!(second.result, Ok(()));

    let log = sim.state().request_log();
    let mut ok_per_url: HashMap<String, usize> = HashMap::new();
    // Records of each page, counted once however often it was fetched.
    let mut records_once = 0;
    for entry in log.iter().filter(|e| e.status == 200) {
        let url = format!("{}?{}", entry.path, entry.query.clone().unwrap_or_default());
        let fetched = ok_per_url.entry(url).or_default();
        if *fetched == 0 {
            records_once += entry.records;
        }
        *fetched += 1;
    }
    assert!(
        ok_per_url.values().all(|n| *n <= 2),
        "a page was fetched three times: {ok_per_url:?}"
    );
    let fetched_twice = ok_per_url.values().filter(|n| **n == 2).count();
    let failed: Vec<_> = log.iter().filter(|e| e.status == 503).collect();
    assert_eq!(failed.len(), 1);
    let retried = log
        .iter()
        .filter(|e| e.path == failed[0].path && e.query == failed[0].query)
        .count();
    assert_eq!(retried, 2, "the failed page is fetched again, once");

    let pages = task_pages(warehouse.as_ref(), task.task_id).await;
    assert_eq!(pages.len(), ok_per_url.len());
    let bronze_records: u64 = pages.iter().map(|p| p.record_count).sum();
    assert_eq!(bronze_records, records_once);
    assert!(
        warehouse
            .extract_checkpoint(task.task_id)
            .await
            .unwrap()
            .unwrap()
            .completed
    );
    fetched_twice
}

/// The pages (endpoint, request, page) a GitHub crawl of the first repo
/// stored, run to completion over as many attempts as it takes; and the
/// checkpoints written along the way.
async fn crawl_to_the_end(faults: &[&str], in_flight: u32) -> (Vec<String>, Vec<String>) {
    let sim = sim(faults).await;
    let team = sim.state().organisation().team_configs()[0].clone();
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let handler = ExtractHandler::new(Arc::clone(&warehouse))
        .with_client(client_with_in_flight(&sim, Source::Github, in_flight), 10);
    let mut task = extract_task(Source::Github, &team.id, &team.github_repos[0]);
    let mut checkpoints = Vec::new();
    for attempt in 1.. {
        let outcome = handler.handle(&task).await;
        if let Some(checkpoint) = warehouse.extract_checkpoint(task.task_id).await.unwrap() {
            checkpoints.push(checkpoint.state);
        }
        match outcome.result {
            Ok(()) => break,
            Err(e) => {
                assert!(attempt < 40, "still failing after {attempt} attempts: {e}");
                task = after_failure(&task, &e);
            }
        }
    }
    let pages = task_pages(warehouse.as_ref(), task.task_id).await;
    // Followed links are absolute: the two simulators' ports differ.
    let base = sim.base_url(Source::Github);
    let mut pages: Vec<_> = pages
        .iter()
        .map(|p| {
            let request = p.request.strip_prefix(&base).unwrap_or(&p.request);
            format!("{} {request} {}", p.endpoint, p.cursor)
        })
        .collect();
    pages.sort();
    (pages, checkpoints)
}

#[tokio::test]
async fn a_crawl_resumed_many_times_stores_the_pages_of_one_never_interrupted() {
    let (whole, _) = crawl_to_the_end(&[], 4).await;
    let (resumed, checkpoints) = crawl_to_the_end(&["github:503@0.15"], 4).await;
    assert!(
        checkpoints.len() >= 3,
        "the crawl was resumed: {} attempts",
        checkpoints.len()
    );
    assert!(whole.len() > 20, "{whole:?}");
    assert_eq!(resumed, whole);
    for state in &checkpoints {
        assert!(
            !state.contains("\"pending\"") && state.len() < 2_000,
            "a checkpoint carries no queue: {state}"
        );
    }
}

#[tokio::test]
async fn a_completed_task_delivered_again_fetches_nothing() {
    let sim = sim(&[]).await;
    let team = sim.state().organisation().team_configs()[0].clone();
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let handler =
        ExtractHandler::new(Arc::clone(&warehouse)).with_client(client(&sim, Source::Jira), 10);
    let task = extract_task(Source::Jira, &team.id, &team.jira_projects[0]);
    assert_eq!(handler.handle(&task).await.result, Ok(()));
    let requests = sim.state().request_log().len();
    assert!(requests > 0);
    assert_eq!(handler.handle(&task).await.result, Ok(()));
    assert_eq!(sim.state().request_log().len(), requests);
}

#[tokio::test]
async fn every_page_of_each_source_lands_in_bronze() {
    let sim = sim(&[]).await;
    let team = sim.state().organisation().team_configs()[0].clone();
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let mut handler = ExtractHandler::new(Arc::clone(&warehouse));
    for source in Source::ALL {
        handler = handler.with_client(client(&sim, source), 10);
    }
    for source in Source::ALL {
        for target in team.targets(source) {
            let outcome = handler
                .handle(&extract_task(source, &team.id, target))
                .await;
            assert_eq!(outcome.result, Ok(()), "{source} {target}");
        }
    }
    let served = sim.state().served_records();
    // Jira changelog entries are served outside `served_records`.
    let changelog_entries: u64 = sim
        .state()
        .request_log()
        .iter()
        .filter(|e| e.endpoint == dorafleet_sim::Endpoint::JiraChangelog)
        .map(|e| e.records)
        .sum();
    for totals in warehouse.bronze_totals(None).await.unwrap() {
        assert!(totals.pages > 1, "{:?}: more than one page", totals.source);
        let changelog = if totals.source == Source::Jira {
            changelog_entries
        } else {
            0
        };
        assert_eq!(
            totals.records,
            served[&totals.source] + changelog,
            "{:?}",
            totals.source
        );
    }
}

#[tokio::test]
async fn child_lists_are_fetched_several_at_a_time_and_never_more_than_the_limit() {
    // Every pull request's commits answer after 50 ms, so two commit
    // requests arriving less than 50 ms apart were in flight together.
    let latency = chrono::Duration::milliseconds(50);
    let most_at_once = |in_flight: u32| async move {
        let sim = sim(&["github/pull_commits:latency=50@1"]).await;
        let team = sim.state().organisation().team_configs()[0].clone();
        let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
        let handler = ExtractHandler::new(Arc::clone(&warehouse))
            .with_client(client_with_in_flight(&sim, Source::Github, in_flight), 10);
        let task = extract_task(Source::Github, &team.id, &team.github_repos[0]);
        assert_eq!(handler.handle(&task).await.result, Ok(()));
        let arrivals: Vec<_> = sim
            .state()
            .request_log()
            .iter()
            .filter(|e| e.endpoint == dorafleet_sim::Endpoint::PullCommits)
            .map(|e| e.at)
            .collect();
        assert!(arrivals.len() >= 8, "enough pull requests to tell");
        arrivals
            .iter()
            .map(|t| {
                arrivals
                    .iter()
                    .filter(|s| *s <= t && *t - **s < latency)
                    .count()
            })
            .max()
            .unwrap_or(0)
    };
    assert_eq!(most_at_once(1).await, 1, "one at a time");
    let four = most_at_once(4).await;
    assert!((2..=4).contains(&four), "{four} in flight at once");
}
