//! Jira's dialects and its API user's time zone, end to end: gold equals
//! the simulator's truth when Jira is Data Center (REST v2, `startAt` and
//! `total`) and when the API user is in New York, with a daylight saving
//! change inside the window; a page Data Center skips silently is held by
//! the pagination sensor, because `total` says it is missing.

mod common;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use common::{config, differences, gold, warehouse};
use dorafleet_core::{Clock, Config, Window};
use dorafleet_sim::{Endpoint, JiraFlavour, RunningSim, SimOptions};
use dorafleet_warehouse::Warehouse;
use std::sync::Arc;

const FAULTS: &[&str] = &[
    "github:503@0.02",
    "jira:502@0.05",
    "jira:429=1#2",
    "jenkins:500@0.02",
];

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

async fn start(options: SimOptions) -> RunningSim {
    RunningSim::start(options, "127.0.0.1:0").await.unwrap()
}

fn options(seed: u64, days: u32, end_date: NaiveDate, teams: usize, faults: &[&str]) -> SimOptions {
    SimOptions {
        seed,
        days,
        teams,
        end_date,
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        ..SimOptions::default()
    }
}

/// One standalone run over `range` (incremental without one); asserts
/// nothing died or was left unfinished.
async fn run_once(range: Option<Window>, config: &Config, warehouse: &Arc<dyn Warehouse>) {
    if let Some(summary) = common::plan_and_run(range, config, warehouse).await {
        assert_eq!(
            (summary.dead, summary.unfinished),
            (0, 0),
            "run {} at {}",
            summary.run_id,
            config.now()
        );
    }
}

fn assert_gold_is_the_truth(
    what: &str,
    gold: &[dorafleet_warehouse::GoldRecord],
    sim: &RunningSim,
) {
    let truth = sim.state().ground_truth();
    assert!(!truth.is_empty());
    let diffs = differences(gold, &truth);
    assert!(
        diffs.is_empty(),
        "{what}: {} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The JQL of every Jira search the simulator answered.
fn searched_jql(sim: &RunningSim) -> Vec<String> {
    sim.state()
        .request_log()
        .into_iter()
        .filter(|e| matches!(e.endpoint, Endpoint::JiraSearch | Endpoint::JiraSearchV2))
        .filter_map(|e| e.query)
        .filter_map(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("jql="))
                .map(decode)
        })
        .collect()
}

/// A query parameter's value, `+` and `%XX` decoded.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The API user is in New York (UTC−05:00, UTC−04:00 from 2026-03-08
/// 07:00Z). Runs every two hours over a world that keeps changing read
/// what each window holds only when their JQL bounds are written in New
/// York time: bounds written in UTC would be read five (then four) hours
/// late, after the simulator's clock, and every run would miss its window.
#[tokio::test]
async fn a_user_in_new_york_across_the_spring_forward_switch_gets_the_truth() {
    const DAYS: u32 = 6;
    let end = NaiveDate::from_ymd_opt(2026, 3, 11).unwrap();
    let start_at = midnight(end) - Duration::days(i64::from(DAYS));
    let sim = start(SimOptions {
        jira_user_time_zone: "America/New_York".parse().unwrap(),
        ..options(9, DAYS, end, 2, FAULTS)
    })
    .await;
    sim.state().set_now(start_at);
    let mut config = config(&sim, 10);
    config.sync.earliest = start_at.date_naive();
    config.sensors.enabled = false;
    config.clock = Clock::manual(start_at);

    let incremental = warehouse();
    for step in 1..=i64::from(DAYS) * 12 {
        let t = start_at + Duration::hours(2 * step);
        sim.state().set_now(t);
        assert!(config.clock.set(t));
        run_once(None, &config, &incremental).await;
    }
    assert_gold_is_the_truth("runs every two hours", &gold(&incremental).await, &sim);

    let full = warehouse();
    let range = Window {
        from: start_at,
        to: midnight(end),
    };
    run_once(Some(range), &config, &full).await;
    assert_gold_is_the_truth("one full run", &gold(&full).await, &sim);

    // The bounds were written in New York time on both sides of the switch:
    // midnight UTC of 2026-03-08 is 19:00 EST the day before, of 03-09 20:00 EDT.
    let jql = searched_jql(&sim);
    for bound in [
        "updated < \"2026-03-07 19:00\"",
        "updated >= \"2026-03-07 19:00\"",
        "updated >= \"2026-03-08 20:00\"",
    ] {
        assert!(
            jql.iter().any(|q| q.contains(bound)),
            "no search with {bound}"
        );
    }
    assert!(
        !jql.iter().any(|q| q.contains("\"2026-03-08 02:")),
        "a wall time the clocks skip was written"
    );
    // One `/myself` per Jira task, never more.
    let log = sim.state().request_log();
    let myself = log
        .iter()
        .filter(|e| e.endpoint == Endpoint::JiraMyself && e.status == 200)
        .count();
    let searches = log
        .iter()
        .filter(|e| {
            e.endpoint == Endpoint::JiraSearch
                && e.status == 200
                && e.query
                    .as_deref()
                    .is_some_and(|q| !q.contains("nextPageToken"))
        })
        .count();
    assert!(
        myself > 0 && myself <= searches,
        "{myself} /myself for {searches} searches"
    );
}

/// Jira Data Center, detected from `serverInfo` (`sources.jira.api` left
/// to `auto`): REST v2 with `startAt`/`total`, changelogs through the
/// issue, 429s and 502s on the way; gold equals the truth.
#[tokio::test]
async fn a_run_against_jira_data_center_with_faults_gets_the_truth() {
    let end = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let sim = start(SimOptions {
        jira_flavour: JiraFlavour::Datacenter,
        ..options(11, 30, end, 3, FAULTS)
    })
    .await;
    let config = config(&sim, 10);
    assert_eq!(config.sources.jira.api, None, "auto");
    let warehouse = warehouse();
    let summary = common::plan_and_run(Some(common::window()), &config, &warehouse)
        .await
        .expect("a run was planned");
    assert_eq!((summary.dead, summary.unfinished), (0, 0));
    assert!(summary.holds.is_empty(), "{:#?}", summary.holds);
    assert!(summary.retries > 0, "faults were injected and retried");
    assert_gold_is_the_truth("Data Center", &gold(&warehouse).await, &sim);

    let log = sim.state().request_log();
    let served = |endpoint: Endpoint| {
        log.iter()
            .filter(|e| e.endpoint == endpoint && e.status == 200)
            .count()
    };
    assert!(served(Endpoint::JiraSearchV2) > 0);
    assert!(served(Endpoint::JiraServerInfo) > 0);
    assert!(
        served(Endpoint::JiraIssue) > 0,
        "changelogs read through the issue"
    );
    assert_eq!(
        served(Endpoint::JiraSearch),
        0,
        "no Cloud search on Data Center"
    );
    assert_eq!(served(Endpoint::JiraChangelog), 0);
}

/// A Data Center search page skipped silently (the next page served in
/// its place): the crawl ends with fewer issues than `total` says, and the
/// pagination sensor holds that team only.
#[tokio::test]
async fn a_page_data_center_skips_is_held_because_total_says_it_is_missing() {
    let end = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let clean = start(options(11, 30, end, 3, &[])).await;
    let team = clean.state().organisation().teams[1].clone();
    clean.shutdown().await;
    let fault = format!("jira/search_v2~{}:truncate#1", team.jira_project);
    let sim = start(SimOptions {
        jira_flavour: JiraFlavour::Datacenter,
        ..options(11, 30, end, 3, &[fault.as_str()])
    })
    .await;
    let mut config = config(&sim, 5);
    config.sources.jira.api = Some(dorafleet_core::config::JiraApi::Datacenter);
    let warehouse = warehouse();
    let summary = common::plan_and_run(Some(common::window()), &config, &warehouse)
        .await
        .expect("a run was planned");
    let held = &summary.holds;
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(
        (held[0].team_id.as_str(), held[0].sensor.as_str()),
        (team.id.as_str(), "pagination")
    );
    assert_eq!(
        sim.state()
            .request_log()
            .iter()
            .filter(|e| e.endpoint == Endpoint::JiraServerInfo)
            .count(),
        0,
        "a configured API is not asked for"
    );
}
