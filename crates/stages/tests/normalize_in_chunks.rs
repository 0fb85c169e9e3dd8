//! A scope whose run stored more pages than one bronze read takes is still
//! normalized as one whole: a pull request read in the first chunk meets
//! its commits read in a later one, and every page is counted.

use chrono::Utc;
use dorafleet_core::{Config, Scope, Source};
use dorafleet_sources::endpoint;
use dorafleet_stages::normalize::normalize_into_silver;
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use dorafleet_warehouse::{
    BRONZE_PAGES_PER_READ, BronzeFilter, BronzePage, BronzeStore, ExtractCheckpoint, SilverStore,
};
use serde_json::{Value, json};
use uuid::Uuid;

const REPO: &str = "acme/ledger";

fn scope() -> Scope {
    Scope {
        team: "payments".into(),
        target: Some(REPO.into()),
    }
}

fn page(
    task: Uuid,
    run: Uuid,
    seq: u32,
    endpoint: &str,
    request: String,
    body: Value,
) -> BronzePage {
    BronzePage {
        task_id: task,
        seq,
        execution_id: run,
        source_system: Source::Github,
        scope: scope(),
        endpoint: endpoint.into(),
        request,
        cursor: (seq + 1).to_string(),
        status: 200,
        fetched_at: Utc::now(),
        record_count: body.as_array().map_or(0, |a| a.len() as u64),
        body: body.to_string(),
        etag: None,
        last_modified: None,
        link_next: None,
        reuses: None,
    }
}

fn merged_pull(number: u64) -> Value {
    json!({
        "number": number, "state": "closed",
        "user": {"login": "alice", "type": "User"},
        "created_at": "2026-03-01T09:00:00Z", "updated_at": "2026-03-02T10:00:00Z",
        "closed_at": "2026-03-02T10:00:00Z", "merged_at": "2026-03-02T10:00:00Z",
        "merge_commit_sha": format!("m{number}")
    })
}

fn human_commit(number: u64) -> Value {
    json!({
        "sha": format!("c{number}"),
        "commit": {"author": {"name": "alice", "email": "alice@example.com",
                              "date": "2026-03-01T08:00:00Z"}},
        "author": {"login": "alice", "type": "User"}
    })
}

#[tokio::test]
async fn pulls_read_in_the_first_chunk_meet_their_commits_read_in_a_later_one() {
    let warehouse = SqliteWarehouse::open_in_memory().unwrap();
    let (task, run) = (Uuid::now_v7(), Uuid::now_v7());
    // One page listing every pull request, then one commits page per pull
    // request: more pages than one read takes.
    let pulls = BRONZE_PAGES_PER_READ as u64 + 8;
    let mut stored = vec![page(
        task,
        run,
        0,
        endpoint::PULLS,
        format!("/repos/{REPO}/pulls?state=closed&page=1"),
        Value::Array((1..=pulls).map(merged_pull).collect()),
    )];
    for number in 1..=pulls {
        stored.push(page(
            task,
            run,
            number as u32,
            endpoint::PULL_COMMITS,
            format!("/repos/{REPO}/pulls/{number}/commits?per_page=100"),
            json!([human_commit(number)]),
        ));
    }
    for (done, p) in stored.iter().enumerate() {
        let checkpoint = ExtractCheckpoint {
            task_id: task,
            run_id: run,
            pages_done: done as u32 + 1,
            state: "{}".into(),
            newest_seen: None,
            completed: false,
        };
        assert!(warehouse.append_bronze_page(p, &checkpoint).await.unwrap());
    }

    let of_run = BronzeFilter {
        run_id: Some(run),
        source: Some(Source::Github),
        team: Some("payments".into()),
        target: Some(REPO.into()),
        ..BronzeFilter::default()
    };
    let batch = normalize_into_silver(
        &warehouse,
        &Config::default(),
        Source::Github,
        &scope(),
        run,
        &of_run,
    )
    .await
    .unwrap();

    assert_eq!(batch.counts.pages, pulls + 1, "every page counted once");
    assert_eq!(batch.changes.len() as u64, pulls, "{:?}", batch.counts);
    assert_eq!(batch.counts.changes_without_commits, 0);
    let silver = warehouse.team_silver("payments").await.unwrap();
    assert_eq!(silver.changes.len() as u64, pulls);
}
