//! The monitor loop: follow gold changes, evaluate the rules, deliver each
//! alert, then move the checkpoint.
//!
//! Delivery is exactly once per dedup key in every case but one. For each
//! change, in order: evaluate the rules; for each alert, skip it if its key
//! is recorded as delivered, else send it to every sink (retrying without
//! end) and then record its key; only when every alert of the change is
//! delivered does the checkpoint move past the change. A monitor killed at
//! any point restarts from its checkpoint, re-evaluates the change it was
//! handling, and skips the alerts already recorded — so nothing is missed.
//!
//! The remaining duplicate window is between a sink accepting an alert and
//! its key being recorded (one warehouse write): a crash exactly there sends
//! that alert again after the restart. Every payload carries the key as
//! `alert_id`, so a receiver can drop the repeat. One monitor per name is
//! assumed; two monitors sharing a checkpoint name would race each other.

use crate::alert::Alert;
use crate::error::MonitorError;
use crate::feed::{FeedChange, GoldFeed};
use crate::held::{held_run_alerts, held_runs};
use crate::rules::GoldRules;
use crate::sink::{AlertSink, RetrySchedule, send_until_delivered};
use crate::stale::{freshness, stale_source_alerts};
use chrono::{DateTime, Utc};
use dorafleet_core::{AlertRuleName, Config, Metric};
use dorafleet_warehouse::{GoldFilter, Warehouse};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// What a monitor did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorStats {
    /// Gold changes handled (the checkpoint moved past them).
    pub changes: u64,
    /// Alerts delivered to every sink and recorded as delivered.
    pub alerts_delivered: u64,
    /// Alerts whose key was already recorded (sent before a restart, or the
    /// same rule, team and day tripped again).
    pub alerts_skipped: u64,
}

/// The alert monitor: follows a [`GoldFeed`], evaluates the rules and
/// delivers each alert to every sink; see the module docs for the guarantees.
#[derive(Debug)]
pub struct Monitor {
    warehouse: Arc<dyn Warehouse>,
    feed: Box<dyn GoldFeed>,
    sinks: Vec<Arc<dyn AlertSink>>,
    config: Arc<Config>,
    rules: GoldRules,
    stats: MonitorStats,
}

/// Why handling stopped early.
enum Stop {
    Shutdown,
    Failed(MonitorError),
}

impl From<MonitorError> for Stop {
    fn from(e: MonitorError) -> Self {
        Stop::Failed(e)
    }
}

impl From<dorafleet_warehouse::WarehouseError> for Stop {
    fn from(e: dorafleet_warehouse::WarehouseError) -> Self {
        Stop::Failed(e.into())
    }
}

impl Monitor {
    /// A monitor reading changes from `feed` and delivering to every one of
    /// `sinks`; `warehouse` keeps its checkpoint and the delivered keys, and
    /// `config.monitor` gives its name, rules, intervals and retry schedule.
    pub fn new(
        warehouse: Arc<dyn Warehouse>,
        feed: Box<dyn GoldFeed>,
        sinks: Vec<Arc<dyn AlertSink>>,
        config: Arc<Config>,
    ) -> Self {
        Monitor {
            rules: GoldRules::new(&config.monitor),
            warehouse,
            feed,
            sinks,
            config,
            stats: MonitorStats::default(),
        }
    }

    /// Run until `shutdown`. Transient warehouse errors are retried (the
    /// checkpoint has not moved, so nothing is lost); others end the run.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<MonitorStats, MonitorError> {
        let name = self.config.monitor.name.clone();
        let mut checkpoint = self.warehouse.monitor_checkpoint(&name).await?;
        info!(
            monitor = %name,
            checkpoint = checkpoint.as_deref().unwrap_or("start"),
            sinks = ?self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "monitor following gold changes"
        );
        let check_every = Duration::from_secs(self.config.monitor.check_interval_secs);
        let mut next_check = Instant::now();
        let mut last_progress_log = Instant::now();
        let mut failures = 0u32;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let step = async {
                if Instant::now() >= next_check {
                    self.run_checks(checkpoint.as_deref(), &shutdown).await?;
                    next_check = Instant::now() + check_every;
                }
                let batch = tokio::select! {
                    () = shutdown.cancelled() => return Err(Stop::Shutdown),
                    batch = self.feed.next_batch(checkpoint.as_deref()) => batch?,
                };
                for change in batch {
                    self.handle(&change, &shutdown).await?;
                    self.warehouse
                        .save_monitor_checkpoint(&name, &change.checkpoint)
                        .await?;
                    checkpoint = Some(change.checkpoint);
                    self.stats.changes += 1;
                    dorafleet_telemetry::metrics::gold_change_handled();
                }
                Ok(())
            };
            match step.await {
                Ok(()) => failures = 0,
                Err(Stop::Shutdown) => break,
                Err(Stop::Failed(e)) if e.is_transient() => {
                    failures += 1;
                    let delay = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "monitor step failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Err(Stop::Failed(e)) => return Err(e),
            }
            if last_progress_log.elapsed() >= Duration::from_secs(30) {
                last_progress_log = Instant::now();
                info!(
                    changes = self.stats.changes,
                    delivered = self.stats.alerts_delivered,
                    skipped = self.stats.alerts_skipped,
                    checkpoint = checkpoint.as_deref().unwrap_or("start"),
                    "monitor progress"
                );
            }
        }
        info!(
            changes = self.stats.changes,
            delivered = self.stats.alerts_delivered,
            skipped = self.stats.alerts_skipped,
            "monitor stopped"
        );
        Ok(self.stats)
    }

    /// Evaluate one change and deliver its alerts.
    async fn handle(
        &mut self,
        change: &FeedChange,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        let record = &change.record;
        let history = match self.rules.history_needed(record) {
            Some((from, to)) => {
                self.warehouse
                    .gold(&GoldFilter {
                        teams: vec![record.team_id.clone()],
                        metrics: vec![Metric::DeploymentFrequency],
                        from: Some(from),
                        to: Some(to),
                    })
                    .await?
            }
            None => Vec::new(),
        };
        for alert in self.rules.evaluate(record, &history) {
            self.deliver(&alert, change.written_at, shutdown).await?;
        }
        Ok(())
    }

    /// The periodic work: stale sources, held runs, and purging the gold
    /// changes handled up to `checkpoint` once they are past the retention.
    async fn run_checks(
        &mut self,
        checkpoint: Option<&str>,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        let m = &self.config.monitor;
        if let Some(checkpoint) = checkpoint {
            let retention = chrono::Duration::milliseconds(
                (m.outbox_retention_hours * 3_600_000.0).round() as i64,
            );
            let purged = self.feed.trim(checkpoint, Utc::now() - retention).await?;
            if purged > 0 {
                info!(
                    purged,
                    retention_hours = m.outbox_retention_hours,
                    "purged handled gold changes past their retention"
                );
            }
        }
        let mut alerts = Vec::new();
        if m.enabled(AlertRuleName::StaleSource) {
            let fresh = freshness(self.warehouse.as_ref(), &self.config).await?;
            alerts.extend(stale_source_alerts(
                &fresh,
                Utc::now(),
                m.stale_source_after_hours,
            ));
        }
        if m.enabled(AlertRuleName::HeldRun) {
            alerts.extend(held_run_alerts(&held_runs(self.warehouse.as_ref()).await?));
        }
        for alert in alerts {
            self.deliver(&alert, None, shutdown).await?;
        }
        Ok(())
    }

    /// Deliver one alert to every sink unless its key is recorded, then record it.
    async fn deliver(
        &mut self,
        alert: &Alert,
        written_at: Option<DateTime<Utc>>,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        let key = alert.key();
        if self.warehouse.alert_delivered(&key).await? {
            debug!(alert_id = %key, "alert already delivered");
            self.stats.alerts_skipped += 1;
            return Ok(());
        }
        let payload = alert.payload();
        let schedule = RetrySchedule {
            base: Duration::from_millis(self.config.monitor.retry_base_ms),
            cap: Duration::from_millis(self.config.monitor.retry_cap_ms),
        };
        for sink in &self.sinks {
            if !send_until_delivered(sink.as_ref(), &payload, schedule, shutdown).await {
                return Err(Stop::Shutdown);
            }
        }
        self.warehouse
            .record_delivered_alert(&key, &payload.to_string())
            .await?;
        self.stats.alerts_delivered += 1;
        let latency = written_at.and_then(|t| (Utc::now() - t).to_std().ok());
        dorafleet_telemetry::metrics::alert_delivered(alert.rule.as_str(), latency);
        info!(alert_id = %key, message = %alert.message, "alert delivered");
        Ok(())
    }
}
