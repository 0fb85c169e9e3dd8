//! The dashboard's weight and speed at the size the issue names: 50 teams ×
//! 365 days of gold (six metrics, some days unknown), in an SQLite
//! warehouse, served by the real router on a local port. Prints the bytes
//! of the overview (HTML and the assets it loads) and of one team page, and
//! their load times (median and worst of repeated requests). Asserts nothing
//! about speed.
//!
//! Run with `scripts/bench.sh serve` (knobs: DORAFLEET_BENCH_TEAMS,
//! DORAFLEET_BENCH_DAYS, DORAFLEET_BENCH_REPEAT).

use chrono::{Duration, NaiveDate, Utc};
use dorafleet_core::{Config, Metric, TeamConfig};
use dorafleet_serve::{AppState, router};
use dorafleet_warehouse::{GoldRecord, Warehouse, sqlite::SqliteWarehouse};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};
use uuid::Uuid;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn team(i: usize) -> TeamConfig {
    let id = format!("team-{i:02}");
    TeamConfig {
        github_repos: vec![format!("acme/{id}-api")],
        jira_projects: vec![format!("T{i:02}")],
        jenkins_jobs: vec![format!("{id}-deploy")],
        deploy_jobs: [(format!("{id}-deploy"), format!("acme/{id}-web"))].into(),
        id,
    }
}

/// A year of gold for one team: every metric every day, except a week with
/// Jira down (the incident metrics unknown) and a weekend without
/// deployments (verified zeros).
fn gold_for(team: &str, start: NaiveDate, days: usize, run_id: Uuid) -> Vec<GoldRecord> {
    let mut gold = Vec::new();
    for d in 0..days {
        let date = start + Duration::days(d as i64);
        let jira_down = (100..107).contains(&d);
        for metric in Metric::ALL {
            let reads_jira = !matches!(
                metric,
                Metric::DeploymentFrequency | Metric::LeadTimeForChanges
            );
            if jira_down && reads_jira {
                continue;
            }
            let n = (d % 5) as u64;
            let (value, samples) = match metric {
                Metric::DeploymentFrequency => (Some(n as f64), Vec::new()),
                Metric::ChangeFailureRate | Metric::DeploymentReworkRate => {
                    let s: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i == 0))).collect();
                    ((n > 0).then(|| 1.0 / n as f64), s)
                }
                _ => {
                    let s: Vec<f64> = (0..n).map(|i| 2.0 + i as f64 * 3.5).collect();
                    (s.get(s.len() / 2).copied(), s)
                }
            };
            gold.push(GoldRecord {
                date,
                team_id: team.to_owned(),
                metric,
                value,
                sample_size: if metric == Metric::DeploymentFrequency {
                    n
                } else {
                    samples.len() as u64
                },
                samples,
                definition_version: 1,
                run_id,
                computed_at: Utc::now(),
                complete: true,
            });
        }
    }
    gold
}

async fn timed_get(
    client: &reqwest::Client,
    url: &str,
    repeat: usize,
) -> (usize, StdDuration, StdDuration, String) {
    let mut times = Vec::with_capacity(repeat);
    let mut body = String::new();
    for _ in 0..repeat {
        let started = Instant::now();
        let response = client.get(url).send().await.expect("the server answers");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        body = response.text().await.expect("a body");
        times.push(started.elapsed());
    }
    times.sort();
    (
        body.len(),
        times[times.len() / 2],
        times[times.len() - 1],
        body,
    )
}

/// The paths of the stylesheets and scripts a page loads from this server.
fn assets_of(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for marker in ["href=\"/assets/", "src=\"/assets/"] {
        let mut rest = html;
        while let Some(at) = rest.find(marker) {
            let tail = &rest[at + marker.len() - "/assets/".len()..];
            let end = tail.find('"').unwrap_or(tail.len());
            found.push(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    found.sort();
    found.dedup();
    found
}

#[tokio::main]
async fn main() {
    let teams = knob("DORAFLEET_BENCH_TEAMS", 50);
    let days = knob("DORAFLEET_BENCH_DAYS", 365);
    let repeat = knob("DORAFLEET_BENCH_REPEAT", 20);
    let end = Utc::now().date_naive();
    let start = end - Duration::days(days as i64);

    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let config = Config {
        teams: (0..teams).map(team).collect(),
        ..Config::default()
    };
    let seeded = Instant::now();
    let run_id = Uuid::now_v7();
    for t in &config.teams {
        warehouse
            .upsert_gold(&gold_for(&t.id, start, days, run_id))
            .await
            .unwrap();
    }
    println!(
        "seeded {} gold records ({teams} teams x {days} days x {} metrics) in {:.1} s",
        warehouse.gold(&Default::default()).await.unwrap().len(),
        Metric::ALL.len(),
        seeded.elapsed().as_secs_f64()
    );

    let state = AppState::new(warehouse, Arc::new(config), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let client = reqwest::Client::new();
    let range = format!("from={start}&to={end}");

    for (name, path) in [
        ("overview", format!("/?{range}")),
        ("team page", format!("/teams/team-00?{range}")),
    ] {
        let url = format!("{base}{path}");
        let (bytes, median, worst, html) = timed_get(&client, &url, repeat).await;
        let mut asset_bytes = 0;
        for asset in assets_of(&html) {
            let (n, _, _, _) = timed_get(&client, &format!("{base}{asset}"), 1).await;
            asset_bytes += n;
        }
        println!(
            "{name:<10} {path}: HTML {:.1} KiB + assets {:.1} KiB = {:.1} KiB; load (server, {repeat} requests) median {:.1} ms, worst {:.1} ms",
            bytes as f64 / 1024.0,
            asset_bytes as f64 / 1024.0,
            (bytes + asset_bytes) as f64 / 1024.0,
            median.as_secs_f64() * 1000.0,
            worst.as_secs_f64() * 1000.0,
        );
    }
}
