//! The warehouse contract, run against MongoDB when `MONGODB_URI` names a
//! replica set (e.g. `mongodb://127.0.0.1:27017/?replicaSet=rs0`). Each test
//! works in a database of its own, dropped when the test passes. Without
//! `MONGODB_URI` every test returns at once after saying why on stderr.

use dorafleet_warehouse::mongo::MongoWarehouse;
use dorafleet_warehouse::{GoldStore, Warehouse};
use std::sync::Arc;
use std::time::Duration;

const SKIPPED: &str = "skipped: MONGODB_URI not set — the MongoDB contract suite needs a replica set \
     (e.g. MONGODB_URI=mongodb://127.0.0.1:27017/?replicaSet=rs0)";

const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A warehouse in a fresh database, or `None` (with the reason printed)
/// when there is no MongoDB to test against.
async fn fresh_database(retention: Option<Duration>) -> Option<MongoWarehouse> {
    let Ok(url) = std::env::var("MONGODB_URI") else {
        eprintln!("{SKIPPED}");
        return None;
    };
    let name = format!("dorafleet_contract_{}", uuid::Uuid::now_v7().simple());
    Some(
        MongoWarehouse::open_database(&url, &name, retention)
            .await
            .expect("open the MongoDB warehouse"),
    )
}

async fn fresh() -> Option<(Arc<dyn Warehouse>, MongoWarehouse)> {
    // No retention: the contract's pages are dated March 2026, and the TTL
    // monitor must not delete them in the middle of a check.
    let warehouse = fresh_database(None).await?;
    Some((Arc::new(warehouse.clone()), warehouse))
}

async fn drop_database(warehouse: MongoWarehouse) {
    warehouse
        .database()
        .drop()
        .await
        .expect("drop the test database");
}

dorafleet_warehouse::warehouse_contract_suite!(fresh(), teardown = drop_database);

mod mongo_only {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use dorafleet_core::Metric;
    use dorafleet_warehouse::GoldRecord;
    use dorafleet_warehouse::mongo::{
        GoldChange, GoldChangeStream, GoldFeedError, decode_resume_token, encode_resume_token,
    };
    use futures::TryStreamExt;
    use mongodb::IndexModel;
    use mongodb::bson::Document;

    async fn bronze_ttl(warehouse: &MongoWarehouse) -> Option<Duration> {
        let indexes: Vec<IndexModel> = warehouse
            .database()
            .collection::<Document>("bronze_pages")
            .list_indexes()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        indexes
            .into_iter()
            .filter_map(|m| m.options)
            .find(|o| o.name.as_deref() == Some("bronze_ttl"))
            .and_then(|o| o.expire_after)
    }

    #[tokio::test]
    async fn bronze_expiry_follows_the_retention_each_opening_configures() {
        let Some(first) = fresh_database(Some(RETENTION)).await else {
            return;
        };
        assert_eq!(bronze_ttl(&first).await, Some(RETENTION));
        let url = std::env::var("MONGODB_URI").unwrap();
        let name = first.database().name().to_owned();
        let week = Duration::from_secs(7 * 24 * 3600);
        let again = MongoWarehouse::open_database(&url, &name, Some(week))
            .await
            .unwrap();
        assert_eq!(bronze_ttl(&again).await, Some(week));
        let forever = MongoWarehouse::open_database(&url, &name, None)
            .await
            .unwrap();
        assert_eq!(
            bronze_ttl(&forever).await,
            Some(Duration::from_secs(i32::MAX as u64)),
            "keeping bronze forever is the longest TTL MongoDB accepts"
        );
        drop_database(first).await;
    }

    fn record(team: &str, value: f64) -> GoldRecord {
        GoldRecord {
            date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            team_id: team.into(),
            metric: Metric::DeploymentFrequency,
            value: Some(value),
            sample_size: 1,
            samples: vec![value],
            definition_version: 1,
            run_id: uuid::Uuid::now_v7(),
            computed_at: Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap(),
            complete: true,
        }
    }

    async fn next_change(
        stream: &mut GoldChangeStream,
    ) -> Result<Option<GoldChange>, GoldFeedError> {
        tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("a gold change arrives within 10 s")
    }

    #[tokio::test]
    async fn gold_changes_are_streamed_and_resume_after_a_stored_token() {
        let Some(w) = fresh_database(None).await else {
            return;
        };
        let mut stream = w.watch_gold(None).await.unwrap();
        let inserted = record("payments", 3.0);
        w.upsert_gold(std::slice::from_ref(&inserted))
            .await
            .unwrap();
        let first = next_change(&mut stream).await.unwrap().unwrap();
        assert_eq!(first.record, Some(inserted.clone()));
        let stored = encode_resume_token(&first.resume_token).unwrap();

        let update = GoldRecord {
            value: Some(4.0),
            samples: vec![4.0],
            ..inserted
        };
        w.upsert_gold(std::slice::from_ref(&update)).await.unwrap();
        drop(stream);

        let mut resumed = w
            .watch_gold(Some(decode_resume_token(&stored).unwrap()))
            .await
            .unwrap();
        let second = next_change(&mut resumed).await.unwrap().unwrap();
        assert_eq!(
            second.record,
            Some(update),
            "the change after the token, not the one before"
        );
        drop_database(w).await;
    }

    /// The counter document that hands out outbox writer slots.
    async fn set_writer_counter(w: &MongoWarehouse, seq: mongodb::bson::Bson) {
        w.database()
            .collection::<Document>("sequences")
            .update_one(
                mongodb::bson::doc! { "_id": "gold_outbox_writers" },
                mongodb::bson::doc! { "$set": { "seq": seq } },
            )
            .upsert(true)
            .await
            .unwrap();
    }

    async fn reopen(w: &MongoWarehouse) -> MongoWarehouse {
        let url = std::env::var("MONGODB_URI").unwrap();
        MongoWarehouse::open_database(&url, w.database().name(), None)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_outbox_counter_stored_as_int32_or_double_still_gives_the_next_upsert_a_fresh_id() {
        use mongodb::bson::Bson;
        let Some(w) = fresh_database(None).await else {
            return;
        };
        let first = record("payments", 1.0);
        w.upsert_gold(std::slice::from_ref(&first)).await.unwrap();
        let mut last = first;
        // Another driver or the shell may store the counter as any number
        // type; the next writer reads it and gets an id of its own.
        for (i, stored) in [Bson::Int32(41), Bson::Double(7.0), Bson::Int64(4095)]
            .into_iter()
            .enumerate()
        {
            set_writer_counter(&w, stored.clone()).await;
            let next = GoldRecord {
                value: Some(2.0 + i as f64),
                samples: vec![2.0 + i as f64],
                ..last.clone()
            };
            reopen(&w)
                .await
                .upsert_gold(std::slice::from_ref(&next))
                .await
                .unwrap_or_else(|e| panic!("counter stored as {stored:?}: {e}"));
            last = next;
        }
        let feed = w.gold_changes_after(0, 10).await.unwrap();
        assert_eq!(feed.len(), 4, "{feed:?}");
        assert!(feed.windows(2).all(|p| p[0].seq < p[1].seq), "{feed:?}");
        assert_eq!(feed[3].record, last);
        drop_database(w).await;
    }

    #[tokio::test]
    async fn an_outbox_counter_that_is_not_a_number_fails_loudly_and_writes_nothing() {
        let Some(w) = fresh_database(None).await else {
            return;
        };
        set_writer_counter(&w, mongodb::bson::Bson::String("seven".into())).await;
        let err = w
            .upsert_gold(&[record("payments", 1.0)])
            .await
            .expect_err("a corrupt counter must not default to some id");
        assert!(
            matches!(err, dorafleet_warehouse::WarehouseError::Corrupt { .. })
                && err.to_string().contains("outbox writer counter"),
            "{err}"
        );
        assert!(
            w.gold(&Default::default()).await.unwrap().is_empty(),
            "no gold written without its outbox entry"
        );
        drop_database(w).await;
    }

    #[tokio::test]
    async fn concurrent_gold_transactions_share_no_counter_document() {
        let Some(w) = fresh_database(None).await else {
            return;
        };
        let teams: Vec<String> = (0..8).map(|i| format!("team-{i}")).collect();
        let mut jobs = tokio::task::JoinSet::new();
        for team in &teams {
            let (w, r) = (w.clone(), record(team, 1.0));
            jobs.spawn(async move { w.upsert_gold(&[r]).await });
        }
        while let Some(done) = jobs.join_next().await {
            done.unwrap().unwrap();
        }
        // One writer slot claimed for the handle, not one increment per transaction.
        let counter = w
            .database()
            .collection::<Document>("sequences")
            .find_one(mongodb::bson::doc! { "_id": "gold_outbox_writers" })
            .await
            .unwrap()
            .expect("the writer counter exists");
        assert_eq!(counter.get_i64("seq"), Ok(1), "{counter:?}");
        let feed = w.gold_changes_after(0, 100).await.unwrap();
        let mut seqs: Vec<u64> = feed.iter().map(|c| c.seq).collect();
        seqs.dedup();
        assert_eq!(seqs.len(), teams.len(), "{feed:?}");
        drop_database(w).await;
    }
}
