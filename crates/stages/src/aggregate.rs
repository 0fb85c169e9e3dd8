//! Aggregate: silver → gold, for one team.
//!
//! Gates are per metric: a metric's gold is written only for days its
//! inputs fully cover — every scope of each source the metric reads
//! (`Definitions::inputs`) must have been extracted over the whole UTC day.
//! A day outside that coverage gets no record for the metric, which is how
//! "unknown" is stored — never as a zero — while the metrics that do not read
//! the missing source go on. Before it writes, the team passes the volume
//! sensor (see [`crate::sensors`]); a day an open hold covers gets no gold
//! for the metrics that read the held scope's source. A source with a
//! dead-lettered task in this run blanks the metrics that read it for the
//! run: the coverage its extract claimed may rest on silver it never wrote.
//! A value equal to the stored one is not written again, so its provenance
//! (run, computation time) stays that of the run that computed it. How the
//! team's changes were linked to deployments, and which were left out, is
//! recorded with the run's counts.

use crate::coverage::{complete_days_of, coverage_starts};
use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use dorafleet_core::{Config, Metric, Source, TaskEnvelope, TaskError, TaskStats, Window};
use dorafleet_dora as dora;
use dorafleet_warehouse::{
    GoldFilter, GoldRecord, NormalizeCounts, SilverBatch, TaskState, TeamSilver, Warehouse,
};
use dorafleet_worker::{HandlerOutcome, StageHandler};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tracing::Instrument;
use uuid::Uuid;

/// Gold records of `team` for the days in `range` each metric's inputs
/// cover completely, under the configured definitions, stamped with `run_id`.
pub async fn team_gold(
    warehouse: &dyn Warehouse,
    config: &Config,
    team: &str,
    range: Window,
    metrics: &[Metric],
    run_id: Uuid,
) -> Result<Vec<GoldRecord>, TaskError> {
    let silver = warehouse.team_silver(team).await?;
    let (gold, _) = team_gold_from(
        warehouse,
        config,
        team,
        &silver,
        range,
        metrics,
        &BTreeSet::new(),
        run_id,
    )
    .await?;
    Ok(gold)
}

/// [`team_gold`] from the team's silver already read, leaving out the
/// metrics that read one of the `blocked` sources; with the tally of how
/// the team's changes were linked to deployments.
#[allow(clippy::too_many_arguments)]
pub async fn team_gold_from(
    warehouse: &dyn Warehouse,
    config: &Config,
    team: &str,
    silver: &TeamSilver,
    range: Window,
    metrics: &[Metric],
    blocked: &BTreeSet<Source>,
    run_id: Uuid,
) -> Result<(Vec<GoldRecord>, dora::LinkTally), TaskError> {
    let holds = crate::sensors::open_holds(warehouse, team).await?;
    let mut days_of: BTreeMap<Metric, BTreeSet<NaiveDate>> = BTreeMap::new();
    for &metric in metrics {
        let inputs = config.definitions.inputs(metric);
        if inputs.iter().any(|s| blocked.contains(s)) {
            continue;
        }
        let days: BTreeSet<NaiveDate> = complete_days_of(warehouse, config, team, range, &inputs)
            .await?
            .into_iter()
            .filter(|day| !holds.iter().any(|h| h.holds_day_for(*day, &inputs)))
            .collect();
        if !days.is_empty() {
            days_of.insert(metric, days);
        }
    }
    let starts = coverage_starts(warehouse, config, team).await?;
    let all_days: Vec<NaiveDate> = days_of
        .values()
        .flatten()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let wanted: Vec<Metric> = days_of.keys().copied().collect();
    let computed = dora::compute(&config.definitions, silver, &starts, &all_days, &wanted);
    let mut versions = BTreeMap::new();
    for &metric in &wanted {
        let fingerprint = config.definitions.fingerprint(metric);
        versions.insert(
            metric,
            warehouse.definition_version(metric, &fingerprint).await?,
        );
    }
    let computed_at = Utc::now();
    let gold = computed
        .values
        .into_iter()
        .filter(|v| days_of.get(&v.metric).is_some_and(|d| d.contains(&v.date)))
        .map(|v| GoldRecord {
            date: v.date,
            team_id: team.to_owned(),
            definition_version: versions[&v.metric],
            metric: v.metric,
            value: v.value,
            sample_size: v.sample_size,
            samples: v.samples,
            run_id,
            computed_at,
            complete: true,
        })
        .collect();
    Ok((gold, computed.tally))
}

/// The tally of linkage as counts of `run_id` for `team`.
fn linkage_counts(team: &str, run_id: Uuid, tally: &dora::LinkTally) -> NormalizeCounts {
    let mut linkage: BTreeMap<String, u64> = tally.dropped.clone();
    linkage.insert("by history".into(), tally.by_history);
    linkage.insert("by time".into(), tally.by_time);
    linkage.insert("not yet deployed".into(), tally.not_yet_deployed);
    NormalizeCounts {
        run_id,
        source: None,
        scope: Some(dorafleet_core::Scope {
            team: team.to_owned(),
            target: None,
        }),
        linkage,
        ..NormalizeCounts::default()
    }
}

/// The records of `gold` that differ from what gold already holds for their
/// (team, day, metric): value, samples or definition version. The others
/// are not written again, so their provenance stays.
pub async fn changed_only(
    warehouse: &dyn Warehouse,
    team: &str,
    gold: Vec<GoldRecord>,
) -> Result<Vec<GoldRecord>, TaskError> {
    let stored = warehouse
        .gold(&GoldFilter {
            teams: vec![team.to_owned()],
            ..GoldFilter::default()
        })
        .await?;
    let stored: BTreeMap<(NaiveDate, Metric), &GoldRecord> =
        stored.iter().map(|g| ((g.date, g.metric), g)).collect();
    Ok(gold
        .into_iter()
        .filter(|g| {
            stored.get(&(g.date, g.metric)).is_none_or(|s| {
                !same_value(s.value, g.value)
                    || s.sample_size != g.sample_size
                    || s.samples.len() != g.samples.len()
                    || s.samples.iter().zip(&g.samples).any(|(a, b)| !same(*a, *b))
                    || s.definition_version != g.definition_version
            })
        })
        .collect())
}

/// Equal as stored numbers: a backend may hand a float back one rounding
/// step away from the one written.
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn same_value(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The sources with a task of `team` dead-lettered in run `run_id`: the
/// metrics reading them are left alone by this run's aggregate.
pub async fn blocked_sources(
    warehouse: &dyn Warehouse,
    run_id: Uuid,
    team: &str,
) -> Result<BTreeSet<Source>, TaskError> {
    Ok(warehouse
        .run_tasks(run_id)
        .await?
        .iter()
        .filter(|t| t.state == TaskState::Dead && t.envelope.scope.team == team)
        .filter_map(|t| t.envelope.source)
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
            dorafleet_worker::still_held()?;
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
            dorafleet_worker::still_held()?;
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
            let blocked = blocked_sources(self.warehouse.as_ref(), task.run_id, team).await?;
            if !blocked.is_empty() {
                tracing::warn!(team = %team, ?blocked,
                    "a task of these sources was dead-lettered: the metrics reading them stay as they are");
            }
            let (gold, tally) = team_gold_from(
                self.warehouse.as_ref(),
                &self.config,
                &task.scope.team,
                &silver,
                task.window,
                &Metric::ALL,
                &blocked,
                task.run_id,
            )
            .instrument(tracing::info_span!("aggregate", team = %task.scope.team))
            .await?;
            tracing::info!(team = %team, by_history = tally.by_history, by_time = tally.by_time,
                not_yet_deployed = tally.not_yet_deployed, dropped = ?tally.dropped,
                "changes linked to deployments");
            dorafleet_worker::still_held()?;
            self.warehouse
                .upsert_silver(&SilverBatch {
                    counts: linkage_counts(team, task.run_id, &tally),
                    ..SilverBatch::default()
                })
                .await?;
            let gold = changed_only(self.warehouse.as_ref(), team, gold).await?;
            dorafleet_worker::still_held()?;
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
