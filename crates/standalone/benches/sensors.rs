//! What the volume sensor can and cannot see, on simulator data: for clean
//! 90-day histories (quiet weekends, a quiet holiday week) how many spans
//! it judged and how many it would hold (false holds), and for every scope
//! silenced for one whole week whether that week is held — at the default
//! deviation threshold and two looser ones. Prints figures; asserts nothing.
//!
//! Run with `scripts/bench.sh sensors` (knob: DORAFLEET_BENCH_SEEDS, default 10).

#[path = "../tests/common/mod.rs"]
mod common;

use chrono::{NaiveDate, NaiveTime};
use dorafleet_core::{Source, Window};
use dorafleet_stages::coverage::complete_days;
use dorafleet_stages::sensors::team_series;
use dorafleet_stages::sensors::volume::{Verdict, evaluate, weekly_spans};
use dorafleet_standalone::{StandaloneOptions, run_standalone};
use dorafleet_warehouse::{Warehouse, sqlite::SqliteWarehouse};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const DAYS: u32 = 90;
const TEAMS: usize = 5;

#[derive(Debug, Default)]
struct Tally {
    judged: usize,
    no_signal: usize,
    false_holds: usize,
    silenced_held: usize,
    silenced_missed: usize,
    silenced_no_signal: usize,
    /// Each false hold: organisation, team, series, span and the evidence.
    false_hold_evidence: Vec<String>,
}

fn verdict_kind(v: &Verdict) -> &'static str {
    match v {
        Verdict::Breach(_) => "held",
        Verdict::Passed { .. } => "passed",
        Verdict::TooLittleHistory { .. } | Verdict::TooLittleSignal { .. } => "no signal",
    }
}

#[tokio::main]
async fn main() {
    let seeds: u64 = std::env::var("DORAFLEET_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let end = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    let to = end.and_time(NaiveTime::MIN).and_utc();
    let history = Window {
        from: to - chrono::Duration::days(i64::from(DAYS)),
        to,
    };
    let thresholds = [3.0, 2.5, 2.0];
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for seed in 1..=seeds {
        let sim = common::sim_over(seed, DAYS, end, TEAMS, &[]).await;
        let base = common::config(&sim, 2);
        let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
        run_standalone(
            Some(history),
            Arc::clone(&warehouse),
            common::clients(&base),
            Arc::new(base.clone()),
            StandaloneOptions {
                sources: Source::ALL.to_vec(),
                concurrency: 4,
                worker_name: "bench".into(),
                deadline: Duration::from_secs(300),
            },
            |_| {},
        )
        .await
        .unwrap();
        for deviation in thresholds {
            let mut config = base.clone();
            config.sensors.deviation_threshold = deviation;
            let tally = tallies.entry(format!("{deviation:.1}σ")).or_default();
            for team in &config.teams {
                let covered: BTreeSet<NaiveDate> =
                    complete_days(warehouse.as_ref(), &config, &team.id, history)
                        .await
                        .unwrap()
                        .into_iter()
                        .collect();
                let span: Vec<NaiveDate> = covered.iter().copied().collect();
                let series = team_series(team, &warehouse.team_silver(&team.id).await.unwrap());
                for f in evaluate(&series, &span, &covered, &config.sensors) {
                    match verdict_kind(&f.verdict) {
                        "held" => {
                            tally.false_holds += 1;
                            tally.false_hold_evidence.push(format!(
                                "seed {seed} {} {} {}..{}: {:?}",
                                team.id, f.series, f.from, f.to, f.verdict
                            ));
                        }
                        "passed" => tally.judged += 1,
                        _ => tally.no_signal += 1,
                    }
                }
                for (i, scope) in series.iter().enumerate() {
                    for week in weekly_spans(&span).into_iter().filter(|w| w.len() == 7) {
                        let mut silenced = series.clone();
                        for day in &week {
                            silenced[i].daily.remove(day);
                        }
                        let findings = evaluate(&silenced, &span, &covered, &config.sensors);
                        let Some(f) = findings
                            .iter()
                            .find(|f| f.series == scope.name && f.from == week[0])
                        else {
                            continue;
                        };
                        match verdict_kind(&f.verdict) {
                            "held" => tally.silenced_held += 1,
                            "passed" => tally.silenced_missed += 1,
                            _ => tally.silenced_no_signal += 1,
                        }
                    }
                }
            }
        }
        sim.shutdown().await;
    }
    println!(
        "volume sensor on {seeds} simulated organisations x {TEAMS} teams x {DAYS} days (weekends quiet, one holiday week at 20 %):"
    );
    for (threshold, t) in &tallies {
        let judged = t.judged + t.false_holds;
        let silenced = t.silenced_held + t.silenced_missed;
        println!(
            "  {threshold}: clean weekly spans judged {judged} (too little signal {}), false holds {} ({:.2} %); \
             one scope silenced for a week: held {}/{} judged ({:.1} %), too little signal {}",
            t.no_signal,
            t.false_holds,
            100.0 * t.false_holds as f64 / judged.max(1) as f64,
            t.silenced_held,
            silenced,
            100.0 * t.silenced_held as f64 / silenced.max(1) as f64,
            t.silenced_no_signal
        );
        for evidence in &t.false_hold_evidence {
            println!("    false hold: {evidence}");
        }
    }
    println!("default: sensors.deviation_threshold = 3.0 (figures only, nothing is asserted)");
}
