//! The contract of bronze validators and reuse records: what a conditional
//! request revalidates, and a `304`'s record read back as the page it reuses.

use super::*;

fn fetched(
    task_id: Uuid,
    run_id: Uuid,
    request: &str,
    etag: Option<&str>,
    second: u32,
) -> BronzePage {
    BronzePage {
        task_id,
        seq: 0,
        execution_id: run_id,
        source_system: Source::Github,
        scope: scope("payments", "acme/ledger"),
        endpoint: "pulls".into(),
        request: request.into(),
        cursor: "1".into(),
        status: 200,
        fetched_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, second).unwrap(),
        record_count: 21,
        // Long enough that a store may keep it compressed.
        body: format!(
            "[{{\"number\":{second}}},{}]",
            vec!["{\"number\":0,\"title\":\"Pay out in batches\"}"; 20].join(",")
        ),
        etag: etag.map(str::to_owned),
        last_modified: Some("Sun, 01 Mar 2026 11:00:00 GMT".into()),
        link_next: Some(format!("http://h{request}&page=2")),
        reuses: None,
    }
}

fn checkpoint_of(page: &BronzePage) -> ExtractCheckpoint {
    ExtractCheckpoint {
        task_id: page.task_id,
        run_id: page.execution_id,
        pages_done: page.seq + 1,
        state: "{}".into(),
        newest_seen: None,
        completed: false,
    }
}

async fn store(w: &Arc<dyn Warehouse>, page: &BronzePage) {
    assert!(
        w.append_bronze_page(page, &checkpoint_of(page))
            .await
            .unwrap()
    );
}

/// A record of `run_id` that reuses `origin` on a 304, fetched at `second`.
fn reuse_of(origin: &BronzePage, run_id: Uuid, second: u32) -> BronzePage {
    BronzePage {
        task_id: Uuid::now_v7(),
        execution_id: run_id,
        fetched_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, second).unwrap(),
        reuses: Some(origin.at()),
        ..origin.clone()
    }
}

pub async fn a_page_reused_on_a_304_reads_back_with_the_payload_it_reuses(w: Arc<dyn Warehouse>) {
    let request = "/repos/acme/ledger/pulls?state=closed";
    let origin = fetched(Uuid::now_v7(), Uuid::now_v7(), request, Some("W/\"a\""), 1);
    store(&w, &origin).await;
    let later_run = Uuid::now_v7();
    let reuse = reuse_of(&origin, later_run, 30);
    store(&w, &reuse).await;

    let read = w
        .bronze_pages(&BronzeFilter {
            run_id: Some(later_run),
            ..BronzeFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        read,
        vec![reuse.clone()],
        "its own place and time, the reused payload"
    );
    assert_eq!(read[0].body, origin.body);
    assert_eq!(read[0].reuses, Some(origin.at()));

    // Counted as a page that brought no records: nothing new was received.
    let totals = w.bronze_totals(Some(later_run)).await.unwrap();
    assert_eq!((totals[0].pages, totals[0].records), (1, 0));
}

pub async fn the_newest_fetched_page_with_a_validator_is_the_one_revalidated(
    w: Arc<dyn Warehouse>,
) {
    let request = "/repos/acme/ledger/deployments?per_page=100";
    let since = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let revalidated = |w: Arc<dyn Warehouse>, after| async move {
        w.revalidatable_page(Source::Github, request, after)
            .await
            .unwrap()
    };
    assert_eq!(revalidated(Arc::clone(&w), since).await, None);

    let older = fetched(
        Uuid::now_v7(),
        Uuid::now_v7(),
        request,
        Some("W/\"old\""),
        1,
    );
    let newer = fetched(
        Uuid::now_v7(),
        Uuid::now_v7(),
        request,
        Some("W/\"new\""),
        2,
    );
    store(&w, &older).await;
    store(&w, &newer).await;
    // Newer still, but not something to revalidate: a reuse record, a page
    // without validators, a 404, another request, another source.
    store(&w, &reuse_of(&older, Uuid::now_v7(), 40)).await;
    let mut bare = fetched(Uuid::now_v7(), Uuid::now_v7(), request, None, 41);
    bare.last_modified = None;
    store(&w, &bare).await;
    let mut gone = fetched(Uuid::now_v7(), Uuid::now_v7(), request, Some("W/\"x\""), 42);
    gone.status = 404;
    store(&w, &gone).await;
    store(
        &w,
        &fetched(
            Uuid::now_v7(),
            Uuid::now_v7(),
            "/other",
            Some("W/\"o\""),
            43,
        ),
    )
    .await;
    let mut jira = fetched(Uuid::now_v7(), Uuid::now_v7(), request, Some("W/\"j\""), 44);
    jira.source_system = Source::Jira;
    store(&w, &jira).await;

    assert_eq!(
        revalidated(Arc::clone(&w), since).await,
        Some(newer.clone())
    );
    // Only a page fetched at or after the bound is offered.
    assert_eq!(
        revalidated(Arc::clone(&w), newer.fetched_at).await,
        Some(newer.clone())
    );
    let after_it = newer.fetched_at + chrono::Duration::milliseconds(1);
    assert_eq!(revalidated(Arc::clone(&w), after_it).await, None);

    // Last-Modified alone is a validator too.
    let mut dated = fetched(Uuid::now_v7(), Uuid::now_v7(), request, None, 50);
    dated.last_modified = Some("Sun, 01 Mar 2026 12:00:50 GMT".into());
    store(&w, &dated).await;
    assert_eq!(revalidated(w, since).await, Some(dated));
}
