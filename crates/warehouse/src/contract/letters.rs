//! The contract of the warehouse's letters role: the dead-letter archive: storing, claiming, replaying and discarding letters.

use super::*;

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
    assert!(
        select(LetterFilter {
            limit: Some(0),
            ..LetterFilter::default()
        })
        .await
        .is_empty(),
        "a limit of 0 selects nothing"
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

pub async fn a_batch_discard_marks_only_the_dead_letters_named_each_once(w: Arc<dyn Warehouse>) {
    let letters: Vec<_> = (0..4)
        .map(|_| dead_task_letter(Source::Jenkins, "deploy").1)
        .collect();
    for letter in &letters {
        w.store_dead_letter(letter).await.unwrap();
    }
    assert!(
        w.discard_letter(letters[0].id, "ops", "first")
            .await
            .unwrap()
    );
    let claimed = w
        .claim_letters(
            &[letters[1].id],
            "replayer",
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let named = [
        letters[0].id, // already discarded
        letters[1].id, // claimed by a replay
        letters[2].id,
        letters[3].id,
        letters[3].id,  // named twice
        Uuid::now_v7(), // unknown
    ];
    let discarded = w
        .discard_letters(&named, "ops", "known outage")
        .await
        .unwrap();
    assert_eq!(discarded, 2);
    let after = w
        .archived_letters(&LetterFilter {
            ids: letters.iter().map(|l| l.id).collect(),
            ..LetterFilter::default()
        })
        .await
        .unwrap();
    for a in &after {
        let discards = a.audit.iter().filter(|e| e.action == "discarded").count();
        if a.letter.id == letters[1].id {
            assert_ne!(
                a.status,
                LetterStatus::Discarded,
                "a claimed letter stays with its replay"
            );
            assert_eq!(discards, 0);
        } else {
            assert_eq!(a.status, LetterStatus::Discarded, "{}", a.letter.id);
            assert_eq!(discards, 1, "{} audited once", a.letter.id);
        }
    }
}
