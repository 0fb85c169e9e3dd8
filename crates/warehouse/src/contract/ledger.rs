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
    let held = |g: Option<u64>| g.is_some();
    assert!(held(
        w.acquire_lease("coordinator", "a", long).await.unwrap()
    ));
    assert!(
        held(w.acquire_lease("coordinator", "a", long).await.unwrap()),
        "renewal"
    );
    assert!(!held(
        w.acquire_lease("coordinator", "b", long).await.unwrap()
    ));
    assert!(
        held(w.acquire_lease("other", "b", long).await.unwrap()),
        "leases are per name"
    );
    w.release_lease("coordinator", "b").await.unwrap();
    assert!(
        !held(w.acquire_lease("coordinator", "b", long).await.unwrap()),
        "only the holder releases"
    );
    w.release_lease("coordinator", "a").await.unwrap();
    assert!(held(
        w.acquire_lease("coordinator", "b", std::time::Duration::ZERO)
            .await
            .unwrap()
    ));
    // b's lease expired at once: a gets it as soon as the clock moves on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !held(w.acquire_lease("coordinator", "a", long).await.unwrap()) {
        assert!(
            std::time::Instant::now() < deadline,
            "an expired lease is never free"
        );
        tokio::task::yield_now().await;
    }
}

pub async fn lease_generations_move_on_with_each_takeover_and_never_go_back(w: Arc<dyn Warehouse>) {
    let long = std::time::Duration::from_secs(60);
    let first = w.acquire_lease("coordinator", "a", long).await.unwrap();
    let first = first.expect("a free lease is taken");
    assert_eq!(
        w.acquire_lease("coordinator", "a", long).await.unwrap(),
        Some(first),
        "a renewal keeps the generation"
    );
    assert_eq!(
        w.acquire_lease("coordinator", "b", long).await.unwrap(),
        None
    );
    w.release_lease("coordinator", "a").await.unwrap();
    let second = w.acquire_lease("coordinator", "b", long).await.unwrap();
    let second = second.expect("a released lease is free");
    assert!(second > first, "{second} after {first}");
    w.release_lease("coordinator", "b").await.unwrap();
    let third = w.acquire_lease("coordinator", "a", long).await.unwrap();
    let third = third.expect("a released lease is free");
    assert!(
        third > second,
        "taking a released lease back moves on too: {third} after {second}"
    );
    // An expired lease taken over by another moves on as well.
    w.release_lease("coordinator", "a").await.unwrap();
    let zero = std::time::Duration::ZERO;
    let fourth = w.acquire_lease("coordinator", "a", zero).await.unwrap();
    let fourth = fourth.expect("free");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let fifth = loop {
        if let Some(g) = w.acquire_lease("coordinator", "b", long).await.unwrap() {
            break g;
        }
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::task::yield_now().await;
    };
    assert!(fifth > fourth, "{fifth} after {fourth}");
}

pub async fn fenced_writes_of_a_stale_lease_generation_are_refused_and_write_nothing(
    w: Arc<dyn Warehouse>,
) {
    let long = std::time::Duration::from_secs(60);
    let now = Utc::now();
    let window = Window {
        from: now - Duration::days(1),
        to: now,
    };
    let generation = w.acquire_lease("coordinator", "a", long).await.unwrap();
    let a = Fence::new("coordinator", generation.expect("free"));
    let mut run = RunRecord {
        run_id: Uuid::now_v7(),
        kind: "range".into(),
        window,
        status: RunStatus::Running,
        created_at: now,
        updated_at: now,
        traceparent: None,
    };
    let mut task = TaskRecord {
        envelope: TaskEnvelope::new(
            run.run_id,
            Stage::Extract,
            Some(Source::Github),
            scope("payments", "acme/ledger"),
            window,
            3,
        ),
        state: TaskState::Pending,
        published: false,
        worker: None,
        attempts: 0,
        updated_at: now,
    };
    let other = TaskRecord {
        envelope: TaskEnvelope::new(
            run.run_id,
            Stage::Extract,
            Some(Source::Jira),
            scope("payments", "PAY"),
            window,
            3,
        ),
        ..task.clone()
    };
    // The holder writes while its generation is the lease's.
    w.save_run_fenced(&run, &a).await.unwrap();
    w.save_tasks_fenced(&[task.clone()], &a).await.unwrap();
    w.save_tasks_fenced(&[task.clone(), other.clone()], &a)
        .await
        .unwrap();

    // a is paused past its lease; b takes it over and finishes the run.
    w.release_lease("coordinator", "a").await.unwrap();
    let generation = w.acquire_lease("coordinator", "b", long).await.unwrap();
    let b = Fence::new("coordinator", generation.expect("free"));
    let mut finished = task.clone();
    finished.state = TaskState::Done;
    finished.worker = Some("w".into());
    w.save_tasks_fenced(&[finished.clone()], &b).await.unwrap();
    let mut completed = run.clone();
    completed.status = RunStatus::Completed;
    w.save_run_fenced(&completed, &b).await.unwrap();

    // a wakes up and writes what it believed: refused, nothing written.
    task.state = TaskState::Retrying;
    let err = w.save_tasks_fenced(&[task.clone()], &a).await.unwrap_err();
    assert!(matches!(err, WarehouseError::Fenced { .. }), "{err}");
    assert!(err.to_string().contains("step down"), "{err}");
    let err = w
        .save_tasks_fenced(&[task.clone(), other.clone()], &a)
        .await
        .unwrap_err();
    assert!(err.is_fenced(), "{err}");
    run.status = RunStatus::Blocked;
    let err = w.save_run_fenced(&run, &a).await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    let brand_new = RunRecord {
        run_id: Uuid::now_v7(),
        ..run.clone()
    };
    let err = w.save_run_fenced(&brand_new, &a).await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    assert_eq!(w.run(completed.run_id).await.unwrap(), Some(completed));
    assert_eq!(w.run(brand_new.run_id).await.unwrap(), None);
    let tasks = w.run_tasks(run.run_id).await.unwrap();
    let states: Vec<TaskState> = tasks.iter().map(|t| t.state).collect();
    assert_eq!(tasks.len(), 2);
    assert!(states.contains(&TaskState::Done), "{states:?}");
    assert!(!states.contains(&TaskState::Retrying), "{states:?}");

    // Even once b gave the lease back, a's generation stays stale; taking
    // the lease again gives a a new one, which writes.
    w.release_lease("coordinator", "b").await.unwrap();
    let err = w.save_tasks_fenced(&[task.clone()], &a).await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    let generation = w.acquire_lease("coordinator", "a", long).await.unwrap();
    let again = Fence::new("coordinator", generation.expect("free"));
    assert_ne!(again, a);
    w.save_tasks_fenced(&[task], &again).await.unwrap();
    // A fence of a lease never taken is refused too.
    let err = w
        .save_tasks_fenced(&[other], &Fence::new("nobody", 1))
        .await
        .unwrap_err();
    assert!(err.is_fenced(), "{err}");
}

pub async fn concurrent_lease_requests_have_exactly_one_winner(w: Arc<dyn Warehouse>) {
    let long = std::time::Duration::from_secs(60);
    let taken = all_at_once(&w, 8, |w, i| async move {
        w.acquire_lease("scheduler", &format!("coordinator-{i}"), long)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(taken.iter().filter(|t| t.is_some()).count(), 1);
}
