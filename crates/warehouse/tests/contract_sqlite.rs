//! The warehouse contract, run against the embedded SQLite warehouse.

use dorafleet_core::Source;
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use dorafleet_warehouse::{BronzeFilter, BronzePage, BronzeStore, ExtractCheckpoint, Warehouse};
use std::sync::Arc;

async fn fresh() -> Option<Arc<dyn Warehouse>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("warehouse.db");
    // The directory must outlive the test; leaking it keeps the file in place.
    std::mem::forget(dir);
    Some(Arc::new(SqliteWarehouse::open(path).expect("open sqlite")))
}

dorafleet_warehouse::warehouse_contract_suite!(fresh());

/// A GitHub page of `body`, first of its task, with the checkpoint after it.
fn first_page(body: &str) -> (BronzePage, ExtractCheckpoint) {
    let (task, run) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let page = BronzePage {
        task_id: task,
        seq: 0,
        execution_id: run,
        source_system: Source::Github,
        scope: dorafleet_core::Scope {
            team: "t".into(),
            target: None,
        },
        endpoint: "pulls".into(),
        request: "/x".into(),
        cursor: "1".into(),
        status: 200,
        fetched_at: chrono::Utc::now(),
        record_count: 1,
        body: body.into(),
        etag: None,
        last_modified: None,
        link_next: None,
        reuses: None,
    };
    let cp = ExtractCheckpoint {
        task_id: task,
        run_id: run,
        pages_done: 1,
        state: "{}".into(),
        newest_seen: None,
        completed: false,
    };
    (page, cp)
}

#[tokio::test]
async fn bronze_pages_cannot_be_rewritten_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let w = SqliteWarehouse::open(&path).unwrap();
    let (page, cp) = first_page("[1]");
    w.append_bronze_page(&page, &cp).await.unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    let err = other
        .execute("UPDATE bronze_pages SET body = '[]'", [])
        .unwrap_err();
    assert!(
        err.to_string().contains("bronze pages are immutable"),
        "{err}"
    );
}

#[tokio::test]
async fn two_openers_of_a_new_file_migrate_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let (a, b) = tokio::join!(
        tokio::task::spawn_blocking({
            let p = path.clone();
            move || SqliteWarehouse::open(p).map(|_| ())
        }),
        tokio::task::spawn_blocking({
            let p = path.clone();
            move || SqliteWarehouse::open(p).map(|_| ())
        })
    );
    a.unwrap().unwrap();
    b.unwrap().unwrap();
}

#[tokio::test]
async fn processes_sharing_a_file_never_get_request_slots_closer_than_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open(&path).unwrap());
    let b: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open(&path).unwrap());
    let interval = std::time::Duration::from_millis(20);
    let mut jobs = tokio::task::JoinSet::new();
    for w in [a, b] {
        for _ in 0..3 {
            let w = Arc::clone(&w);
            jobs.spawn(async move {
                let mut slots = Vec::new();
                for _ in 0..10 {
                    slots.push(w.reserve_slot("jira", interval).await.unwrap());
                }
                slots
            });
        }
    }
    let mut all = Vec::new();
    while let Some(slots) = jobs.join_next().await {
        all.extend(slots.unwrap());
    }
    all.sort();
    assert_eq!(all.len(), 60);
    for pair in all.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::milliseconds(20),
            "{pair:?}"
        );
    }
}

/// A run record, for the file-identity checks below.
fn a_run() -> dorafleet_warehouse::RunRecord {
    let now = chrono::Utc::now();
    dorafleet_warehouse::RunRecord {
        run_id: uuid::Uuid::now_v7(),
        kind: "range".into(),
        window: dorafleet_core::Window {
            from: now - chrono::Duration::days(1),
            to: now,
        },
        status: dorafleet_warehouse::RunStatus::Running,
        created_at: now,
        updated_at: now,
        traceparent: None,
    }
}

#[tokio::test]
async fn a_warehouse_file_deleted_under_an_open_warehouse_fails_every_call_naming_the_path() {
    use dorafleet_warehouse::{RunLedger, WarehouseError};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let w = SqliteWarehouse::open(&path).unwrap();
    w.save_run(&a_run()).await.unwrap();

    std::fs::remove_file(&path).unwrap();

    let err = w.save_run(&a_run()).await.unwrap_err();
    assert!(matches!(err, WarehouseError::Replaced { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("sqlite:{}", path.display())) && message.contains("deleted"),
        "{message}"
    );
    assert!(message.contains("restart"), "{message}");
    // Reads too: what the old file holds is not what the operator sees.
    assert!(matches!(
        w.runs(10).await.unwrap_err(),
        WarehouseError::Replaced { .. }
    ));
    // Permanent: a task that meets it is not retried.
    let task = dorafleet_core::TaskError::from(err);
    assert_eq!(task.class(), dorafleet_core::ErrorClass::Permanent);
}

#[tokio::test]
async fn a_warehouse_file_replaced_under_an_open_warehouse_fails_and_the_new_file_is_untouched() {
    use dorafleet_warehouse::{RunLedger, WarehouseError};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let w = SqliteWarehouse::open(&path).unwrap();
    w.save_run(&a_run()).await.unwrap();
    // Another warehouse file moved over the path (a restore, a copy).
    let other = dir.path().join("restored.db");
    drop(SqliteWarehouse::open(&other).unwrap());
    std::fs::rename(&other, &path).unwrap();

    let run = a_run();
    let err = w.save_run(&run).await.unwrap_err();
    assert!(matches!(err, WarehouseError::Replaced { .. }), "{err}");
    assert!(err.to_string().contains("replaced"), "{err}");
    let fresh = SqliteWarehouse::open(&path).unwrap();
    assert_eq!(
        fresh.run(run.run_id).await.unwrap(),
        None,
        "the refused write reached nothing the path shows"
    );
    // A process opened on the file in place works as ever.
    fresh.save_run(&run).await.unwrap();
    assert_eq!(fresh.run(run.run_id).await.unwrap(), Some(run));
}

#[tokio::test]
async fn retention_keeps_a_reused_page_as_long_as_a_record_reusing_it() {
    use chrono::{TimeZone, Utc};
    use dorafleet_core::{Scope, Source};
    use dorafleet_warehouse::{BronzeFilter, BronzePage, ExtractCheckpoint};
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path().join("w.db")).unwrap();
    let at = |day| Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap();
    let page = |day, reuses: Option<&BronzePage>| BronzePage {
        task_id: uuid::Uuid::now_v7(),
        seq: 0,
        execution_id: uuid::Uuid::now_v7(),
        source_system: Source::Github,
        scope: Scope {
            team: "t".into(),
            target: Some("acme/x".into()),
        },
        endpoint: "pulls".into(),
        request: format!("/repos/acme/x/pulls?day={day}"),
        cursor: "1".into(),
        status: 200,
        fetched_at: at(day),
        record_count: 1,
        body: format!("[{day}]"),
        etag: Some(format!("\"{day}\"")),
        last_modified: None,
        link_next: None,
        reuses: reuses.map(BronzePage::at),
    };
    let store = |p: BronzePage| {
        let cp = ExtractCheckpoint {
            task_id: p.task_id,
            run_id: p.execution_id,
            pages_done: 1,
            state: "{}".into(),
            newest_seen: None,
            completed: false,
        };
        let w = &w;
        async move { w.append_bronze_page(&p, &cp).await.unwrap() }
    };
    let reused = page(1, None);
    let alone = page(2, None);
    store(reused.clone()).await;
    store(alone.clone()).await;
    store(page(20, Some(&reused))).await;

    assert_eq!(w.purge_bronze_before(at(10)).await.unwrap(), 1);
    let left = w.bronze_pages(&BronzeFilter::default()).await.unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|p| p.body == "[1]"), "{left:?}");

    // Once the record reusing it goes, the page goes with it.
    assert_eq!(w.purge_bronze_before(at(21)).await.unwrap(), 2);
    assert!(
        w.bronze_pages(&BronzeFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_long_body_is_stored_compressed_and_one_stored_as_text_before_still_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let w = SqliteWarehouse::open(&path).unwrap();
    let record = r#"{"number":7,"state":"closed","title":"Pay out in batches"}"#;
    let body = format!("[{}]", vec![record; 60].join(","));
    let (page, cp) = first_page(&body);
    assert!(w.append_bronze_page(&page, &cp).await.unwrap());

    let file = rusqlite::Connection::open(&path).unwrap();
    let (kind, stored_bytes): (String, usize) = file
        .query_row(
            "SELECT typeof(body), length(body) FROM bronze_pages",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(kind, "blob");
    assert!(
        stored_bytes * 4 < body.len(),
        "{stored_bytes} of {}",
        body.len()
    );

    // A row as a build before compression wrote it: the body as text.
    let (older, _) = first_page(&body);
    file.execute(
        "INSERT INTO bronze_pages (task_id, seq, execution_id, source_system, team, endpoint,
             request, cursor, status, fetched_at, record_count, body)
         SELECT ?1, 0, ?2, source_system, team, endpoint, request, cursor, status,
             fetched_at, record_count, ?3 FROM bronze_pages",
        rusqlite::params![
            older.task_id.to_string(),
            older.execution_id.to_string(),
            body
        ],
    )
    .unwrap();

    for run in [page.execution_id, older.execution_id] {
        let read = w
            .bronze_pages(&BronzeFilter {
                run_id: Some(run),
                ..BronzeFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].body, body, "run {run}");
    }
}
