//! The contract of the letters role for replays in batches: a batch claim
//! is as exclusive as single claims, a batch finish marks, resets and
//! reopens as single finishes do but all or nothing, and claims given back
//! in a batch keep each reason.

use super::*;
use crate::ClaimOutcome;

const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);

/// A dead letter of an extract task of `run_id`, stored along with the
/// task's record (dead after 3 attempts).
async fn dead_letter_of_run(w: &Arc<dyn Warehouse>, run_id: Uuid) -> (TaskEnvelope, DeadLetter) {
    let now = Utc::now();
    let task = TaskEnvelope::new(
        run_id,
        Stage::Extract,
        Some(Source::Github),
        scope("payments", "acme/api"),
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
            message: "HTTP 502".into(),
            progressed: false,
        },
        "retries exhausted".into(),
    );
    w.save_tasks(&[TaskRecord {
        envelope: task.clone(),
        state: TaskState::Dead,
        published: true,
        worker: Some("w".into()),
        attempts: 3,
        updated_at: now,
    }])
    .await
    .unwrap();
    w.store_dead_letter(&letter).await.unwrap();
    (task, letter)
}

async fn save_run(w: &Arc<dyn Warehouse>, status: RunStatus) -> Uuid {
    let now = Utc::now();
    let run = RunRecord {
        run_id: Uuid::now_v7(),
        kind: "range".into(),
        window: Window {
            from: now - Duration::days(1),
            to: now,
        },
        status,
        created_at: now,
        updated_at: now,
        traceparent: None,
    };
    w.save_run(&run).await.unwrap();
    run.run_id
}

/// Every letter of `ids`, by id, in that order.
async fn letters_by_id(w: &Arc<dyn Warehouse>, ids: &[Uuid]) -> Vec<crate::ArchivedLetter> {
    let found = w
        .archived_letters(&LetterFilter {
            ids: ids.to_vec(),
            ..LetterFilter::default()
        })
        .await
        .unwrap();
    ids.iter()
        .map(|id| {
            found
                .iter()
                .find(|a| a.letter.id == *id)
                .expect("stored letter")
                .clone()
        })
        .collect()
}

fn actions(letter: &crate::ArchivedLetter) -> Vec<&str> {
    letter.audit.iter().map(|a| a.action.as_str()).collect()
}

pub async fn concurrent_batch_claims_over_overlapping_ids_never_both_win_a_letter(
    w: Arc<dyn Warehouse>,
) {
    let run = save_run(&w, RunStatus::Blocked).await;
    let mut ids = Vec::new();
    for _ in 0..24 {
        ids.push(dead_letter_of_run(&w, run).await.1.id);
    }
    // Four replays, each over half of the letters, each half overlapping
    // two others, and each in an order of its own.
    let ids = Arc::new(ids);
    let claims = all_at_once(&w, 4, |w, i| {
        let ids = Arc::clone(&ids);
        async move {
            let mut mine: Vec<Uuid> = (0..12).map(|k| ids[(i * 6 + k) % 24]).collect();
            if i % 2 == 1 {
                mine.reverse();
            }
            let outcomes = w
                .claim_letters(&mine, &format!("ops-{i}"), MINUTE)
                .await
                .unwrap();
            assert_eq!(outcomes.len(), mine.len(), "one outcome per id");
            mine.into_iter().zip(outcomes).collect::<Vec<_>>()
        }
    })
    .await;
    for id in ids.iter() {
        let outcomes: Vec<ClaimOutcome> = claims
            .iter()
            .flatten()
            .filter(|(claimed, _)| claimed == id)
            .map(|(_, outcome)| *outcome)
            .collect();
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == ClaimOutcome::Claimed)
                .count(),
            1,
            "letter {id} has one winner: {outcomes:?}"
        );
        assert!(
            outcomes.iter().all(|o| matches!(
                o,
                ClaimOutcome::Claimed | ClaimOutcome::NotClaimed(Some(LetterStatus::Replaying))
            )),
            "the losers see the winner's claim: {outcomes:?}"
        );
    }
    for letter in letters_by_id(&w, &ids).await {
        assert_eq!(letter.status, LetterStatus::Replaying);
        assert_eq!(
            actions(&letter),
            vec!["archived", "replay_claimed"],
            "one claim is audited"
        );
    }
}

pub async fn a_batch_finish_marks_each_letter_replayed_once_resets_its_task_and_reopens_its_run(
    w: Arc<dyn Warehouse>,
) {
    let blocked = save_run(&w, RunStatus::Blocked).await;
    let completed = save_run(&w, RunStatus::Completed).await;
    let untouched = save_run(&w, RunStatus::Blocked).await;
    let mut letters = Vec::new();
    for run in [blocked, blocked, completed] {
        letters.push(dead_letter_of_run(&w, run).await);
    }
    let bystander = dead_letter_of_run(&w, untouched).await;
    let ids: Vec<Uuid> = letters.iter().map(|(_, l)| l.id).collect();
    let claimed = w.claim_letters(&ids, "ops@host", MINUTE).await.unwrap();
    assert_eq!(claimed, vec![ClaimOutcome::Claimed; 3]);

    let replayed: Vec<(Uuid, TaskEnvelope)> = letters
        .iter()
        .map(|(task, letter)| {
            let mut fresh = task.clone();
            fresh.history.clear();
            fresh.replay += 1;
            (letter.id, fresh)
        })
        .collect();
    w.finish_replays(&replayed, "ops@host").await.unwrap();

    for letter in letters_by_id(&w, &ids).await {
        assert_eq!(
            (letter.status, letter.replay_count),
            (LetterStatus::Replayed, 1)
        );
        assert_eq!(
            actions(&letter),
            vec!["archived", "replay_claimed", "replayed"]
        );
        let mark = letter.audit.last().unwrap();
        assert_eq!(mark.actor, "ops@host");
        assert!(mark.detail.contains("replay #1"), "{}", mark.detail);
    }
    for run in [blocked, completed] {
        assert_eq!(
            w.run(run).await.unwrap().unwrap().status,
            RunStatus::Running,
            "the run waits for its replayed tasks"
        );
        for record in w.run_tasks(run).await.unwrap() {
            assert_eq!((record.state, record.attempts), (TaskState::Pending, 0));
            assert_eq!(record.envelope.replay, 1, "the replayed envelope is kept");
        }
    }
    assert_eq!(
        w.run(untouched).await.unwrap().unwrap().status,
        RunStatus::Blocked,
        "a run with no replayed task stays as it was"
    );
    assert_eq!(
        letters_by_id(&w, &[bystander.1.id]).await[0].status,
        LetterStatus::Dead
    );
    assert_eq!(
        w.claim_letters(&ids, "ops@host", std::time::Duration::ZERO)
            .await
            .unwrap(),
        vec![ClaimOutcome::NotClaimed(Some(LetterStatus::Replayed)); 3],
        "replayed letters are not claimed again"
    );
}

pub async fn a_batch_finish_naming_an_unknown_letter_writes_nothing(w: Arc<dyn Warehouse>) {
    let run = save_run(&w, RunStatus::Blocked).await;
    let (task, letter) = dead_letter_of_run(&w, run).await;
    w.claim_letters(&[letter.id], "ops", MINUTE).await.unwrap();
    let unknown = Uuid::now_v7();
    let err = w
        .finish_replays(&[(letter.id, task.clone()), (unknown, task.clone())], "ops")
        .await
        .expect_err("a letter that does not exist cannot be finished");
    assert!(
        matches!(err, WarehouseError::Corrupt { .. }),
        "not worth a retry: {err}"
    );
    let after = &letters_by_id(&w, &[letter.id]).await[0];
    assert_eq!(
        (after.status, after.replay_count),
        (LetterStatus::Replaying, 0)
    );
    assert_eq!(actions(after), vec!["archived", "replay_claimed"]);
    assert_eq!(w.run_tasks(run).await.unwrap()[0].state, TaskState::Dead);
    assert_eq!(
        w.run(run).await.unwrap().unwrap().status,
        RunStatus::Blocked
    );
}

pub async fn a_batch_claim_reports_discarded_unknown_and_repeated_ids_as_not_claimed(
    w: Arc<dyn Warehouse>,
) {
    let run = save_run(&w, RunStatus::Blocked).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(dead_letter_of_run(&w, run).await.1.id);
    }
    let (kept, discarded, other) = (ids[0], ids[1], ids[2]);
    assert!(w.discard_letter(discarded, "ops", "known").await.unwrap());
    let unknown = Uuid::now_v7();
    let outcomes = w
        .claim_letters(&[kept, discarded, unknown, kept, other], "ops", MINUTE)
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            ClaimOutcome::Claimed,
            ClaimOutcome::NotClaimed(Some(LetterStatus::Discarded)),
            ClaimOutcome::NotClaimed(None),
            ClaimOutcome::NotClaimed(Some(LetterStatus::Replaying)),
            ClaimOutcome::Claimed,
        ]
    );
    let after = letters_by_id(&w, &ids).await;
    assert_eq!(actions(&after[0]), vec!["archived", "replay_claimed"]);
    assert_eq!(actions(&after[1]), vec!["archived", "discarded"]);
    assert_eq!(after[1].status, LetterStatus::Discarded);
}

pub async fn claims_given_back_in_a_batch_are_dead_again_each_with_its_reason(
    w: Arc<dyn Warehouse>,
) {
    let run = save_run(&w, RunStatus::Blocked).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(dead_letter_of_run(&w, run).await.1.id);
    }
    w.claim_letters(&ids[..2], "ops", MINUTE).await.unwrap();
    w.abandon_replays(
        &[
            (ids[0], "republish failed: connection reset".into()),
            (ids[1], "republish failed: channel closed".into()),
            (ids[2], "never claimed".into()),
        ],
        "ops",
    )
    .await
    .unwrap();
    let after = letters_by_id(&w, &ids).await;
    assert!(after.iter().all(|a| a.status == LetterStatus::Dead));
    assert_eq!(
        after[0].audit.last().unwrap().detail,
        "republish failed: connection reset"
    );
    assert_eq!(
        after[1].audit.last().unwrap().detail,
        "republish failed: channel closed"
    );
    assert_eq!(
        actions(&after[2]),
        vec!["archived"],
        "a letter that was not replaying is left as it was"
    );
    assert_eq!(
        w.claim_letters(&ids, "ops", MINUTE).await.unwrap(),
        vec![ClaimOutcome::Claimed; 3],
        "a claim given back is claimable again at once"
    );
}
