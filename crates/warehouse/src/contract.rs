//! The contract every [`Warehouse`] implementation must pass.
//!
//! Each check is a plain async function taking a fresh, empty warehouse; the
//! [`warehouse_contract_suite!`](crate::warehouse_contract_suite) macro turns
//! them into one `#[tokio::test]` each for a given backend, so SQLite and
//! MongoDB are held to exactly the same behaviour.

use crate::{
    BronzeFilter, BronzePage, Coverage, ExtractCheckpoint, GoldFilter, GoldRecord, LetterFilter,
    LetterStatus, NormalizeCounts, RunRecord, RunStatus, SilverBatch, SilverChange,
    SilverDeployment, SilverIncident, TaskRecord, TaskState, Warehouse,
};
use chrono::{Duration, TimeZone, Utc};
use dorafleet_core::{
    AttemptRecord, DeadLetter, ErrorClass, Metric, Scope, Source, Stage, TaskEnvelope, Window,
};
use std::sync::Arc;
use uuid::Uuid;

/// Instantiate the contract suite for a backend. `$make` is an expression
/// evaluating to a future of `Option<Arc<dyn Warehouse>>`; `None` skips the
/// suite (e.g. MongoDB without `MONGODB_URI`), after printing why.
#[macro_export]
macro_rules! warehouse_contract_suite {
    ($make:expr) => {
        $crate::warehouse_contract_suite!(@tests $make;
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
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(warehouse) = $make.await else { return };
                $crate::contract::$name(warehouse).await;
            }
        )*
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

fn gold(team: &str, day: u32, metric: Metric, value: Option<f64>) -> GoldRecord {
    GoldRecord {
        date: chrono::NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
        team_id: team.into(),
        metric,
        value,
        sample_size: 2,
        samples: vec![1.5, 2.5],
        definition_version: 1,
        run_id: Uuid::now_v7(),
        computed_at: Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0).unwrap(),
        complete: true,
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
