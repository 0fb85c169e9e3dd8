//! The coordinator's serial path, piece by piece, through the project's
//! code: what one SQLite commit and one confirmed publish cost alone, which
//! is why the coordinator applies events in batches and pipelines confirms.

use super::processes::rabbit_config;
use chrono::Utc;
use dorafleet_broker::{Broker, RabbitBroker};
use dorafleet_core::TaskEnvelope;
use std::time::Instant;
use uuid::Uuid;

pub struct PathCosts {
    pub n: usize,
    /// One `save_tasks` of one record (one SQLite transaction), mean.
    pub commit_us: f64,
    /// One `RabbitBroker::publish` (persistent, mandatory, confirmed), mean.
    pub publish_us: f64,
}

impl PathCosts {
    /// Per task, applying events one at a time, the coordinator commits the
    /// task pending, publishes it, commits it published, and commits its
    /// final state from the event.
    pub fn serial_per_task_us(&self) -> f64 {
        3.0 * self.commit_us + self.publish_us
    }

    pub fn print(&self) {
        println!(
            "\ncoordinator path, {} of each, one at a time as the coordinator does them:",
            self.n
        );
        println!(
            "  SqliteWarehouse::save_tasks(1 record): {:.0} us each",
            self.commit_us
        );
        println!(
            "  RabbitBroker::publish (confirmed):     {:.0} us each",
            self.publish_us
        );
    }
}

pub async fn path_costs(n: usize, body: &[u8]) -> anyhow::Result<PathCosts> {
    use dorafleet_warehouse::{RunRecord, RunStatus, TaskRecord, TaskState};
    let n = n.max(1);
    let dir = tempfile::tempdir()?;
    let warehouse = dorafleet_warehouse::open(&dorafleet_core::config::WarehouseConfig {
        url: format!("sqlite:{}", dir.path().join("w.db").display()),
        ..Default::default()
    })
    .await?;
    let template = TaskEnvelope::decode(body)?;
    let now = Utc::now();
    warehouse
        .save_run(&RunRecord {
            run_id: template.run_id,
            kind: "range".into(),
            window: template.window,
            status: RunStatus::Running,
            created_at: now,
            updated_at: now,
            traceparent: None,
        })
        .await?;
    let tasks: Vec<TaskEnvelope> = (0..n)
        .map(|_| {
            let mut task = template.clone();
            task.task_id = Uuid::now_v7();
            task
        })
        .collect();
    let start = Instant::now();
    for task in &tasks {
        let record = TaskRecord {
            envelope: task.clone(),
            state: TaskState::Pending,
            published: false,
            worker: None,
            attempts: 0,
            updated_at: Utc::now(),
        };
        warehouse.save_tasks(&[record]).await?;
    }
    let commit_us = start.elapsed().as_secs_f64() * 1e6 / n as f64;

    let broker =
        RabbitBroker::connect(rabbit_config(&format!("bench-{}", Uuid::now_v7().simple()))).await?;
    let start = Instant::now();
    let mut published = Ok(());
    for task in &tasks {
        published = broker.publish(task).await;
        if published.is_err() {
            break;
        }
    }
    let publish_us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    broker.delete_topology().await?;
    broker.close().await?;
    published?;
    Ok(PathCosts {
        n,
        commit_us,
        publish_us,
    })
}
