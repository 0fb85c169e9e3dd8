//! Extract revalidates what an earlier crawl stored: an unchanged page
//! costs a `304` (not counted by GitHub's quota) and its stored payload is
//! reused, read back by normalize as if it had been fetched; a changed page
//! is fetched and stored whole.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use dorafleet_core::{Scope, Source, SourceConfig, Stage, TaskEnvelope, Window};
use dorafleet_sim::{RunningSim, SimOptions};
use dorafleet_sources::SourceClient;
use dorafleet_stages::ExtractHandler;
use dorafleet_warehouse::{BronzeFilter, BronzePage, Warehouse, sqlite::SqliteWarehouse};
use dorafleet_worker::StageHandler;
use std::sync::Arc;
use uuid::Uuid;

fn end() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 6, 1)
        .unwrap()
        .and_time(NaiveTime::MIN)
        .and_utc()
}

async fn sim(clock: DateTime<Utc>) -> RunningSim {
    let options = SimOptions {
        seed: 7,
        days: 30,
        teams: 1,
        end_date: end().date_naive(),
        clock: Some(clock),
        ..SimOptions::default()
    };
    RunningSim::start(options, "127.0.0.1:0").await.unwrap()
}

fn handler(sim: &RunningSim, warehouse: &Arc<dyn Warehouse>, conditional: bool) -> ExtractHandler {
    handler_with(
        sim,
        warehouse,
        conditional,
        SourceConfig::default().max_pages_per_task,
    )
}

fn handler_with(
    sim: &RunningSim,
    warehouse: &Arc<dyn Warehouse>,
    conditional: bool,
    max_pages_per_task: u32,
) -> ExtractHandler {
    let config = SourceConfig {
        base_url: sim.base_url(Source::Github).parse().unwrap(),
        requests_per_second: std::num::NonZeroU32::new(1000).unwrap(),
        page_size: 10,
        conditional_requests: conditional,
        max_pages_per_task,
        ..SourceConfig::default()
    };
    let client = SourceClient::new(Source::Github, &config).unwrap();
    ExtractHandler::new(Arc::clone(warehouse)).with_client(client, 10)
}

fn repo_task(sim: &RunningSim, window: Window) -> TaskEnvelope {
    let team = sim.state().organisation().team_configs()[0].clone();
    TaskEnvelope::new(
        Uuid::now_v7(),
        Stage::Extract,
        Some(Source::Github),
        Scope {
            team: team.id.clone(),
            target: Some(team.github_repos[0].clone()),
        },
        window,
        5,
    )
}

/// Runs `task` and returns the statuses the simulator answered it with.
async fn extract(sim: &RunningSim, handler: &ExtractHandler, task: &TaskEnvelope) -> Vec<u16> {
    sim.state().clear_request_log();
    assert_eq!(handler.handle(task).await.result, Ok(()));
    sim.state().request_log().iter().map(|e| e.status).collect()
}

async fn pages_of(warehouse: &Arc<dyn Warehouse>, task: &TaskEnvelope) -> Vec<BronzePage> {
    warehouse
        .bronze_pages(&BronzeFilter {
            task_id: Some(task.task_id),
            ..BronzeFilter::default()
        })
        .await
        .unwrap()
}

/// What normalize reads of a page: everything but its place and time.
fn payload(page: &BronzePage) -> (String, String, u16, u64, String) {
    (
        page.endpoint.clone(),
        page.request.clone(),
        page.status,
        page.record_count,
        page.body.clone(),
    )
}

#[tokio::test]
async fn an_unchanged_scope_extracted_again_costs_only_304s_and_reads_back_the_same_pages() {
    let now = end() - chrono::Duration::hours(30);
    let sim = sim(now).await;
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let handler = handler(&sim, &warehouse, true);
    let window = Window {
        from: end() - chrono::Duration::days(30),
        to: now,
    };
    let first = repo_task(&sim, window);
    let statuses = extract(&sim, &handler, &first).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let again = repo_task(&sim, window);
    let statuses = extract(&sim, &handler, &again).await;
    assert_eq!(statuses.len(), pages_of(&warehouse, &first).await.len());
    assert!(statuses.iter().all(|s| *s == 304), "{statuses:?}");

    let fetched = pages_of(&warehouse, &first).await;
    let reused = pages_of(&warehouse, &again).await;
    assert_eq!(
        reused.iter().map(payload).collect::<Vec<_>>(),
        fetched.iter().map(payload).collect::<Vec<_>>()
    );
    assert!(
        reused
            .iter()
            .all(|p| p.reuses.is_some() && p.execution_id == again.run_id)
    );
    let totals = warehouse.bronze_totals(Some(again.run_id)).await.unwrap();
    assert_eq!(totals[0].records, 0, "no record was received again");
}

#[tokio::test]
async fn a_scope_no_crawl_completed_is_fetched_whole_even_over_the_pages_a_failed_crawl_left() {
    let now = end() - chrono::Duration::hours(30);
    let sim = sim(now).await;
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let window = Window {
        from: end() - chrono::Duration::days(30),
        to: now,
    };
    let cut_short = handler_with(&sim, &warehouse, true, 3);
    let failed = repo_task(&sim, window);
    let outcome = cut_short.handle(&failed).await.result;
    assert!(outcome.is_err(), "the page limit stops the first crawl");
    let left = pages_of(&warehouse, &failed).await;
    assert_eq!(left.len(), 3);
    assert!(
        left.iter().all(|p| p.etag.is_some()),
        "they could be revalidated"
    );

    let next = repo_task(&sim, window);
    let statuses = extract(&sim, &handler(&sim, &warehouse, true), &next).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let stored = pages_of(&warehouse, &next).await;
    assert!(stored.len() > 3, "{} pages", stored.len());
    assert!(stored.iter().all(|p| p.reuses.is_none()));
}

#[tokio::test]
async fn with_conditional_requests_off_every_page_is_fetched_again() {
    let now = end() - chrono::Duration::hours(30);
    let sim = sim(now).await;
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let handler = handler(&sim, &warehouse, false);
    let window = Window {
        from: end() - chrono::Duration::days(30),
        to: now,
    };
    extract(&sim, &handler, &repo_task(&sim, window)).await;
    let again = repo_task(&sim, window);
    let statuses = extract(&sim, &handler, &again).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        pages_of(&warehouse, &again)
            .await
            .iter()
            .all(|p| p.reuses.is_none())
    );
}

#[tokio::test]
async fn after_the_world_moved_on_changed_pages_are_fetched_whole_and_unchanged_ones_reused() {
    let then = end() - chrono::Duration::days(3);
    let sim = sim(then).await;
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let handler = handler(&sim, &warehouse, true);
    let window = Window {
        from: end() - chrono::Duration::days(30),
        to: then,
    };
    extract(&sim, &handler, &repo_task(&sim, window)).await;

    sim.state().set_now(end() - chrono::Duration::days(1));
    let again = repo_task(&sim, window);
    let statuses = extract(&sim, &handler, &again).await;
    assert!(
        statuses.contains(&200),
        "something changed in two days: {statuses:?}"
    );
    assert!(
        statuses.contains(&304),
        "not everything changed: {statuses:?}"
    );
    // Requests are answered in any order (several are in flight); each
    // page is matched with the answer to its own request.
    let answered: std::collections::HashMap<String, u16> = sim
        .state()
        .request_log()
        .iter()
        .map(|e| match &e.query {
            Some(query) => (repo_path(&format!("{}?{query}", e.path)), e.status),
            None => (repo_path(&e.path), e.status),
        })
        .collect();
    let pages = pages_of(&warehouse, &again).await;
    assert_eq!(pages.len(), statuses.len());
    for page in &pages {
        let status = answered[&repo_path(&page.request)];
        assert_eq!(page.status, 200, "{page:?}");
        assert_eq!(page.reuses.is_some(), status == 304, "{page:?}");
    }
}

/// A GitHub request from `/repos/` on, whether stored relative to the base
/// URL, absolute (a followed next link) or logged with the simulator's prefix.
fn repo_path(request: &str) -> String {
    request[request.find("/repos/").expect("a repository request")..].to_owned()
}
