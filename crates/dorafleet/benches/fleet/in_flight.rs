//! The coordinator's memory with many tasks in flight: a run of N teams (N
//! extract tasks) and no worker, so every task the coordinator publishes
//! stays outstanding. Once the extract queue holds all N, the coordinator's
//! resident set is read, then it is stopped and the queues are deleted.
//! What the coordinator keeps per outstanding task is what this measures;
//! with workers draining the queue it would never hold N at once.

use super::processes::{peak_rss_kb, rabbit_config, status_kb};
use super::run::{FROM, TO, command, config_toml};
use anyhow::{Context, bail};
use dorafleet_broker::{Broker, RabbitBroker};
use std::process::Stdio;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub struct InFlight {
    pub tasks: usize,
    /// From the coordinator's spawn until the queue held every task.
    pub published_after: Duration,
    pub rss_kb: u64,
    pub peak_rss_kb: u64,
}

impl InFlight {
    pub fn print(&self) {
        println!(
            "  {} tasks published and outstanding after {:.1} s; coordinator RSS {:.1} MB (peak {:.1} MB)",
            self.tasks,
            self.published_after.as_secs_f64(),
            self.rss_kb as f64 / 1024.0,
            self.peak_rss_kb as f64 / 1024.0
        );
    }
}

pub async fn coordinator_with_tasks_in_flight(
    binary: &std::path::Path,
    tasks: usize,
) -> anyhow::Result<InFlight> {
    let dir = tempfile::tempdir()?;
    let prefix = format!("bench-{}", Uuid::now_v7().simple());
    let config = dir.path().join("dorafleet.toml");
    std::fs::write(
        &config,
        config_toml(tasks, &dir.path().join("w.db"), &prefix, None),
    )?;
    let broker = RabbitBroker::connect(rabbit_config(&prefix))
        .await
        .context("connecting to RabbitMQ to watch the extract queue")?;
    let log = dir.path().join("coordinator.log");
    let start = Instant::now();
    let mut coordinator = command(
        binary,
        &config,
        &["coordinator", "--from", FROM, "--to", TO],
    )
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log)?)
    .spawn()
    .context("spawning the coordinator")?;
    let pid = coordinator.id();
    let deadline = start + Duration::from_secs(600);
    let outcome = loop {
        if let Some(status) = coordinator.try_wait()? {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            break Err(anyhow::anyhow!(
                "the coordinator exited ({status}) before publishing {tasks} tasks:\n{log}"
            ));
        }
        // The queue exists once the coordinator declared the topology.
        let depth = broker
            .queue_depth("tasks.extract.github")
            .await
            .unwrap_or(0);
        if depth as usize >= tasks {
            break Ok(InFlight {
                tasks,
                published_after: start.elapsed(),
                rss_kb: status_kb(pid, "VmRSS").unwrap_or(0),
                peak_rss_kb: peak_rss_kb(pid).unwrap_or(0),
            });
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "the coordinator published {depth} of {tasks} tasks in 10 minutes"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = coordinator.kill();
    let _ = coordinator.wait();
    broker.delete_topology().await?;
    broker.close().await?;
    match outcome {
        Ok(measured) if measured.rss_kb == 0 => bail!("could not read the coordinator's RSS"),
        other => other,
    }
}
