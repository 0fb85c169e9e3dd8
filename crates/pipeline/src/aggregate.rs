//! Aggregate: silver → gold, for one team.
//!
//! Gold is written only for days the team's inputs fully cover: every scope
//! of every source of the team must have been extracted over the whole UTC
//! day. A day outside that coverage gets no record at all, which is how
//! "unknown" is stored — never as a zero.

use crate::dora;
use crate::handler::{HandlerOutcome, StageHandler};
use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use dorafleet_core::{Config, Metric, Scope, Source, TaskEnvelope, TaskError, TaskStats, Window};
use dorafleet_warehouse::{GoldRecord, Warehouse};
use std::sync::Arc;
use uuid::Uuid;

/// The UTC days inside `range` that every scope of `team` covers completely.
pub async fn complete_days(
    warehouse: &dyn Warehouse,
    config: &Config,
    team: &str,
    range: Window,
) -> Result<Vec<NaiveDate>, TaskError> {
    let team_config = config
        .teams
        .iter()
        .find(|t| t.id == team)
        .ok_or_else(|| TaskError::permanent(format!("team `{team}` is not configured")))?;
    let (mut from, mut to) = (range.from, range.to);
    let mut scopes = 0;
    for source in Source::ALL {
        for target in team_config.targets(source) {
            scopes += 1;
            let scope = Scope {
                team: team.to_owned(),
                target: Some(target.clone()),
            };
            let Some(covered) = warehouse.coverage(source, &scope).await? else {
                return Ok(Vec::new());
            };
            from = from.max(covered.from);
            to = to.min(covered.to);
        }
    }
    if scopes == 0 {
        return Ok(Vec::new());
    }
    let mut days = Vec::new();
    let mut day = first_full_day(from);
    while start_of(day + Duration::days(1)) <= to {
        days.push(day);
        day += Duration::days(1);
    }
    Ok(days)
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

fn first_full_day(t: DateTime<Utc>) -> NaiveDate {
    let day = t.date_naive();
    if start_of(day) == t {
        day
    } else {
        day + Duration::days(1)
    }
}

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
    let days = complete_days(warehouse, config, team, range).await?;
    if days.is_empty() {
        return Ok(Vec::new());
    }
    let silver = warehouse.team_silver(team).await?;
    let mut versions = Vec::with_capacity(metrics.len());
    for &metric in metrics {
        let fingerprint = config.definitions.fingerprint(metric);
        versions.push((
            metric,
            warehouse.definition_version(metric, &fingerprint).await?,
        ));
    }
    let computed_at = Utc::now();
    Ok(dora::compute(&config.definitions, &silver, &days, metrics)
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

#[derive(Debug, Clone)]
pub struct AggregateHandler {
    warehouse: Arc<dyn Warehouse>,
    config: Arc<Config>,
}

impl AggregateHandler {
    pub fn new(warehouse: Arc<dyn Warehouse>, config: Arc<Config>) -> Self {
        AggregateHandler { warehouse, config }
    }
}

#[async_trait]
impl StageHandler for AggregateHandler {
    async fn handle(&self, task: &TaskEnvelope) -> HandlerOutcome {
        let result = async {
            let gold = team_gold(
                self.warehouse.as_ref(),
                &self.config,
                &task.scope.team,
                task.window,
                &Metric::ALL,
                task.run_id,
            )
            .await?;
            self.warehouse.upsert_gold(&gold).await?;
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
