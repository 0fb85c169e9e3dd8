//! Bronze appends committed together (group commit).
//!
//! An append is a task's pages (one, or the few a crawl took at once) and
//! the checkpoint that names them, in one transaction. A worker runs
//! several tasks at once, and in the workers benchmark committing those
//! transactions one by one was a third
//! of what SQLite cost: each commit writes the leaves it changed (the table
//! and its indexes, the checkpoint row) to the WAL again, though the next
//! page's commit changes many of the same leaves.
//!
//! So appends that arrive while the write connection is busy wait in a
//! queue, and the next holder of the connection commits all of them in one
//! transaction. Each append runs in its own savepoint: one that fails (a
//! value over SQLite's size limit) is rolled back alone and its caller gets
//! its own error, while the others still commit. Every caller is answered
//! only after the commit that holds its append, so an append reported done
//! is on disk as before; a failed commit fails every append in it.
//!
//! A lone append pays nothing extra: the first to arrive on an idle queue
//! commits at once, alone.

use super::{SqliteWarehouse, bronze, unavailable};
use crate::{BronzePage, ExtractCheckpoint, Result, WarehouseError};
use rusqlite::Connection;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Appends waiting for the write connection.
#[derive(Debug, Default)]
pub(super) struct AppendQueue {
    waiting: Mutex<Vec<Append>>,
    /// Batches taken so far (each is committed in one transaction).
    #[cfg(test)]
    batches: std::sync::atomic::AtomicU64,
}

/// One append and where its answer goes.
#[derive(Debug)]
struct Append {
    pages: Vec<BronzePage>,
    checkpoint: ExtractCheckpoint,
    answer: oneshot::Sender<Result<Vec<bool>>>,
}

impl AppendQueue {
    /// Queues an append; `true` when the queue was empty, so the caller must
    /// start a commit (one is already on its way for any other append).
    fn push(&self, append: Append) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.push(append);
        waiting.len() == 1
    }

    /// Everything queued so far, leaving the queue empty: the next push
    /// starts the next commit.
    fn take(&self) -> Vec<Append> {
        let batch = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        #[cfg(test)]
        if !batch.is_empty() {
            self.batches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        batch
    }
}

impl SqliteWarehouse {
    /// Stores `pages` with `checkpoint`, in the next commit of the write
    /// connection; for each page, `true` when it was new (see
    /// [`BronzeStore::append_bronze_pages`](crate::BronzeStore::append_bronze_pages)).
    pub(super) async fn append_in_group(
        &self,
        pages: Vec<BronzePage>,
        checkpoint: ExtractCheckpoint,
    ) -> Result<Vec<bool>> {
        let (answer, answered) = oneshot::channel();
        let leads = self.appends.push(Append {
            pages,
            checkpoint,
            answer,
        });
        if leads {
            // Runs to the end even when this caller goes away: every queued
            // append is answered by the commit that takes it.
            let warehouse = self.clone();
            tokio::task::spawn_blocking(move || warehouse.commit_queued());
        }
        answered.await.map_err(|_| {
            WarehouseError::unavailable(
                "the commit holding this bronze page stopped before it answered",
            )
        })?
    }

    /// Takes the write connection, then every append queued by then, and
    /// commits them in one transaction; answers each. When the connection
    /// or the file fails before the batch is taken, the queued appends get
    /// that failure.
    fn commit_queued(&self) {
        let mut taken = None;
        let results = self.checked(|| {
            self.write_now(|conn| {
                let batch = taken.insert(self.appends.take());
                Ok(commit_batch(conn, batch))
            })
        });
        let batch = taken.unwrap_or_else(|| self.appends.take());
        let results = results.unwrap_or_else(|e| batch.iter().map(|_| Err(e.clone())).collect());
        for (append, result) in batch.into_iter().zip(results) {
            // A caller that went away no longer needs its answer.
            let _ = append.answer.send(result);
        }
    }
}

/// Runs each append in its own savepoint of one transaction and commits;
/// one result per append, in order. A lone append runs without a savepoint.
fn commit_batch(conn: &mut Connection, batch: &[Append]) -> Vec<Result<Vec<bool>>> {
    if batch.is_empty() {
        return Vec::new();
    }
    let all_fail = |e: WarehouseError| batch.iter().map(|_| Err(e.clone())).collect();
    let mut tx = match super::write_tx(conn) {
        Ok(tx) => tx,
        Err(e) => return all_fail(e),
    };
    let mut results = Vec::with_capacity(batch.len());
    if let [only] = batch {
        let stored = bronze::append_in(&tx, &only.pages, &only.checkpoint);
        if stored.is_err() {
            // Dropping the transaction rolls it back: no page without its
            // checkpoint.
            return vec![stored];
        }
        results.push(stored);
    } else {
        for append in batch {
            // A savepoint dropped without commit is rolled back: a failed
            // append is undone alone, and the others stand.
            let result = tx.savepoint().map_err(unavailable).and_then(|sp| {
                let stored = bronze::append_in(&sp, &append.pages, &append.checkpoint)?;
                sp.commit().map_err(unavailable)?;
                Ok(stored)
            });
            results.push(result);
        }
    }
    match tx.commit().map_err(unavailable) {
        Ok(()) => results,
        Err(e) => all_fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BronzeFilter, BronzeStore};
    use chrono::Utc;
    use dorafleet_core::{Scope, Source};
    use std::time::{Duration, Instant};
    use uuid::Uuid;

    fn append_of(team: &str) -> (BronzePage, ExtractCheckpoint) {
        let (task_id, run_id) = (Uuid::now_v7(), Uuid::now_v7());
        let page = BronzePage {
            task_id,
            seq: 0,
            execution_id: run_id,
            source_system: Source::Github,
            scope: Scope {
                team: team.into(),
                target: Some("acme/ledger".into()),
            },
            endpoint: "pulls".into(),
            request: "/repos/acme/ledger/pulls?page=1".into(),
            cursor: "1".into(),
            status: 200,
            fetched_at: Utc::now(),
            record_count: 1,
            body: "[{}]".into(),
            etag: None,
            last_modified: None,
            link_next: None,
            reuses: None,
        };
        let checkpoint = ExtractCheckpoint {
            task_id,
            run_id,
            pages_done: 1,
            state: format!("{{\"team\":\"{team}\"}}"),
            newest_seen: None,
            completed: false,
        };
        (page, checkpoint)
    }

    /// The pages stored for `page`'s task.
    async fn pages_of(w: &SqliteWarehouse, page: &BronzePage) -> Vec<BronzePage> {
        w.bronze_pages(&BronzeFilter {
            task_id: Some(page.task_id),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    /// Makes the checkpoint of a `poison` team's append fail. It is written
    /// after the page, so its failure must take the page back with it.
    fn refuse_poison_checkpoints(w: &SqliteWarehouse) {
        w.write_now(|conn| {
            conn.execute_batch(
                "CREATE TEMP TRIGGER refuse_poison BEFORE INSERT ON extract_checkpoints
                 WHEN NEW.state LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .map_err(unavailable)
        })
        .unwrap();
    }

    fn queued(
        page: BronzePage,
        checkpoint: ExtractCheckpoint,
    ) -> (Append, oneshot::Receiver<Result<Vec<bool>>>) {
        let (answer, answered) = oneshot::channel();
        let append = Append {
            pages: vec![page],
            checkpoint,
            answer,
        };
        (append, answered)
    }

    #[tokio::test]
    async fn a_failed_append_is_undone_alone_and_the_rest_of_its_commit_stands() {
        let w = SqliteWarehouse::open_in_memory().unwrap();
        refuse_poison_checkpoints(&w);
        let appends = ["first", "poison", "last"].map(append_of);
        let batch: Vec<Append> = appends
            .iter()
            .map(|(p, c)| queued(p.clone(), c.clone()).0)
            .collect();
        let results = w.write_now(|conn| Ok(commit_batch(conn, &batch))).unwrap();
        assert!(
            matches!(results[0].as_deref(), Ok([true])),
            "{:?}",
            results[0]
        );
        assert!(
            results[1].is_err(),
            "the poison append fails: {:?}",
            results[1]
        );
        assert!(
            matches!(results[2].as_deref(), Ok([true])),
            "{:?}",
            results[2]
        );
        for (page, checkpoint) in &appends {
            let stored = pages_of(&w, page).await;
            let saved = w.extract_checkpoint(checkpoint.task_id).await.unwrap();
            let poison = page.scope.team == "poison";
            assert_eq!(stored.len(), usize::from(!poison), "{}", page.scope.team);
            assert_eq!(
                saved.is_some(),
                !poison,
                "checkpoint of {}",
                page.scope.team
            );
        }
    }

    #[tokio::test]
    async fn a_lone_append_that_fails_leaves_neither_its_page_nor_its_checkpoint() {
        let w = SqliteWarehouse::open_in_memory().unwrap();
        refuse_poison_checkpoints(&w);
        let (page, checkpoint) = append_of("poison");
        let result = w.append_in_group(vec![page.clone()], checkpoint).await;
        assert!(result.is_err(), "{result:?}");
        assert!(
            pages_of(&w, &page).await.is_empty(),
            "the page went back with its checkpoint"
        );
    }

    #[tokio::test]
    async fn pages_stored_together_whose_checkpoint_fails_all_go_back_with_it() {
        let w = SqliteWarehouse::open_in_memory().unwrap();
        refuse_poison_checkpoints(&w);
        let (first, checkpoint) = append_of("poison");
        let second = BronzePage {
            seq: 1,
            ..first.clone()
        };
        let result = w
            .append_in_group(vec![first.clone(), second], checkpoint)
            .await;
        assert!(result.is_err(), "{result:?}");
        assert!(
            pages_of(&w, &first).await.is_empty(),
            "neither page stays without the checkpoint after them"
        );
    }

    #[tokio::test]
    #[allow(
        clippy::await_holding_lock,
        reason = "the test plays the busy writer: it holds the connection while the appends queue"
    )]
    async fn appends_that_wait_for_a_busy_writer_are_committed_together() {
        let w = SqliteWarehouse::open_in_memory().unwrap();
        let busy = w.conn.lock().unwrap();
        let appends: Vec<_> = (0..8)
            .map(|i| {
                let (page, checkpoint) = append_of(&format!("team-{i}"));
                let w = w.clone();
                tokio::spawn(async move { w.append_in_group(vec![page], checkpoint).await })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.appends.waiting.lock().unwrap().len() < 8 {
            assert!(Instant::now() < deadline, "the appends never queued");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(busy);
        for append in appends {
            assert_eq!(
                append.await.unwrap().unwrap(),
                [true],
                "every append is stored"
            );
        }
        assert_eq!(
            w.appends.batches.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "the 8 waiting appends shared one transaction"
        );
    }
}
