//! Backfill benchmark: build silver for 365 days × 20 teams in an SQLite
//! warehouse, then time the recomputation of all gold from silver (the
//! definition-change path). Prints figures; asserts nothing about speed.
//!
//! Run with `scripts/bench.sh backfill`.

use chrono::{Datelike, Duration, TimeZone, Utc, Weekday};
use dorafleet_coordinator::{BackfillRequest, FromLayer, backfill};
use dorafleet_core::{Config, Scope, Source, TeamConfig, Window};
use dorafleet_warehouse::{
    ExtractCheckpoint, SilverBatch, SilverChange, SilverDeployment, SilverIncident, Warehouse,
    sqlite::SqliteWarehouse,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

const TEAMS: usize = 20;
const DAYS: i64 = 365;

fn team_config(i: usize) -> TeamConfig {
    let id = format!("team-{i:02}");
    TeamConfig {
        github_repos: vec![format!("acme/{id}-api")],
        jira_projects: vec![format!("T{i:02}")],
        jenkins_jobs: vec![format!("{id}-deploy")],
        deploy_jobs: [(format!("{id}-deploy"), format!("acme/{id}-web"))].into(),
        id,
    }
}

/// A year of plausible silver for one team: ~2 deployments, ~2 changes and
/// ~0.3 incidents per weekday, fewer at weekends.
fn silver_for(team: &TeamConfig, start: chrono::DateTime<Utc>, rng: &mut StdRng) -> SilverBatch {
    let mut batch = SilverBatch::default();
    let run_id = Uuid::now_v7();
    let repo = team.github_repos[0].clone();
    for day in 0..DAYS {
        let midnight = start + Duration::days(day);
        let weekend = matches!(midnight.weekday(), Weekday::Sat | Weekday::Sun);
        let scale = if weekend { 1 } else { 4 };
        for n in 0..rng.random_range(0..=scale) {
            let finished = midnight + Duration::minutes(rng.random_range(60..1380));
            batch.deployments.push(SilverDeployment {
                source: Source::Github,
                key: format!("{repo}#{day}-{n}"),
                team_id: team.id.clone(),
                repo: repo.clone(),
                job: None,
                environment: "production".into(),
                status: if rng.random_bool(0.9) {
                    "success"
                } else {
                    "failure"
                }
                .into(),
                started_at: finished - Duration::minutes(10),
                finished_at: Some(finished),
                sha: None,
                ref_name: None,
                deployer: None,
                run_id,
            });
        }
        for n in 0..rng.random_range(0..=scale) {
            let merged = midnight + Duration::minutes(rng.random_range(0..1440));
            batch.changes.push(SilverChange {
                repo: repo.clone(),
                number: (day * 10 + n) as u64,
                team_id: team.id.clone(),
                author: None,
                first_commit_at: merged - Duration::hours(rng.random_range(1..96)),
                merged_at: merged,
                merge_sha: None,
                title: None,
                head_ref: None,
                run_id,
            });
        }
        if rng.random_bool(if weekend { 0.1 } else { 0.3 }) {
            let created = midnight + Duration::minutes(rng.random_range(0..1440));
            batch.incidents.push(SilverIncident {
                key: format!("{}-{day}", team.jira_projects[0]),
                project: team.jira_projects[0].clone(),
                team_id: team.id.clone(),
                issue_type: "Incident".into(),
                priority: Some(format!("P{}", rng.random_range(1..=4))),
                created_at: created,
                resolved_at: Some(created + Duration::minutes(rng.random_range(10..4000))),
                reporter: None,
                run_id,
            });
        }
    }
    batch
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let warehouse: Arc<dyn Warehouse> =
        Arc::new(SqliteWarehouse::open(dir.path().join("bench.db")).expect("open warehouse"));
    let config = Arc::new(Config {
        teams: (0..TEAMS).map(team_config).collect(),
        ..Config::default()
    });
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let window = Window {
        from: start,
        to: start + Duration::days(DAYS),
    };

    let setup = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let mut silver_records = 0usize;
    for team in &config.teams {
        let batch = silver_for(team, start, &mut rng);
        silver_records += batch.deployments.len() + batch.changes.len() + batch.incidents.len();
        warehouse.upsert_silver(&batch).await.expect("silver");
        for source in Source::ALL {
            for target in team.targets(source) {
                let scope = Scope {
                    team: team.id.clone(),
                    target: Some(target.clone()),
                };
                let cp = ExtractCheckpoint {
                    task_id: Uuid::now_v7(),
                    run_id: Uuid::now_v7(),
                    pages_done: 0,
                    state: "{}".into(),
                    newest_seen: None,
                    completed: false,
                };
                warehouse
                    .complete_extract(&cp, source, &scope, window)
                    .await
                    .expect("coverage");
            }
        }
    }
    println!(
        "setup: {TEAMS} teams x {DAYS} days, {silver_records} silver records in {:.2} s",
        setup.elapsed().as_secs_f64()
    );

    let mut runs = Vec::new();
    for run in 1..=3 {
        let began = Instant::now();
        let summary = backfill(
            Arc::clone(&warehouse),
            Arc::clone(&config),
            BackfillRequest {
                from: window.from.date_naive(),
                to: window.to.date_naive(),
                teams: Vec::new(),
                metrics: Vec::new(),
                from_layer: FromLayer::Silver,
                parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            },
            |_| {},
        )
        .await
        .expect("backfill");
        let secs = began.elapsed().as_secs_f64();
        println!(
            "backfill run {run}: {} gold records from {silver_records} silver records in {secs:.3} s \
             ({:.0} silver records/s, {:.0} gold records/s)",
            summary.gold_records,
            silver_records as f64 / secs,
            summary.gold_records as f64 / secs
        );
        runs.push(secs);
    }
    runs.sort_by(f64::total_cmp);
    println!(
        "backfill gold recomputation: median {:.3} s over 3 runs (target <= 5 s); peak RSS {:.1} MiB",
        runs[1],
        peak_rss_mib()
    );
}
