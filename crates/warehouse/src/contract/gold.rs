//! The contract of the warehouse's gold role: gold upserts, definition versions and the gold change feed.

use super::*;

/// A complete gold record of definition version 1 for tests and benchmarks
/// (4 samples counted, none listed, computed now, a fresh run id); set
/// other fields with struct update syntax.
pub fn gold_record(
    team: &str,
    date: chrono::NaiveDate,
    metric: Metric,
    value: Option<f64>,
) -> GoldRecord {
    GoldRecord {
        date,
        team_id: team.into(),
        metric,
        value,
        sample_size: 4,
        samples: Vec::new(),
        definition_version: 1,
        run_id: Uuid::now_v7(),
        computed_at: Utc::now(),
        complete: true,
    }
}

fn gold(team: &str, day: u32, metric: Metric, value: Option<f64>) -> GoldRecord {
    GoldRecord {
        sample_size: 2,
        samples: vec![1.5, 2.5],
        computed_at: Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0).unwrap(),
        ..gold_record(
            team,
            chrono::NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
            metric,
            value,
        )
    }
}

pub async fn gold_upserts_per_team_day_and_metric_and_filters_by_range(w: Arc<dyn Warehouse>) {
    let records = vec![
        gold("payments", 1, Metric::DeploymentFrequency, Some(3.0)),
        gold("payments", 2, Metric::LeadTimeForChanges, None),
        gold("payments", 3, Metric::DeploymentFrequency, Some(0.0)),
        gold("search", 2, Metric::ChangeFailureRate, Some(0.5)),
    ];
    w.upsert_gold(&records).await.unwrap();
    let mut again = records[0].clone();
    again.value = Some(4.0);
    again.definition_version = 2;
    w.upsert_gold(&[again.clone()]).await.unwrap();

    let all = w.gold(&GoldFilter::default()).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], again);
    let filtered = w
        .gold(&GoldFilter {
            teams: vec!["payments".into()],
            metrics: vec![Metric::DeploymentFrequency, Metric::LeadTimeForChanges],
            from: chrono::NaiveDate::from_ymd_opt(2026, 3, 2),
            to: chrono::NaiveDate::from_ymd_opt(2026, 3, 3),
        })
        .await
        .unwrap();
    assert_eq!(filtered, vec![records[1].clone()]);
}

/// Floats with 16-17 significant digits, some that a fast but inexact
/// decimal parser gets wrong by one step, and some at the edges of the format.
fn awkward_floats() -> Vec<f64> {
    vec![
        0.1 + 0.2,
        // Each of these three reads back one step off through `serde_json`
        // without `float_roundtrip` (e.g. 1.6150081566068515 as
        // 1.6150081566068517): the gold feed's JSON must not lose them.
        990.0 / 613.0,
        351.0 / 44.0,
        253.0 / 769.0 / 24.0,
        1.0 / 3.0,
        2.0 / 3.0,
        2.0_f64.sqrt(),
        std::f64::consts::PI / 7.0,
        123_456_789.0 / 7.0,
        1e16 / 3.0,
        1e-7 / 3.0,
        f64::MIN_POSITIVE * 1.5,
        f64::MAX / 3.0,
        0.75,
    ]
}

pub async fn gold_values_and_samples_read_back_bit_for_bit_from_gold_and_the_feed(
    w: Arc<dyn Warehouse>,
) {
    let floats = awkward_floats();
    let records: Vec<GoldRecord> = floats
        .iter()
        .enumerate()
        .map(|(i, &x)| GoldRecord {
            sample_size: floats.len() as u64,
            samples: floats[i..].iter().chain(&floats[..i]).copied().collect(),
            ..gold(
                "payments",
                u32::try_from(i).unwrap() + 1,
                Metric::LeadTimeForChanges,
                Some(x),
            )
        })
        .collect();
    w.upsert_gold(&records).await.unwrap();
    let bits = |r: &GoldRecord| {
        (
            r.value.map(f64::to_bits),
            r.samples.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
        )
    };
    let read = w.gold(&GoldFilter::default()).await.unwrap();
    assert_eq!(read.len(), records.len());
    for (got, want) in read.iter().zip(&records) {
        assert_eq!(bits(got), bits(want), "gold of {}", got.date);
    }
    // The feed carries the record too (the monitor's alerts are computed from it).
    let feed = w.gold_changes_after(0, 100).await.unwrap();
    assert_eq!(feed.len(), records.len());
    for (change, want) in feed.iter().zip(&records) {
        assert_eq!(bits(&change.record), bits(want), "feed of {}", want.date);
    }
    // An upsert of the same numbers is recognised as no change: the stored
    // values compare equal to the written ones.
    let again: Vec<GoldRecord> = records
        .iter()
        .map(|r| GoldRecord {
            run_id: Uuid::now_v7(),
            ..r.clone()
        })
        .collect();
    w.upsert_gold(&again).await.unwrap();
    assert_eq!(
        w.gold_changes_after(0, 100).await.unwrap().len(),
        records.len(),
        "identical floats are not reported as changed"
    );
}

pub async fn a_new_definition_fingerprint_gets_the_next_version(w: Arc<dyn Warehouse>) {
    let m = Metric::ChangeFailureRate;
    assert_eq!(w.definition_version(m, "aaa").await.unwrap(), 1);
    assert_eq!(w.definition_version(m, "aaa").await.unwrap(), 1);
    assert_eq!(w.definition_version(m, "bbb").await.unwrap(), 2);
    assert_eq!(w.definition_version(m, "aaa").await.unwrap(), 1);
    assert_eq!(
        w.definition_version(Metric::DeploymentFrequency, "bbb")
            .await
            .unwrap(),
        1,
        "versions are per metric"
    );
}

pub async fn concurrent_registrations_of_definitions_never_share_a_version(w: Arc<dyn Warehouse>) {
    let m = Metric::LeadTimeForChanges;
    let same = all_at_once(&w, 6, |w, _| async move {
        w.definition_version(m, "one").await.unwrap()
    })
    .await;
    assert_eq!(same, vec![1; 6], "one fingerprint, one version");
    let mut distinct = all_at_once(&w, 6, |w, i| async move {
        w.definition_version(m, &format!("new-{i}")).await.unwrap()
    })
    .await;
    distinct.sort_unstable();
    assert_eq!(distinct, vec![2, 3, 4, 5, 6, 7]);
}

pub async fn gold_inserts_and_real_changes_are_fed_in_order_but_identical_upserts_are_not(
    w: Arc<dyn Warehouse>,
) {
    let first = gold("payments", 1, Metric::ChangeFailureRate, Some(0.5));
    let other = gold("search", 1, Metric::ChangeFailureRate, Some(0.0));
    w.upsert_gold(&[first.clone(), other.clone()])
        .await
        .unwrap();
    // A recomputation landing on the same numbers (new run, new time) is not news.
    let mut same = first.clone();
    same.run_id = Uuid::now_v7();
    same.computed_at = first.computed_at + Duration::hours(1);
    w.upsert_gold(&[same]).await.unwrap();
    let mut changed = first.clone();
    changed.value = Some(0.75);
    changed.samples = vec![1.0, 1.0, 0.0, 1.0];
    w.upsert_gold(&[changed.clone()]).await.unwrap();
    let mut redefined = changed.clone();
    redefined.definition_version = 2;
    w.upsert_gold(&[redefined.clone()]).await.unwrap();

    let feed = w.gold_changes_after(0, 100).await.unwrap();
    let seen: Vec<_> = feed.iter().map(|c| (c.kind, c.record.clone())).collect();
    assert_eq!(
        seen,
        vec![
            (GoldChangeKind::Inserted, first),
            (GoldChangeKind::Inserted, other),
            (GoldChangeKind::Updated, changed),
            (GoldChangeKind::Updated, redefined),
        ]
    );
    assert!(feed.windows(2).all(|p| p[0].seq < p[1].seq), "{feed:?}");
    assert!(feed.windows(2).all(|p| p[0].written_at <= p[1].written_at));
}

pub async fn the_gold_feed_is_read_in_limited_batches_after_a_sequence(w: Arc<dyn Warehouse>) {
    assert!(w.gold_changes_after(0, 10).await.unwrap().is_empty());
    let records: Vec<_> = (1..=5)
        .map(|day| {
            gold(
                "payments",
                day,
                Metric::DeploymentFrequency,
                Some(f64::from(day)),
            )
        })
        .collect();
    w.upsert_gold(&records).await.unwrap();
    let batch = w.gold_changes_after(0, 2).await.unwrap();
    assert_eq!(batch.len(), 2);
    let rest = w.gold_changes_after(batch[1].seq, 10).await.unwrap();
    let days: Vec<_> = batch.iter().chain(&rest).map(|c| c.record.date).collect();
    assert_eq!(days, records.iter().map(|r| r.date).collect::<Vec<_>>());
    let last = rest.last().unwrap().seq;
    assert!(w.gold_changes_after(last, 10).await.unwrap().is_empty());
}

pub async fn purging_gold_changes_drops_only_those_passed_and_old_enough(w: Arc<dyn Warehouse>) {
    let records: Vec<_> = (1..=4)
        .map(|day| gold("payments", day, Metric::DeploymentFrequency, Some(1.0)))
        .collect();
    w.upsert_gold(&records).await.unwrap();
    let feed = w.gold_changes_after(0, 10).await.unwrap();
    let passed = feed[1].seq;
    let an_hour_ago = Utc::now() - Duration::hours(1);
    assert_eq!(
        w.purge_gold_changes(passed, an_hour_ago).await.unwrap(),
        0,
        "nothing is old enough"
    );
    let later = Utc::now() + Duration::seconds(1);
    assert_eq!(w.purge_gold_changes(passed, later).await.unwrap(), 2);
    let left = w.gold_changes_after(0, 10).await.unwrap();
    assert_eq!(
        left,
        feed[2..].to_vec(),
        "the changes not yet passed remain"
    );
    assert_eq!(w.purge_gold_changes(passed, later).await.unwrap(), 0);
    // Sequences are not reused after a purge.
    w.upsert_gold(&[gold("search", 1, Metric::DeploymentFrequency, Some(1.0))])
        .await
        .unwrap();
    let newest = w.gold_changes_after(0, 10).await.unwrap();
    assert!(newest.last().unwrap().seq > feed.last().unwrap().seq);
}
