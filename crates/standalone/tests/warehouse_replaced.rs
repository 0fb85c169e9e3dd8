//! A run whose warehouse file is deleted under it must not report itself
//! completed: its writes would reach a file nobody will ever read.

mod common;

use common::{config, run_over, sim, window};
use dorafleet_standalone::run_standalone;
use dorafleet_warehouse::sqlite::SqliteWarehouse;
use dorafleet_warehouse::{RunLedger, Warehouse};
use std::sync::Arc;

#[tokio::test]
async fn a_run_on_a_warehouse_whose_file_was_deleted_fails_and_records_nothing_completed() {
    let sim = sim(1, &[]).await;
    let config = config(&sim, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open(&path).unwrap());
    // A first run works: the file is the one the operator uses.
    let first = run_over(window(), &config, &warehouse).await;
    assert_eq!((first.dead, first.unfinished), (0, 0));

    std::fs::remove_file(&path).unwrap();
    let outcome = run_standalone(
        Some(window()),
        Arc::clone(&warehouse),
        common::clients(&config),
        Arc::new(config.clone()),
        common::options(),
        |_| {},
    )
    .await;
    let err = outcome.expect_err("the run cannot be recorded in a deleted file");
    let text = format!("{err:#}");
    assert!(
        text.contains("deleted") && text.contains(&path.display().to_string()),
        "{text}"
    );
    // Whoever opens the path now finds no run at all, least of all a completed one.
    let reopened = SqliteWarehouse::open(&path).unwrap();
    assert!(reopened.runs(10).await.unwrap().is_empty());
}
