//! The contract of the warehouse's ledger role: runs, task states and the coordinator lease.

use super::*;

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
