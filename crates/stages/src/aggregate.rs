//! Aggregate: silver → gold, for one team.
//!
//! Gold is written only for days the team's inputs fully cover: every scope
//! of every source of the team must have been extracted over the whole UTC
//! day. A day outside that coverage gets no record at all, which is how
//! "unknown" is stored — never as a zero. Before it writes, the team passes
//! the volume sensor (see [`crate::sensors`]); a day any open hold covers
//! gets no gold either.

use crate::coverage::complete_days;
use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use dorafleet_core::{Config, Metric, TaskEnvelope, TaskError, TaskStats, Window};
use dorafleet_dora as dora;
use dorafleet_warehouse::{GoldRecord, TeamSilver, Warehouse};
use dorafleet_worker::{HandlerOutcome, StageHandler};
use std::sync::Arc;
use tracing::Instrument;
use uuid::Uuid;

/// Gold records of `team` for the complete days in `range`, under the
/// configured definitions, stamped with `run_id`.
pub async fn team_gold(
    warehouse: &dyn Warehouse,
    config: &Config,
    team: &str,
    range: Window,
    metrics: &[Metric],
    run_id: Uuid,
) -> Result<Vec<GoldRecord>, TaskError> {
    let silver = warehouse.team_silver(team).await?;
    team_gold_from(warehouse, config, team, &silver, range, metrics, run_id).await
}

/// [`team_gold`] from the team's silver already read.
pub async fn team_gold_from(
    warehouse: &dyn Warehouse,
    config: &Config,
    team: &str,
    silver: &TeamSilver,
    range: Window,
    metrics: &[Metric],
    run_id: Uuid,
) -> Result<Vec<GoldRecord>, TaskError> {
    let holds = crate::sensors::open_holds(warehouse, team).await?;
    let days: Vec<NaiveDate> = complete_days(warehouse, config, team, range)
        .await?
        .into_iter()
        .filter(|day| !holds.iter().any(|h| h.holds_day(*day)))
        .collect();
    if days.is_empty() {
        return Ok(Vec::new());
    }
    let mut versions = Vec::with_capacity(metrics.len());
    for &metric in metrics {
        let fingerprint = config.definitions.fingerprint(metric);
        versions.push((
            metric,
            warehouse.definition_version(metric, &fingerprint).await?,
        ));
    }
    let computed_at = Utc::now();
    Ok(dora::compute(&config.definitions, silver, &days, metrics)
        .into_iter()
        .map(|v| GoldRecord {
            date: v.date,
            team_id: team.to_owned(),
            metric: v.metric,
            value: v.value,
            sample_size: v.sample_size,
            samples: v.samples,
            definition_version: versions
                .iter()
                .find(|(m, _)| *m == v.metric)
                .map_or(0, |(_, version)| *version),
            run_id,
            computed_at,
            complete: true,
        })
        .collect())
}

/// The aggregate stage's handler: a team's silver into gold, for the days
/// its inputs fully cover, after the volume sensor and outside open holds.
#[derive(Debug, Clone)]
pub struct AggregateHandler {
    warehouse: Arc<dyn Warehouse>,
    config: Arc<Config>,
}

impl AggregateHandler {
    /// Reads silver from and writes gold to `warehouse`, under `config`'s
    /// teams, definitions and sensor settings.
    pub fn new(warehouse: Arc<dyn Warehouse>, config: Arc<Config>) -> Self {
        AggregateHandler { warehouse, config }
    }
}

#[async_trait]
impl StageHandler for AggregateHandler {
    async fn handle(&self, task: &TaskEnvelope) -> HandlerOutcome {
        let result = async {
            let run_window = match self.warehouse.run(task.run_id).await? {
                Some(run) => run.window,
                None => task.window,
            };
            let team = &task.scope.team;
            // Read once: the sensor and the metrics judge the same silver.
            let silver = self.warehouse.team_silver(team).await?;
            let report = crate::sensors::check_team_volume(
                self.warehouse.as_ref(),
                &self.config,
                team,
                &silver,
                task.run_id,
                run_window,
            )
            .await?;
            if report.too_little_history() > 0 {
                tracing::info!(
                    team = %team,
                    spans = report.too_little_history(),
                    "volume sensor: too little history to judge some spans; nothing held for them"
                );
            }
            let cleared = crate::sensors::clear_superseded_holds(
                self.warehouse.as_ref(),
                team,
                task.run_id,
                run_window,
            )
            .await?;
            for hold in &cleared {
                tracing::info!(team = %team, hold_id = %hold.hold_id, held_by_run = %hold.run_id, "hold cleared: the re-extracted data passed the sensors");
            }
            let gold = team_gold_from(
                self.warehouse.as_ref(),
                &self.config,
                &task.scope.team,
                &silver,
                task.window,
                &Metric::ALL,
                task.run_id,
            )
            .instrument(tracing::info_span!("aggregate", team = %task.scope.team))
            .await?;
            self.warehouse
                .upsert_gold(&gold)
                .instrument(tracing::info_span!("gold write", records = gold.len()))
                .await?;
            dorafleet_telemetry::metrics::records_written("gold", gold.len() as u64);
            Ok::<_, TaskError>(gold.len() as u64)
        }
        .await;
        match result {
            Ok(records) => HandlerOutcome::ok(TaskStats {
                records,
                ..TaskStats::default()
            }),
            Err(e) => HandlerOutcome::failed(TaskStats::default(), e),
        }
    }
}
