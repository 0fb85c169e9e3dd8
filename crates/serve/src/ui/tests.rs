//! The pages over an in-memory warehouse, served on a local port.

use crate::AppState;
use chrono::{NaiveDate, Utc};
use dorafleet_core::{Config, Metric};
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use dorafleet_warehouse::{GoldRecord, GoldStore};
use std::sync::Arc;

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, n).unwrap()
}

fn gold(date: NaiveDate, metric: Metric, value: f64) -> GoldRecord {
    GoldRecord {
        date,
        team_id: "pay".into(),
        metric,
        value: Some(value),
        sample_size: 1,
        samples: vec![value],
        definition_version: 2,
        run_id: uuid::Uuid::nil(),
        computed_at: Utc::now(),
        complete: true,
    }
}

/// Team `pay` with every metric on March 1 and 3 (deployments: 2, then a
/// verified 0), nothing on March 2; team `web` with no gold at all.
async fn serve() -> String {
    let warehouse = SqliteWarehouse::open_in_memory().unwrap();
    let mut records = Vec::new();
    for (d, deploys) in [(1, 2.0), (3, 0.0)] {
        for metric in Metric::ALL {
            let v = if metric == Metric::DeploymentFrequency {
                deploys
            } else {
                0.5
            };
            records.push(gold(day(d), metric, v));
        }
    }
    warehouse.upsert_gold(&records).await.unwrap();
    let config = Config::from_toml("[[teams]]\nid = \"pay\"\n\n[[teams]]\nid = \"web\"\n").unwrap();
    let state = AppState::new(Arc::new(warehouse), Arc::new(config), None);
    let app = axum::Router::new().merge(super::router()).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn get(url: &str) -> (u16, String) {
    let res = reqwest::get(url).await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_overview_lists_every_configured_team_and_calls_a_team_without_gold_unknown() {
    let base = serve().await;
    let (status, page) = get(&format!("{base}/?from=2026-03-01&to=2026-03-04")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"data-team="pay""#) && page.contains(r#"data-team="web""#));
    let web = page.split(r#"data-team="web""#).nth(1).unwrap();
    assert_eq!(web.matches(">unknown</span>").count(), 6, "{web}");
    assert!(page.contains("/teams/pay?from=2026-03-01&amp;to=2026-03-04"));
}

#[tokio::test]
async fn a_team_page_draws_each_known_day_as_a_point_and_the_missing_day_as_a_band() {
    let base = serve().await;
    let (status, page) = get(&format!("{base}/teams/pay?from=2026-03-01&to=2026-03-04")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 6);
    assert_eq!(
        page.matches(r#"r="3" data-date="#).count(),
        12,
        "two days × six metrics"
    );
    assert_eq!(
        page.matches(r#"<rect class="unknown" data-date="2026-03-02""#)
            .count(),
        6
    );
    assert!(
        page.contains(r#"class="point zero""#),
        "the verified zero is a point"
    );
    assert!(page.contains(r#"<ul id="records">"#));
}

#[tokio::test]
async fn bad_ranges_and_unknown_teams_are_error_pages_with_their_status() {
    let base = serve().await;
    assert_eq!(get(&format!("{base}/teams/nobody")).await.0, 404);
    let (status, page) = get(&format!("{base}/teams/pay?from=yesterday")).await;
    assert_eq!(status, 400);
    assert!(page.contains("YYYY-MM-DD"), "{page}");
    let (status, page) = get(&format!("{base}/?from=2026-03-04&to=2026-03-01")).await;
    assert_eq!(
        (status, page.contains("the range is empty")),
        (400, true),
        "{page}"
    );
    assert_eq!(get(&format!("{base}/?levels_year=2025")).await.0, 400);
}

#[tokio::test]
async fn the_fleet_page_and_the_assets_are_served() {
    let base = serve().await;
    let (status, page) = get(&format!("{base}/fleet")).await;
    assert_eq!(status, 200, "{page}");
    for section in ["runs", "holds", "dead-letters", "freshness", "queue"] {
        assert!(
            page.contains(&format!(r#"<section id="{section}">"#)),
            "{section}"
        );
    }
    assert!(page.contains("refuses every action"), "no token configured");
    let css = reqwest::get(format!("{base}/assets/style.css"))
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let (status, js) = get(&format!("{base}/assets/app.js")).await;
    assert_eq!(status, 200);
    assert!(js.contains("flattenRecords"));
}
