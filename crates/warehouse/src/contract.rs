//! The contract every [`Warehouse`] implementation must pass.
//!
//! Each check is a plain async function taking a fresh, empty warehouse; the
//! [`warehouse_contract_suite!`](crate::warehouse_contract_suite) macro turns
//! them into one `#[tokio::test]` each for a given backend, so SQLite and
//! MongoDB are held to exactly the same behaviour.

use crate::{
    BronzeFilter, BronzePage, Coverage, ExtractCheckpoint, GoldChangeKind, GoldFilter, GoldRecord,
    Hold, HoldEvidence, HoldFilter, HoldResolution, HoldStatus, LetterFilter, LetterStatus,
    NormalizeCounts, RunRecord, RunStatus, SilverBatch, SilverChange, SilverDeployment,
    SilverIncident, TaskRecord, TaskState, Warehouse,
};
use chrono::{Duration, TimeZone, Utc};
use dorafleet_core::{
    AttemptRecord, DeadLetter, ErrorClass, Metric, Scope, Source, Stage, TaskEnvelope, Window,
};
use std::sync::Arc;
use uuid::Uuid;

/// Instantiate the contract suite for a backend, one `#[tokio::test]` per check.
///
/// `warehouse_contract_suite!(make)`: `make` is an expression evaluating to a
/// future of `Option<Arc<dyn Warehouse>>`; `None` skips the test (e.g.
/// MongoDB without `MONGODB_URI`), after printing why.
///
/// `warehouse_contract_suite!(make, teardown = f)`: `make` evaluates to a
/// future of `Option<(Arc<dyn Warehouse>, G)>`, and `f(G)` is awaited after a
/// check passes (e.g. to drop the test's database).
#[macro_export]
macro_rules! warehouse_contract_suite {
    ($make:expr, teardown = $teardown:expr) => {
        $crate::warehouse_contract_suite!(@list (guarded $make, $teardown));
    };
    ($make:expr) => {
        $crate::warehouse_contract_suite!(@list (plain $make));
    };
    (@list $setup:tt) => {
        $crate::warehouse_contract_suite!(@tests $setup;
            appended_pages_read_back_in_order_with_every_field,
            a_page_stored_twice_is_kept_once,
            a_checkpoint_is_saved_with_its_page_and_resumes_the_task,
            completed_extracts_extend_coverage_without_ever_claiming_a_gap,
            silver_upserts_by_natural_key_so_a_repeat_changes_nothing,
            gold_upserts_per_team_day_and_metric_and_filters_by_range,
            a_new_definition_fingerprint_gets_the_next_version,
            totals_count_pages_and_records_per_source_and_run,
            purge_removes_only_pages_older_than_the_cutoff,
            dead_letters_are_archived_once_and_read_back_whole,
            runs_and_task_states_are_saved_and_updated,
            a_lease_has_one_holder_until_it_expires_or_is_released,
            request_slots_are_spaced_by_the_interval_and_holds_push_them_back,
            a_replayed_letter_goes_dead_to_replaying_to_replayed_with_its_audit_trail,
            a_claimed_letter_is_not_claimed_twice_until_its_claim_is_stale,
            only_dead_letters_are_discarded_and_filters_select_letters,
            holds_are_stored_once_selected_by_run_team_and_status_and_resolved_once,
            concurrent_claims_of_one_letter_have_exactly_one_winner,
            concurrent_lease_requests_have_exactly_one_winner,
            concurrent_registrations_of_definitions_never_share_a_version,
            concurrent_slot_reservations_are_never_closer_than_the_interval,
            gold_inserts_and_real_changes_are_fed_in_order_but_identical_upserts_are_not,
            the_gold_feed_is_read_in_limited_batches_after_a_sequence,
            purging_gold_changes_drops_only_those_passed_and_old_enough,
            monitor_checkpoints_are_saved_and_replaced_per_name,
            a_delivered_alert_is_recorded_once_by_its_key_and_listed,
        );
    };
    (@tests $setup:tt; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::warehouse_contract_suite!(@run $name $setup);
            }
        )*
    };
    (@run $name:ident (plain $make:expr)) => {
        let Some(warehouse) = $make.await else { return };
        $crate::contract::$name(warehouse).await;
    };
    (@run $name:ident (guarded $make:expr, $teardown:expr)) => {
        let Some((warehouse, guard)) = $make.await else { return };
        $crate::contract::$name(warehouse).await;
        ($teardown)(guard).await;
    };
}

fn scope(team: &str, target: &str) -> Scope {
    Scope {
        team: team.into(),
        target: Some(target.into()),
    }
}

fn page(task_id: Uuid, run_id: Uuid, seq: u32, source: Source, records: u64) -> BronzePage {
    BronzePage {
        task_id,
        seq,
        execution_id: run_id,
        source_system: source,
        scope: scope("payments", "acme/ledger"),
        endpoint: "pulls".into(),
        request: format!("/repos/acme/ledger/pulls?page={}", seq + 1),
        cursor: (seq + 1).to_string(),
        status: 200,
        fetched_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, seq).unwrap(),
        record_count: records,
        body: format!("[{{\"page\":{seq}}}]"),
    }
}

fn checkpoint(task_id: Uuid, run_id: Uuid, pages_done: u32) -> ExtractCheckpoint {
    ExtractCheckpoint {
        task_id,
        run_id,
        pages_done,
        state: format!("{{\"pending\":[{pages_done}]}}"),
        newest_seen: None,
        completed: false,
    }
}

pub async fn appended_pages_read_back_in_order_with_every_field(w: Arc<dyn Warehouse>) {
    let (task, run) = (Uuid::now_v7(), Uuid::now_v7());
    for seq in [0, 1, 2] {
        let p = page(task, run, seq, Source::Github, 10 + u64::from(seq));
        assert!(
            w.append_bronze_page(&p, &checkpoint(task, run, seq + 1))
                .await
                .unwrap()
        );
    }
    let pages = w
        .bronze_pages(&BronzeFilter {
            task_id: Some(task),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[2], page(task, run, 2, Source::Github, 12));
    assert_eq!(
        pages.iter().map(|p| p.seq).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
}

pub async fn a_page_stored_twice_is_kept_once(w: Arc<dyn Warehouse>) {
    let (task, run) = (Uuid::now_v7(), Uuid::now_v7());
    let first = page(task, run, 0, Source::Jira, 5);
    assert!(
        w.append_bronze_page(&first, &checkpoint(task, run, 1))
            .await
            .unwrap()
    );
    let mut again = first.clone();
    again.body = "[\"a different body\"]".into();
    assert!(
        !w.append_bronze_page(&again, &checkpoint(task, run, 1))
            .await
            .unwrap()
    );
    let pages = w.bronze_pages(&BronzeFilter::default()).await.unwrap();
    assert_eq!(pages, vec![first], "the first copy of a page wins");
}

pub async fn a_checkpoint_is_saved_with_its_page_and_resumes_the_task(w: Arc<dyn Warehouse>) {
    let (task, run) = (Uuid::now_v7(), Uuid::now_v7());
    assert_eq!(w.extract_checkpoint(task).await.unwrap(), None);
    w.append_bronze_page(
        &page(task, run, 0, Source::Jenkins, 3),
        &checkpoint(task, run, 1),
    )
    .await
    .unwrap();
    w.append_bronze_page(
        &page(task, run, 1, Source::Jenkins, 3),
        &checkpoint(task, run, 2),
    )
    .await
    .unwrap();
    let saved = w.extract_checkpoint(task).await.unwrap().unwrap();
    assert_eq!(saved, checkpoint(task, run, 2));
}

pub async fn completed_extracts_extend_coverage_without_ever_claiming_a_gap(w: Arc<dyn Warehouse>) {
    let s = scope("search", "SRCH");
    let day = |d: u32| Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap();
    let window = |a: u32, b: u32| Window {
        from: day(a),
        to: day(b),
    };
    let cp = checkpoint(Uuid::now_v7(), Uuid::now_v7(), 1);
    assert_eq!(w.coverage(Source::Jira, &s).await.unwrap(), None);

    w.complete_extract(&cp, Source::Jira, &s, window(10, 12))
        .await
        .unwrap();
    assert!(
        w.extract_checkpoint(cp.task_id)
            .await
            .unwrap()
            .unwrap()
            .completed
    );
    w.complete_extract(&cp, Source::Jira, &s, window(12, 14))
        .await
        .unwrap();
    let covered = |from, to| {
        Some(Coverage {
            from: day(from),
            to: day(to),
        })
    };
    assert_eq!(w.coverage(Source::Jira, &s).await.unwrap(), covered(10, 14));
    assert_eq!(
        w.high_watermark(Source::Jira, &s).await.unwrap(),
        Some(day(14))
    );

    // A replayed older window changes nothing; an adjoining earlier one extends it.
    w.complete_extract(&cp, Source::Jira, &s, window(11, 12))
        .await
        .unwrap();
    w.complete_extract(&cp, Source::Jira, &s, window(8, 10))
        .await
        .unwrap();
    assert_eq!(w.coverage(Source::Jira, &s).await.unwrap(), covered(8, 14));

    // Windows separated by a gap are never joined.
    w.complete_extract(&cp, Source::Jira, &s, window(1, 3))
        .await
        .unwrap();
    assert_eq!(w.coverage(Source::Jira, &s).await.unwrap(), covered(8, 14));
    w.complete_extract(&cp, Source::Jira, &s, window(20, 22))
        .await
        .unwrap();
    assert_eq!(w.coverage(Source::Jira, &s).await.unwrap(), covered(20, 22));
    assert_eq!(
        w.coverage(Source::Github, &s).await.unwrap(),
        None,
        "coverage is per source"
    );
}

fn silver_batch(run_id: Uuid, status: &str) -> SilverBatch {
    let t = |h: u32| Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap();
    SilverBatch {
        deployments: vec![SilverDeployment {
            source: Source::Github,
            key: "acme/ledger#17".into(),
            team_id: "payments".into(),
            repo: "acme/ledger".into(),
            job: None,
            environment: "production".into(),
            status: status.into(),
            started_at: t(9),
            finished_at: Some(t(10)),
            sha: Some("abc".into()),
            deployer: Some("maria".into()),
            run_id,
        }],
        changes: vec![SilverChange {
            repo: "acme/ledger".into(),
            number: 5,
            team_id: "payments".into(),
            author: Some("maria".into()),
            first_commit_at: t(1),
            merged_at: t(8),
            merge_sha: Some("abc".into()),
            run_id,
        }],
        incidents: vec![SilverIncident {
            key: "PAY-1".into(),
            project: "PAY".into(),
            team_id: "payments".into(),
            issue_type: "Incident".into(),
            priority: Some("P2".into()),
            created_at: t(11),
            resolved_at: None,
            reporter: None,
            run_id,
        }],
        counts: NormalizeCounts {
            run_id,
            source: Some(Source::Github),
            scope: Some(scope("payments", "acme/ledger")),
            pages: 3,
            deployments: 1,
            changes: 1,
            bot_changes_filtered: 2,
            rejected_records: 1,
            unknown_fields: [("last_updated".to_owned(), 1)].into(),
            ..NormalizeCounts::default()
        },
    }
}

pub async fn silver_upserts_by_natural_key_so_a_repeat_changes_nothing(w: Arc<dyn Warehouse>) {
    let run = Uuid::now_v7();
    let batch = silver_batch(run, "in_progress");
    w.upsert_silver(&batch).await.unwrap();
    w.upsert_silver(&batch).await.unwrap();
    let silver = w.team_silver("payments").await.unwrap();
    assert_eq!(silver.deployments, batch.deployments);
    assert_eq!(silver.changes, batch.changes);
    assert_eq!(silver.incidents, batch.incidents);
    assert_eq!(
        w.normalize_counts(Some(run)).await.unwrap(),
        vec![batch.counts.clone()]
    );

    let later = silver_batch(Uuid::now_v7(), "success");
    w.upsert_silver(&later).await.unwrap();
    let silver = w.team_silver("payments").await.unwrap();
    assert_eq!(silver.deployments.len(), 1);
    assert_eq!(silver.deployments[0].status, "success");
    assert!(
        w.team_silver("search")
            .await
            .unwrap()
            .deployments
            .is_empty()
    );
}

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

pub async fn totals_count_pages_and_records_per_source_and_run(w: Arc<dyn Warehouse>) {
    let (run_a, run_b) = (Uuid::now_v7(), Uuid::now_v7());
    let (t1, t2, t3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    w.append_bronze_page(
        &page(t1, run_a, 0, Source::Github, 30),
        &checkpoint(t1, run_a, 1),
    )
    .await
    .unwrap();
    w.append_bronze_page(
        &page(t1, run_a, 1, Source::Github, 7),
        &checkpoint(t1, run_a, 2),
    )
    .await
    .unwrap();
    w.append_bronze_page(
        &page(t2, run_a, 0, Source::Jira, 4),
        &checkpoint(t2, run_a, 1),
    )
    .await
    .unwrap();
    w.append_bronze_page(
        &page(t3, run_b, 0, Source::Github, 1),
        &checkpoint(t3, run_b, 1),
    )
    .await
    .unwrap();
    let totals = w.bronze_totals(Some(run_a)).await.unwrap();
    let github = totals.iter().find(|t| t.source == Source::Github).unwrap();
    assert_eq!((github.pages, github.records), (2, 37));
    let all = w.bronze_totals(None).await.unwrap();
    let github = all.iter().find(|t| t.source == Source::Github).unwrap();
    assert_eq!((github.pages, github.records), (3, 38));
}

pub async fn purge_removes_only_pages_older_than_the_cutoff(w: Arc<dyn Warehouse>) {
    let (task, run) = (Uuid::now_v7(), Uuid::now_v7());
    for seq in 0..4 {
        w.append_bronze_page(
            &page(task, run, seq, Source::Github, 1),
            &checkpoint(task, run, seq),
        )
        .await
        .unwrap();
    }
    let cutoff = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 2).unwrap();
    assert_eq!(w.purge_bronze_before(cutoff).await.unwrap(), 2);
    let left = w.bronze_pages(&BronzeFilter::default()).await.unwrap();
    assert_eq!(left.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![2, 3]);
}

pub async fn dead_letters_are_archived_once_and_read_back_whole(w: Arc<dyn Warehouse>) {
    let now = Utc::now();
    let task = TaskEnvelope::new(
        Uuid::now_v7(),
        Stage::Extract,
        Some(Source::Jenkins),
        scope("mobile", "mobile-web-deploy"),
        Window {
            from: now - Duration::days(1),
            to: now,
        },
        3,
    );
    let letter = DeadLetter::for_task(
        &task,
        AttemptRecord {
            attempt: 1,
            at: now,
            worker: "worker-a".into(),
            class: ErrorClass::Permanent,
            message: "HTTP 404".into(),
            progressed: false,
        },
        "permanent failure: HTTP 404".into(),
    );
    let poison = DeadLetter::for_poison(b"{oops", "not JSON".into(), "worker-b");
    w.store_dead_letter(&letter).await.unwrap();
    w.store_dead_letter(&letter).await.unwrap();
    w.store_dead_letter(&poison).await.unwrap();
    let letters = w.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert!(letters.contains(&letter));
    assert!(letters.contains(&poison));
}

pub async fn runs_and_task_states_are_saved_and_updated(w: Arc<dyn Warehouse>) {
    let now = Utc::now();
    let window = Window {
        from: now - Duration::days(1),
        to: now,
    };
    let mut run = RunRecord {
        run_id: Uuid::now_v7(),
        kind: "incremental".into(),
        window,
        status: RunStatus::Running,
        created_at: now,
        updated_at: now,
        // Kept through status updates: a restarted coordinator continues the trace.
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    };
    w.save_run(&run).await.unwrap();
    let task = TaskEnvelope::new(
        run.run_id,
        Stage::Extract,
        Some(Source::Github),
        scope("payments", "acme/ledger"),
        window,
        3,
    );
    let mut record = TaskRecord {
        envelope: task.clone(),
        state: TaskState::Pending,
        published: false,
        worker: None,
        attempts: 0,
        updated_at: now,
    };
    w.save_tasks(&[record.clone()]).await.unwrap();
    record.state = TaskState::Done;
    record.published = true;
    record.worker = Some("worker-1".into());
    record.attempts = 2;
    w.save_tasks(&[record.clone()]).await.unwrap();
    assert_eq!(w.run_tasks(run.run_id).await.unwrap(), vec![record]);
    assert!(w.run_tasks(Uuid::now_v7()).await.unwrap().is_empty());

    run.status = RunStatus::Completed;
    w.save_run(&run).await.unwrap();
    let later = RunRecord {
        run_id: Uuid::now_v7(),
        created_at: now + Duration::seconds(1),
        ..run.clone()
    };
    w.save_run(&later).await.unwrap();
    let runs = w.runs(10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].run_id, later.run_id, "newest first");
    assert_eq!(runs[1].status, RunStatus::Completed);
    assert_eq!(w.run(run.run_id).await.unwrap(), Some(run));
    assert_eq!(w.run(Uuid::now_v7()).await.unwrap(), None);
}

pub async fn a_lease_has_one_holder_until_it_expires_or_is_released(w: Arc<dyn Warehouse>) {
    let long = std::time::Duration::from_secs(60);
    assert!(w.acquire_lease("coordinator", "a", long).await.unwrap());
    assert!(
        w.acquire_lease("coordinator", "a", long).await.unwrap(),
        "renewal"
    );
    assert!(!w.acquire_lease("coordinator", "b", long).await.unwrap());
    assert!(
        w.acquire_lease("other", "b", long).await.unwrap(),
        "leases are per name"
    );
    w.release_lease("coordinator", "b").await.unwrap();
    assert!(
        !w.acquire_lease("coordinator", "b", long).await.unwrap(),
        "only the holder releases"
    );
    w.release_lease("coordinator", "a").await.unwrap();
    assert!(
        w.acquire_lease("coordinator", "b", std::time::Duration::ZERO)
            .await
            .unwrap()
    );
    // b's lease expired at once: a gets it as soon as the clock moves on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !w.acquire_lease("coordinator", "a", long).await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "an expired lease is never free"
        );
        tokio::task::yield_now().await;
    }
}

pub async fn request_slots_are_spaced_by_the_interval_and_holds_push_them_back(
    w: Arc<dyn Warehouse>,
) {
    let interval = std::time::Duration::from_millis(100);
    let mut slots = Vec::new();
    for _ in 0..5 {
        slots.push(w.reserve_slot("github", interval).await.unwrap());
    }
    for pair in slots.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::milliseconds(100), "{pair:?}");
    }
    let hold = Utc::now() + Duration::seconds(30);
    w.hold_slots_until("github", hold).await.unwrap();
    assert!(w.reserve_slot("github", interval).await.unwrap() >= hold);
    w.hold_slots_until("github", Utc::now()).await.unwrap();
    assert!(
        w.reserve_slot("github", interval).await.unwrap() >= hold,
        "an earlier hold never shortens a later one"
    );
    assert!(
        w.reserve_slot("jira", interval).await.unwrap() < hold,
        "schedules are per key"
    );
}

fn dead_task_letter(source: Source, team: &str) -> (TaskEnvelope, DeadLetter) {
    let now = Utc::now();
    let task = TaskEnvelope::new(
        Uuid::now_v7(),
        Stage::Extract,
        Some(source),
        scope(team, "x"),
        Window {
            from: now - Duration::days(1),
            to: now,
        },
        3,
    );
    let letter = DeadLetter::for_task(
        &task,
        AttemptRecord {
            attempt: 3,
            at: now,
            worker: "w".into(),
            class: ErrorClass::Transient,
            message: "HTTP 503".into(),
            progressed: false,
        },
        "retries exhausted".into(),
    );
    (task, letter)
}

pub async fn a_replayed_letter_goes_dead_to_replaying_to_replayed_with_its_audit_trail(
    w: Arc<dyn Warehouse>,
) {
    let (task, letter) = dead_task_letter(Source::Jira, "search");
    let blocked = RunRecord {
        run_id: task.run_id,
        kind: "range".into(),
        window: task.window,
        status: RunStatus::Blocked,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        traceparent: None,
    };
    w.save_run(&blocked).await.unwrap();
    w.save_tasks(&[TaskRecord {
        envelope: task.clone(),
        state: TaskState::Dead,
        published: true,
        worker: Some("w".into()),
        attempts: 3,
        updated_at: Utc::now(),
    }])
    .await
    .unwrap();
    w.store_dead_letter(&letter).await.unwrap();
    let by_id = LetterFilter {
        ids: vec![letter.id],
        ..LetterFilter::default()
    };
    let archived = w.archived_letters(&by_id).await.unwrap();
    assert_eq!(archived[0].status, LetterStatus::Dead);
    assert_eq!(archived[0].letter, letter);

    let claimed = w
        .claim_letter(letter.id, "ops@host", std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a dead letter is claimable");
    assert_eq!(claimed.status, LetterStatus::Replaying);
    let mut fresh = task.clone();
    fresh.history.clear();
    w.finish_replay(letter.id, "ops@host", &fresh)
        .await
        .unwrap();

    let after = &w.archived_letters(&by_id).await.unwrap()[0];
    assert_eq!(
        (after.status, after.replay_count),
        (LetterStatus::Replayed, 1)
    );
    let actions: Vec<&str> = after.audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, vec!["archived", "replay_claimed", "replayed"]);
    assert!(after.audit[2].actor == "ops@host");
    let record = &w.run_tasks(task.run_id).await.unwrap()[0];
    assert_eq!(
        (record.state, record.attempts),
        (TaskState::Pending, 0),
        "the run waits again"
    );
    assert!(
        w.claim_letter(letter.id, "ops@host", std::time::Duration::ZERO)
            .await
            .unwrap()
            .is_none(),
        "a replayed letter is not claimed again"
    );
}

pub async fn a_claimed_letter_is_not_claimed_twice_until_its_claim_is_stale(w: Arc<dyn Warehouse>) {
    let (_, letter) = dead_task_letter(Source::Github, "payments");
    w.store_dead_letter(&letter).await.unwrap();
    let minute = std::time::Duration::from_secs(60);
    assert!(
        w.claim_letter(letter.id, "a", minute)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        w.claim_letter(letter.id, "b", minute)
            .await
            .unwrap()
            .is_none()
    );
    // A claim older than `stale_after` (the replay died) is taken over.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while w
        .claim_letter(letter.id, "b", std::time::Duration::ZERO)
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a stale claim is never taken over"
        );
        tokio::task::yield_now().await;
    }
    w.abandon_replay(letter.id, "b", "broker down")
        .await
        .unwrap();
    let after = &w
        .archived_letters(&LetterFilter {
            ids: vec![letter.id],
            ..LetterFilter::default()
        })
        .await
        .unwrap()[0];
    assert_eq!(after.status, LetterStatus::Dead);
    assert_eq!(after.audit.last().unwrap().action, "replay_abandoned");
    assert_eq!(after.audit.last().unwrap().detail, "broker down");
}

pub async fn only_dead_letters_are_discarded_and_filters_select_letters(w: Arc<dyn Warehouse>) {
    let (_, jira) = dead_task_letter(Source::Jira, "search");
    let (_, github) = dead_task_letter(Source::Github, "payments");
    w.store_dead_letter(&jira).await.unwrap();
    w.store_dead_letter(&github).await.unwrap();
    assert!(
        w.discard_letter(jira.id, "ops", "known outage")
            .await
            .unwrap()
    );
    assert!(!w.discard_letter(jira.id, "ops", "again").await.unwrap());

    let select = |f: LetterFilter| {
        let w = Arc::clone(&w);
        async move {
            w.archived_letters(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.letter.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        select(LetterFilter {
            source: Some(Source::Jira),
            ..LetterFilter::default()
        })
        .await,
        vec![jira.id]
    );
    assert_eq!(
        select(LetterFilter {
            status: Some(LetterStatus::Dead),
            ..LetterFilter::default()
        })
        .await,
        vec![github.id]
    );
    assert_eq!(
        select(LetterFilter {
            team: Some("payments".into()),
            ..LetterFilter::default()
        })
        .await,
        vec![github.id]
    );
    assert!(
        select(LetterFilter {
            until: Some(Utc::now() - Duration::days(1)),
            ..LetterFilter::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        select(LetterFilter {
            limit: Some(1),
            ..LetterFilter::default()
        })
        .await
        .len(),
        1
    );
    let discarded = &w
        .archived_letters(&LetterFilter {
            ids: vec![jira.id],
            ..LetterFilter::default()
        })
        .await
        .unwrap()[0];
    assert_eq!(discarded.status, LetterStatus::Discarded);
    assert_eq!(discarded.audit.last().unwrap().detail, "known outage");
}

fn hold(run_id: Uuid, team: &str, from_day: u32, created_secs: i64) -> Hold {
    let from = chrono::NaiveDate::from_ymd_opt(2026, 9, from_day).unwrap();
    Hold {
        hold_id: Hold::id_for(run_id, team, "volume", Some("github:acme/api"), from),
        run_id,
        team_id: team.into(),
        sensor: "volume".into(),
        scope: Some("github:acme/api".into()),
        from,
        to: from + Duration::days(7),
        evidence: HoldEvidence {
            measure: "github acme/api records".into(),
            observed: 0.0,
            expected: 42.5,
            threshold: "observed < 50% of expected and 3σ below".into(),
            detail: "8 baseline weeks".into(),
        },
        status: HoldStatus::Open,
        created_at: Utc
            .timestamp_opt(1_790_000_000 + created_secs, 123_456_789)
            .unwrap(),
        resolution: None,
    }
}

pub async fn holds_are_stored_once_selected_by_run_team_and_status_and_resolved_once(
    w: Arc<dyn Warehouse>,
) {
    let (run_a, run_b) = (Uuid::now_v7(), Uuid::now_v7());
    let first = hold(run_a, "payments", 1, 0);
    w.save_hold(&first).await.unwrap();
    w.save_hold(&first).await.unwrap();
    w.save_hold(&hold(run_a, "search", 1, 1)).await.unwrap();
    w.save_hold(&hold(run_b, "payments", 8, 2)).await.unwrap();

    let all = w.holds(&HoldFilter::default()).await.unwrap();
    assert_eq!(all.len(), 3, "a hold saved twice is stored once");
    assert_eq!(all[0], first, "read back whole, oldest first");
    let of_run_a = HoldFilter {
        run_id: Some(run_a),
        ..HoldFilter::default()
    };
    assert_eq!(w.holds(&of_run_a).await.unwrap().len(), 2);
    let payments_open = HoldFilter {
        team_id: Some("payments".into()),
        status: Some(HoldStatus::Open),
        ..HoldFilter::default()
    };
    assert_eq!(w.holds(&payments_open).await.unwrap().len(), 2);
    let older = HoldFilter {
        created_before: Some(first.created_at + Duration::seconds(2)),
        ..HoldFilter::default()
    };
    assert_eq!(w.holds(&older).await.unwrap().len(), 2);

    let release = HoldResolution {
        at: Utc::now(),
        by: "olga".into(),
        reason: "release freeze: the quiet week is real".into(),
    };
    let released = w
        .resolve_holds(&of_run_a, HoldStatus::Released, &release)
        .await
        .unwrap();
    assert_eq!(released.len(), 2);
    assert!(released.iter().all(|h| h.status == HoldStatus::Released));
    let again = w
        .resolve_holds(&of_run_a, HoldStatus::Cleared, &release)
        .await
        .unwrap();
    assert!(
        again.is_empty(),
        "a resolved hold keeps its first resolution"
    );
    let stored = w.holds(&of_run_a).await.unwrap();
    assert!(
        stored
            .iter()
            .all(|h| h.status == HoldStatus::Released && h.resolution.as_ref() == Some(&release))
    );
    w.save_hold(&first).await.unwrap();
    assert_eq!(
        w.holds(&payments_open).await.unwrap().len(),
        1,
        "saving a resolved hold again does not reopen it"
    );
}

/// Run `n` copies of `job` at once against one warehouse.
async fn all_at_once<T, F, Fut>(w: &Arc<dyn Warehouse>, n: usize, job: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Warehouse>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let mut jobs = tokio::task::JoinSet::new();
    for i in 0..n {
        jobs.spawn(job(Arc::clone(w), i));
    }
    let mut out = Vec::new();
    while let Some(result) = jobs.join_next().await {
        out.push(result.expect("a concurrent job panicked"));
    }
    out
}

pub async fn concurrent_claims_of_one_letter_have_exactly_one_winner(w: Arc<dyn Warehouse>) {
    let (_, letter) = dead_task_letter(Source::Jenkins, "mobile");
    w.store_dead_letter(&letter).await.unwrap();
    let minute = std::time::Duration::from_secs(60);
    let claims = all_at_once(&w, 8, |w, i| async move {
        w.claim_letter(letter.id, &format!("ops-{i}"), minute)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(
        claims.iter().filter(|c| c.is_some()).count(),
        1,
        "one replay wins"
    );
    let after = &w
        .archived_letters(&LetterFilter {
            ids: vec![letter.id],
            ..LetterFilter::default()
        })
        .await
        .unwrap()[0];
    let claimed = after
        .audit
        .iter()
        .filter(|a| a.action == "replay_claimed")
        .count();
    assert_eq!(claimed, 1, "one claim is audited");
}

pub async fn concurrent_lease_requests_have_exactly_one_winner(w: Arc<dyn Warehouse>) {
    let long = std::time::Duration::from_secs(60);
    let taken = all_at_once(&w, 8, |w, i| async move {
        w.acquire_lease("scheduler", &format!("coordinator-{i}"), long)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(taken.iter().filter(|t| **t).count(), 1);
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

pub async fn concurrent_slot_reservations_are_never_closer_than_the_interval(
    w: Arc<dyn Warehouse>,
) {
    let interval = std::time::Duration::from_millis(20);
    let batches = all_at_once(&w, 4, |w, _| async move {
        let mut slots = Vec::new();
        for _ in 0..5 {
            slots.push(w.reserve_slot("jenkins", interval).await.unwrap());
        }
        slots
    })
    .await;
    let mut all: Vec<_> = batches.into_iter().flatten().collect();
    all.sort();
    assert_eq!(all.len(), 20);
    for pair in all.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::milliseconds(20), "{pair:?}");
    }
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

pub async fn monitor_checkpoints_are_saved_and_replaced_per_name(w: Arc<dyn Warehouse>) {
    assert_eq!(w.monitor_checkpoint("alerts").await.unwrap(), None);
    w.save_monitor_checkpoint("alerts", "17").await.unwrap();
    w.save_monitor_checkpoint("other", "{\"_data\":\"8263\"}")
        .await
        .unwrap();
    w.save_monitor_checkpoint("alerts", "42").await.unwrap();
    assert_eq!(
        w.monitor_checkpoint("alerts").await.unwrap().as_deref(),
        Some("42")
    );
    assert_eq!(
        w.monitor_checkpoint("other").await.unwrap().as_deref(),
        Some("{\"_data\":\"8263\"}")
    );
}

pub async fn a_delivered_alert_is_recorded_once_by_its_key_and_listed(w: Arc<dyn Warehouse>) {
    let key = "change_failure_rate_above:payments:2026-03-01:v1";
    assert!(!w.alert_delivered(key).await.unwrap());
    assert!(w.record_delivered_alert(key, "{\"n\":1}").await.unwrap());
    assert!(!w.record_delivered_alert(key, "{\"n\":2}").await.unwrap());
    assert!(w.alert_delivered(key).await.unwrap());
    assert!(w.record_delivered_alert("other", "{}").await.unwrap());
    let listed = w.delivered_alerts(10).await.unwrap();
    assert_eq!(listed.len(), 2);
    let first = listed.iter().find(|a| a.key == key).unwrap();
    assert_eq!(first.payload, "{\"n\":1}");
    assert_eq!(w.delivered_alerts(1).await.unwrap().len(), 1);
}
