//! Replays in batches against a real (in-memory SQLite) archive and a
//! broker that records every publish and can refuse chosen tasks: each
//! letter is republished once and recorded once, a failed publish gives its
//! claim back and stops the replay after its batch, and letters that cannot
//! or may not be replayed are never published.

use async_trait::async_trait;
use chrono::Utc;
use dorafleet_broker::{
    Broker, BrokerError, DeliveryStream, InProcessBroker, Result as BrokerResult, Route,
};
use dorafleet_coordinator::replay::{REPLAY_BATCH, ReplayError, ReplayOptions, replay};
use dorafleet_core::{
    AttemptRecord, DeadLetter, ErrorClass, Scope, Source, Stage, TaskEnvelope, TaskEvent, Window,
};
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use dorafleet_warehouse::{
    ArchivedLetter, LetterFilter, LetterStatus, RunRecord, RunStatus, TaskRecord, TaskState,
    Warehouse,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// An in-process broker that records the tasks it accepted and refuses
/// the tasks it was told to, as a broker going down mid-batch would.
#[derive(Debug, Default)]
struct RecordingBroker {
    inner: InProcessBroker,
    refuse: HashSet<Uuid>,
    accepted: Mutex<Vec<Uuid>>,
}

#[async_trait]
impl Broker for RecordingBroker {
    async fn publish(&self, task: &TaskEnvelope) -> BrokerResult<()> {
        if self.refuse.contains(&task.task_id) {
            return Err(BrokerError::Unavailable("connection reset".into()));
        }
        self.inner.publish(task).await?;
        self.accepted.lock().unwrap().push(task.task_id);
        Ok(())
    }
    async fn publish_delayed(&self, task: &TaskEnvelope, delay: Duration) -> BrokerResult<()> {
        self.inner.publish_delayed(task, delay).await
    }
    async fn publish_dead_letter(&self, letter: &DeadLetter) -> BrokerResult<()> {
        self.inner.publish_dead_letter(letter).await
    }
    async fn publish_event(&self, event: &TaskEvent) -> BrokerResult<()> {
        self.inner.publish_event(event).await
    }
    async fn consume_tasks(&self, routes: &[Route]) -> BrokerResult<Box<dyn DeliveryStream>> {
        self.inner.consume_tasks(routes).await
    }
    async fn consume_dead_letters(&self) -> BrokerResult<Box<dyn DeliveryStream>> {
        self.inner.consume_dead_letters().await
    }
    async fn consume_events(&self) -> BrokerResult<Box<dyn DeliveryStream>> {
        self.inner.consume_events().await
    }
    async fn close(&self) -> BrokerResult<()> {
        Broker::close(&self.inner).await
    }
}

fn options(stale_after: Duration) -> ReplayOptions {
    ReplayOptions {
        actor: "ops@host".into(),
        stale_after,
    }
}

/// A blocked run with `n` dead extract tasks, each archived as a letter;
/// the letters as a replay selects them, in order.
async fn blocked_run_with_letters(w: &Arc<dyn Warehouse>, n: usize) -> (Uuid, Vec<ArchivedLetter>) {
    let now = Utc::now();
    let window = Window {
        from: now - chrono::Duration::days(1),
        to: now,
    };
    let run_id = Uuid::now_v7();
    w.save_run(&RunRecord {
        run_id,
        kind: "range".into(),
        window,
        status: RunStatus::Blocked,
        created_at: now,
        updated_at: now,
        traceparent: None,
    })
    .await
    .unwrap();
    let mut records = Vec::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let task = TaskEnvelope::new(
            run_id,
            Stage::Extract,
            Some(Source::Github),
            Scope {
                team: "payments".into(),
                target: Some(format!("acme/repo-{i}")),
            },
            window,
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
        w.store_dead_letter(&letter).await.unwrap();
        ids.push(letter.id);
        records.push(TaskRecord {
            envelope: task,
            state: TaskState::Dead,
            published: true,
            worker: Some("w".into()),
            attempts: 3,
            updated_at: now,
        });
    }
    w.save_tasks(&records).await.unwrap();
    (run_id, in_order(w, &ids).await)
}

/// The archived letters of `ids`, in that order.
async fn in_order(w: &Arc<dyn Warehouse>, ids: &[Uuid]) -> Vec<ArchivedLetter> {
    let found = w
        .archived_letters(&LetterFilter {
            ids: ids.to_vec(),
            ..LetterFilter::default()
        })
        .await
        .unwrap();
    ids.iter()
        .map(|id| found.iter().find(|a| a.letter.id == *id).unwrap().clone())
        .collect()
}

fn task_id(letter: &ArchivedLetter) -> Uuid {
    letter.letter.envelope.as_ref().unwrap().task_id
}

fn actions(letter: &ArchivedLetter) -> Vec<&str> {
    letter.audit.iter().map(|a| a.action.as_str()).collect()
}

fn warehouse() -> Arc<dyn Warehouse> {
    Arc::new(SqliteWarehouse::open_in_memory().unwrap())
}

#[tokio::test]
async fn a_replayed_batch_marks_every_letter_once_and_publishes_each_task_once() {
    let w = warehouse();
    let total = 2 * REPLAY_BATCH + 88;
    let (run_id, letters) = blocked_run_with_letters(&w, total).await;
    let broker = RecordingBroker::default();
    let mut progress = Vec::new();
    let report = replay(
        w.as_ref(),
        &broker,
        &letters,
        &options(Duration::from_secs(60)),
        |done, total| progress.push((done, total)),
    )
    .await
    .unwrap();

    let ids: Vec<Uuid> = letters.iter().map(|a| a.letter.id).collect();
    assert_eq!(report.replayed, ids, "every letter, in order");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let accepted = broker.accepted.lock().unwrap().clone();
    let tasks: Vec<Uuid> = letters.iter().map(task_id).collect();
    assert_eq!(accepted, tasks, "each task published once, in order");
    for letter in in_order(&w, &ids).await {
        assert_eq!(
            (letter.status, letter.replay_count),
            (LetterStatus::Replayed, 1)
        );
        assert_eq!(
            actions(&letter),
            vec!["archived", "replay_claimed", "replayed"]
        );
    }
    assert_eq!(
        w.run(run_id).await.unwrap().unwrap().status,
        RunStatus::Running
    );
    assert!(
        w.run_tasks(run_id)
            .await
            .unwrap()
            .iter()
            .all(|t| t.state == TaskState::Pending && t.envelope.replay == 1),
        "every task waits again, as its replay"
    );
    assert_eq!(
        progress,
        vec![
            (REPLAY_BATCH, total),
            (2 * REPLAY_BATCH, total),
            (total, total)
        ],
        "progress once per batch"
    );
}

#[tokio::test]
async fn letters_whose_publish_failed_are_given_back_and_the_replay_stops_after_their_batch() {
    let w = warehouse();
    let total = 2 * REPLAY_BATCH + 88;
    let (_, letters) = blocked_run_with_letters(&w, total).await;
    let (first_refused, second_refused) = (REPLAY_BATCH + 44, REPLAY_BATCH + 144);
    let broker = RecordingBroker {
        refuse: HashSet::from([
            task_id(&letters[first_refused]),
            task_id(&letters[second_refused]),
        ]),
        ..RecordingBroker::default()
    };
    let mut progress = Vec::new();
    let err = replay(
        w.as_ref(),
        &broker,
        &letters,
        &options(Duration::from_secs(60)),
        |done, total| progress.push((done, total)),
    )
    .await
    .expect_err("a refused publish stops the replay");
    let ReplayError::Publish { id, reason, done } = err else {
        panic!("not a publish error: {err}");
    };
    assert_eq!(id, letters[first_refused].letter.id);
    assert!(reason.contains("connection reset"), "{reason}");
    assert_eq!(done, 2 * REPLAY_BATCH - 2, "its batch but the two refused");
    assert_eq!(progress, vec![(REPLAY_BATCH, total)]);

    let ids: Vec<Uuid> = letters.iter().map(|a| a.letter.id).collect();
    let after = in_order(&w, &ids).await;
    for (i, letter) in after.iter().enumerate() {
        if i == first_refused || i == second_refused {
            assert_eq!(letter.status, LetterStatus::Dead, "given back");
            assert_eq!(
                actions(letter),
                vec!["archived", "replay_claimed", "replay_abandoned"]
            );
            assert!(
                letter.audit[2]
                    .detail
                    .starts_with("republish failed: broker unavailable"),
                "{}",
                letter.audit[2].detail
            );
        } else if i < 2 * REPLAY_BATCH {
            assert_eq!(letter.status, LetterStatus::Replayed, "letter {i}");
        } else {
            assert_eq!(
                actions(letter),
                vec!["archived"],
                "letter {i}, after the failed batch, is not touched"
            );
        }
    }
    assert_eq!(broker.accepted.lock().unwrap().len(), done);
}

#[tokio::test]
async fn letters_claimed_elsewhere_discarded_meanwhile_or_not_tasks_are_never_published() {
    let w = warehouse();
    let (_, letters) = blocked_run_with_letters(&w, 3).await;
    let [claimed_elsewhere, discarded, replayable] = &letters[..] else {
        unreachable!()
    };
    let other_replay = w
        .claim_letter(
            claimed_elsewhere.letter.id,
            "other@host",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(other_replay.is_some());
    assert!(
        w.discard_letter(discarded.letter.id, "ops", "known outage")
            .await
            .unwrap()
    );
    let poison = DeadLetter::for_poison(b"{oops", "not JSON".into(), "w");
    w.store_dead_letter(&poison).await.unwrap();
    let poison = in_order(&w, &[poison.id]).await.remove(0);
    // Selected before the other replay's claim and the discard.
    let selected = vec![
        claimed_elsewhere.clone(),
        discarded.clone(),
        poison.clone(),
        replayable.clone(),
    ];

    let broker = RecordingBroker::default();
    let report = replay(
        w.as_ref(),
        &broker,
        &selected,
        &options(Duration::from_secs(60)),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(report.replayed, vec![replayable.letter.id]);
    assert_eq!(
        *broker.accepted.lock().unwrap(),
        vec![task_id(replayable)],
        "only the claimed letter's task is published"
    );
    let skipped: Vec<(Uuid, &str)> = report
        .skipped
        .iter()
        .map(|(id, why)| (*id, why.as_str()))
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped.contains(&(claimed_elsewhere.letter.id, "claimed by another replay")));
    assert!(skipped.contains(&(discarded.letter.id, "already discarded")));
    assert!(
        skipped
            .iter()
            .any(|(id, why)| *id == poison.letter.id && why.starts_with("not a task")),
        "{skipped:?}"
    );
    let after = in_order(&w, &[claimed_elsewhere.letter.id, poison.letter.id]).await;
    assert_eq!(
        actions(&after[0]),
        vec!["archived", "replay_claimed"],
        "the other replay's claim is left alone"
    );
    assert_eq!(after[0].audit[1].actor, "other@host");
    assert_eq!(actions(&after[1]), vec!["archived"], "never claimed");
}

#[tokio::test]
async fn a_claim_left_by_a_replay_that_died_is_taken_over_once_stale() {
    let w = warehouse();
    let (_, letters) = blocked_run_with_letters(&w, 2).await;
    let died = letters[0].letter.id;
    w.claim_letter(died, "died@host", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("claimed by the replay that died");

    let broker = RecordingBroker::default();
    let fresh_claims_kept = replay(
        w.as_ref(),
        &broker,
        &letters[..1],
        &options(Duration::from_secs(60)),
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(fresh_claims_kept.replayed.is_empty(), "the claim is fresh");

    let taken_over = replay(
        w.as_ref(),
        &broker,
        &letters,
        &options(Duration::ZERO),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(
        taken_over.replayed,
        vec![died, letters[1].letter.id],
        "a stale claim is taken over"
    );
    let after = &in_order(&w, &[died]).await[0];
    assert_eq!(
        actions(after),
        vec!["archived", "replay_claimed", "replay_claimed", "replayed"],
        "both claims are on record"
    );
}
