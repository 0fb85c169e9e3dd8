//! The contract of the warehouse's bronze role: bronze pages, crawl checkpoints, coverage, totals and retention.

use super::*;
use crate::PageRef;

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
        etag: None,
        last_modified: None,
        link_next: None,
        reuses: None,
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

/// The pages stored for `task`, in order.
async fn task_pages(w: &Arc<dyn Warehouse>, task: Uuid) -> Vec<BronzePage> {
    w.bronze_pages(&BronzeFilter {
        task_id: Some(task),
        ..Default::default()
    })
    .await
    .unwrap()
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
    let pages = task_pages(&w, task).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[2], page(task, run, 2, Source::Github, 12));
    assert_eq!(
        pages.iter().map(|p| p.seq).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
}

pub async fn pages_appended_at_once_by_many_tasks_are_each_stored_with_their_checkpoint(
    w: Arc<dyn Warehouse>,
) {
    let run = Uuid::now_v7();
    let tasks: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
    let appends = tasks.iter().map(|&task| {
        let w = w.clone();
        async move {
            for seq in [0, 1] {
                let stored = w
                    .append_bronze_page(
                        &page(task, run, seq, Source::Github, 1),
                        &checkpoint(task, run, seq + 1),
                    )
                    .await
                    .unwrap();
                assert!(stored, "task {task} page {seq} is new");
            }
        }
    });
    futures::future::join_all(appends).await;
    for &task in &tasks {
        let pages = task_pages(&w, task).await;
        assert_eq!(pages.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![0, 1]);
        let saved = w.extract_checkpoint(task).await.unwrap();
        assert_eq!(saved.map(|c| c.pages_done), Some(2), "task {task}");
    }
}

/// A crawl whose answers arrived together stores them in one write: the
/// pages in order with the checkpoint after the last; a late batch stores
/// nothing, and a page already there keeps its first copy.
pub async fn a_tasks_pages_stored_together_come_with_the_checkpoint_after_the_last(
    w: Arc<dyn Warehouse>,
) {
    let (task, run) = (Uuid::now_v7(), Uuid::now_v7());
    let pages = |seqs: std::ops::Range<u32>| {
        seqs.map(|seq| page(task, run, seq, Source::Github, 2))
            .collect::<Vec<_>>()
    };
    let stored = w
        .append_bronze_pages(pages(0..3), checkpoint(task, run, 3))
        .await
        .unwrap();
    assert_eq!(stored, [true, true, true]);
    assert_eq!(task_pages(&w, task).await, pages(0..3));
    assert_eq!(
        w.extract_checkpoint(task).await.unwrap(),
        Some(checkpoint(task, run, 3))
    );

    let late = w
        .append_bronze_pages(pages(2..4), checkpoint(task, run, 3))
        .await
        .unwrap();
    assert_eq!(
        late,
        [false, false],
        "a batch that does not move the checkpoint"
    );
    assert_eq!(
        task_pages(&w, task).await.len(),
        3,
        "nothing of a late batch is stored"
    );

    let mut again = pages(2..5);
    again[0].body = "[\"another copy\"]".into();
    let stored = w
        .append_bronze_pages(again, checkpoint(task, run, 5))
        .await
        .unwrap();
    assert_eq!(stored, [false, true, true]);
    assert_eq!(
        task_pages(&w, task).await,
        pages(0..5),
        "the first copy of page 2 stays"
    );
    assert_eq!(
        w.extract_checkpoint(task)
            .await
            .unwrap()
            .map(|c| c.pages_done),
        Some(5)
    );
}

pub async fn a_scope_read_in_chunks_hands_over_every_page_once_in_storage_order(
    w: Arc<dyn Warehouse>,
) {
    // More pages than one read takes, over several tasks, with another
    // run's pages of the same scope in between.
    let (run, other_run) = (Uuid::now_v7(), Uuid::now_v7());
    let per_task = u32::try_from(BRONZE_PAGES_PER_READ).unwrap() / 2 + 3;
    let mut stored = Vec::new();
    for _ in 0..3 {
        let (task, other) = (Uuid::now_v7(), Uuid::now_v7());
        for seq in 0..per_task {
            let p = page(task, run, seq, Source::Github, 1);
            w.append_bronze_page(&p, &checkpoint(task, run, seq + 1))
                .await
                .unwrap();
            stored.push(p.at());
            let o = page(other, other_run, seq, Source::Github, 1);
            w.append_bronze_page(&o, &checkpoint(other, other_run, seq + 1))
                .await
                .unwrap();
        }
    }
    stored.sort_by_key(|at| (at.task_id.to_string(), at.seq));
    let of_run = BronzeFilter {
        run_id: Some(run),
        source: Some(Source::Github),
        team: Some("payments".into()),
        target: Some("acme/ledger".into()),
        ..Default::default()
    };
    let mut handed = Vec::new();
    let count = each_bronze_page(w.as_ref(), &of_run, |p| {
        handed.push(p.at());
        Ok::<_, WarehouseError>(())
    })
    .await
    .unwrap();
    assert_eq!(count, stored.len() as u64);
    assert_eq!(
        handed, stored,
        "every page of the run once, in storage order"
    );

    // One chunk: the first pages after a given one, and no more.
    let chunk = w
        .bronze_pages(&BronzeFilter {
            after: Some(stored[4]),
            limit: Some(3),
            ..of_run
        })
        .await
        .unwrap();
    let at: Vec<PageRef> = chunk.iter().map(BronzePage::at).collect();
    assert_eq!(at, stored[5..8]);
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

/// A late append (an attempt that lost its task to another worker, whose
/// write arrives after the network heals) stores nothing and never moves the
/// checkpoint back, nor reopens a completed one.
pub async fn a_late_append_never_moves_a_checkpoint_back_or_reopens_it(w: Arc<dyn Warehouse>) {
    let (task, run) = (Uuid::now_v7(), Uuid::now_v7());
    for seq in [0, 1, 2] {
        let p = page(task, run, seq, Source::Github, 4);
        assert!(
            w.append_bronze_page(&p, &checkpoint(task, run, seq + 1))
                .await
                .unwrap()
        );
    }
    let mut stale = checkpoint(task, run, 2);
    stale.state = "{\"pending\":[\"stale\"]}".into();
    let late = page(task, run, 1, Source::Github, 4);
    assert!(!w.append_bronze_page(&late, &stale).await.unwrap());
    assert_eq!(
        w.extract_checkpoint(task).await.unwrap(),
        Some(checkpoint(task, run, 3)),
        "the checkpoint stays where the newest append left it"
    );

    let done = ExtractCheckpoint {
        completed: true,
        ..checkpoint(task, run, 3)
    };
    let window = Window {
        from: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
    };
    let s = scope("payments", "acme/ledger");
    w.complete_extract(&done, Source::Github, &s, window)
        .await
        .unwrap();
    let after = page(task, run, 3, Source::Github, 4);
    assert!(
        !w.append_bronze_page(&after, &checkpoint(task, run, 4))
            .await
            .unwrap(),
        "nothing is appended to a completed extract"
    );
    let saved = w.extract_checkpoint(task).await.unwrap().unwrap();
    assert!(saved.completed, "a completed extract stays completed");
    assert_eq!(saved.pages_done, 3);
    let pages = task_pages(&w, task).await;
    assert_eq!(pages.len(), 3, "no page of a late append is stored");
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
