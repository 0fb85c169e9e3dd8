//! Celery on the same RabbitMQ, the same number of no-op tasks, in the same
//! run: `benches/celery/run.py` (publisher confirms, `acks_late`, a durable
//! quorum queue, persistent messages of the fleet's size), driven with the
//! Python that `scripts/bench.sh celery` installs Celery into.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct CeleryRun {
    pub tasks: usize,
    pub workers: usize,
    pub concurrency: usize,
    pub published_s: f64,
    pub total_s: f64,
    pub version: String,
}

impl CeleryRun {
    pub fn per_sec(&self) -> f64 {
        self.tasks as f64 / self.total_s
    }

    pub fn print(&self) {
        println!(
            "  {} tasks: all published (confirmed one by one, as kombu does) after {:.2} s, all run after {:.2} s -> {:.0} tasks/s",
            self.tasks,
            self.published_s,
            self.total_s,
            self.per_sec()
        );
    }
}

/// The driver script, from the workspace root.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/celery/run.py")
}

/// Run `tasks` no-op tasks through Celery with `python` (a virtualenv's).
pub fn run(
    python: &Path,
    amqp: &str,
    tasks: usize,
    body_bytes: usize,
    workers: usize,
) -> anyhow::Result<CeleryRun> {
    let output = Command::new(python)
        .arg(script())
        .args(["--tasks", &tasks.to_string()])
        .args(["--body-bytes", &body_bytes.to_string()])
        .args(["--workers", &workers.to_string()])
        .args(["--amqp", amqp])
        .output()
        .with_context(|| format!("running {} {}", python.display(), script().display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("celery-bench: "))
    else {
        bail!(
            "the Celery benchmark printed no figures ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let v: serde_json::Value = serde_json::from_str(line)?;
    let number = |k: &str| v[k].as_f64().with_context(|| format!("no {k} in {line}"));
    Ok(CeleryRun {
        tasks: number("tasks")? as usize,
        workers: number("workers")? as usize,
        concurrency: number("concurrency")? as usize,
        published_s: number("published_s")?,
        total_s: number("total_s")?,
        version: format!(
            "celery {} (kombu {})",
            v["celery"].as_str().unwrap_or("?"),
            v["kombu"].as_str().unwrap_or("?")
        ),
    })
}
