//! Backfill: recompute silver from bronze and/or gold from silver, with zero
//! API calls — raw pages are kept precisely so that a definition change or a
//! normalization fix never has to touch a rate-limited API again.
//!
//! Teams are independent, so they are recomputed in parallel.

use chrono::{NaiveDate, NaiveTime};
use dorafleet_core::{Config, Metric, Scope, Source, TaskError, Window};
use dorafleet_stages::aggregate::team_gold;
use dorafleet_stages::normalize::normalize_into_silver;
use dorafleet_warehouse::{BronzeFilter, NormalizeCounts, Warehouse};
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

/// The layer a backfill starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromLayer {
    /// Re-normalize bronze into silver, then recompute gold.
    Bronze,
    /// Recompute gold from silver as it is.
    Silver,
}

impl FromStr for FromLayer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bronze" => Ok(FromLayer::Bronze),
            "silver" => Ok(FromLayer::Silver),
            other => Err(format!(
                "unknown layer `{other}`; expected bronze or silver"
            )),
        }
    }
}

/// What to recompute: which days, teams and metrics, from which layer.
#[derive(Debug, Clone)]
pub struct BackfillRequest {
    /// First day recomputed.
    pub from: NaiveDate,
    /// Exclusive.
    pub to: NaiveDate,
    /// Empty: every configured team.
    pub teams: Vec<String>,
    /// Empty: every metric.
    pub metrics: Vec<Metric>,
    /// Where recomputing starts: bronze (re-normalize, then gold) or silver.
    pub from_layer: FromLayer,
    /// Teams recomputed at once (0 counts as 1).
    pub parallelism: usize,
}

/// What a backfill recomputed, summed over its teams.
#[derive(Debug, Clone, Default)]
pub struct BackfillSummary {
    /// The id the backfill's silver and gold records carry.
    pub run_id: Uuid,
    /// Teams recomputed.
    pub teams: usize,
    /// Bronze pages re-normalized (0 from silver).
    pub bronze_pages: u64,
    /// Silver records written: deployments, changes and incidents.
    pub silver_records: u64,
    /// Gold records written.
    pub gold_records: u64,
    /// What re-normalizing read and left out (empty from silver).
    pub normalized: NormalizeCounts,
}

/// Run a backfill; `on_team_done` is called after each team (for progress).
pub async fn backfill(
    warehouse: Arc<dyn Warehouse>,
    config: Arc<Config>,
    request: BackfillRequest,
    on_team_done: impl Fn(&str) + Send + Sync + 'static,
) -> Result<BackfillSummary, TaskError> {
    let teams: Vec<String> = if request.teams.is_empty() {
        config.teams.iter().map(|t| t.id.clone()).collect()
    } else {
        for t in &request.teams {
            if !config.teams.iter().any(|c| &c.id == t) {
                return Err(TaskError::permanent(format!(
                    "team `{t}` is not configured"
                )));
            }
        }
        request.teams.clone()
    };
    let metrics = if request.metrics.is_empty() {
        Metric::ALL.to_vec()
    } else {
        request.metrics.clone()
    };
    let range = Window {
        from: request.from.and_time(NaiveTime::MIN).and_utc(),
        to: request.to.and_time(NaiveTime::MIN).and_utc(),
    };
    let run_id = Uuid::now_v7();
    let permits = Arc::new(Semaphore::new(request.parallelism.max(1)));
    let on_team_done = Arc::new(on_team_done);
    let mut jobs = JoinSet::new();
    for team in teams.clone() {
        let (warehouse, config, metrics) =
            (Arc::clone(&warehouse), Arc::clone(&config), metrics.clone());
        let (permits, on_team_done) = (Arc::clone(&permits), Arc::clone(&on_team_done));
        let from_layer = request.from_layer;
        jobs.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let mut summary = BackfillSummary::default();
            if from_layer == FromLayer::Bronze {
                renormalize_team(warehouse.as_ref(), &config, &team, run_id, &mut summary).await?;
            }
            let gold =
                team_gold(warehouse.as_ref(), &config, &team, range, &metrics, run_id).await?;
            warehouse.upsert_gold(&gold).await?;
            summary.gold_records = gold.len() as u64;
            on_team_done(&team);
            Ok::<_, TaskError>(summary)
        });
    }
    let mut total = BackfillSummary {
        run_id,
        teams: teams.len(),
        ..BackfillSummary::default()
    };
    while let Some(joined) = jobs.join_next().await {
        let part = joined.map_err(|e| TaskError::permanent_from("backfill task failed", e))??;
        total.bronze_pages += part.bronze_pages;
        total.silver_records += part.silver_records;
        total.gold_records += part.gold_records;
        total.normalized.add(&part.normalized);
    }
    Ok(total)
}

async fn renormalize_team(
    warehouse: &dyn Warehouse,
    config: &Config,
    team: &str,
    run_id: Uuid,
    summary: &mut BackfillSummary,
) -> Result<(), TaskError> {
    let Some(team_config) = config.teams.iter().find(|t| t.id == team) else {
        return Ok(());
    };
    for source in Source::ALL {
        for target in team_config.targets(source) {
            let scope = Scope {
                team: team.to_owned(),
                target: Some(target.clone()),
            };
            let pages = BronzeFilter {
                source: Some(source),
                team: Some(team.to_owned()),
                target: Some(target.clone()),
                ..BronzeFilter::default()
            };
            let batch =
                normalize_into_silver(warehouse, config, source, &scope, run_id, &pages).await?;
            summary.bronze_pages += batch.counts.pages;
            summary.silver_records +=
                (batch.deployments.len() + batch.changes.len() + batch.incidents.len()) as u64;
            summary.normalized.add(&batch.counts);
        }
    }
    Ok(())
}
