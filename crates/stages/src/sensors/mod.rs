//! Data-quality sensors: the gate between silver and gold.
//!
//! A silent extraction failure (a page skipped, a scope gone quiet) reads
//! downstream as "nothing happened" — the Phantom Zero. Two sensors stand in
//! its way, and each places a *hold* (team, days, evidence) in the warehouse:
//!
//! - **pagination**, at extract: the crawl saw the page chain skip records
//!   (a GitHub next link jumping a page, a Jenkins short page hiding builds);
//! - **volume**, before gold: every scope of the team, and the team's inputs
//!   together, against the same weekdays of other weeks (see [`volume`]).
//!
//! Aggregation writes no gold for a day any open hold covers, whichever run
//! or backfill asks. A hold ends when an operator releases it (`runs
//! release`) or when a later run re-extracts the team over the held days and
//! its sensors pass (`runs rerun`): the hold is then cleared by that run.

pub mod volume;

use crate::coverage::complete_days;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use dorafleet_core::{Config, Source, TaskEnvelope, TaskError, TeamConfig, Window};
use dorafleet_warehouse::{
    Hold, HoldEvidence, HoldFilter, HoldResolution, HoldStatus, TeamSilver, Warehouse,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;
use volume::{Finding, Series, Verdict};

/// The `sensor` name of holds placed by the pagination sensor.
pub const PAGINATION: &str = "pagination";
/// The `sensor` name of holds placed by the volume sensor.
pub const VOLUME: &str = "volume";

/// The days `[from, to)` a window touches.
fn days_of(window: &Window) -> (NaiveDate, NaiveDate) {
    let to = window.to.date_naive();
    let to = if window.to == to.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() {
        to
    } else {
        to + Duration::days(1)
    };
    (window.from.date_naive(), to.max(window.from.date_naive()))
}

/// Store a hold and announce it: a warning on the `dorafleet::alert` target
/// (what log-based alerting follows) and the `holds` counter.
async fn place(warehouse: &dyn Warehouse, hold: Hold) -> Result<Hold, TaskError> {
    warehouse.save_hold(&hold).await?;
    dorafleet_telemetry::metrics::hold_placed(&hold.sensor);
    tracing::warn!(
        target: "dorafleet::alert",
        alert = "hold",
        run_id = %hold.run_id,
        team = %hold.team_id,
        sensor = %hold.sensor,
        scope = hold.scope.as_deref().unwrap_or("all inputs"),
        days = %format!("{}..{}", hold.from, hold.to),
        observed = hold.evidence.observed,
        expected = hold.evidence.expected,
        threshold = %hold.evidence.threshold,
        "held: no gold for these days until `dorafleet runs release` or `runs rerun`"
    );
    Ok(hold)
}

/// Hold the team's days of an extract task whose crawl saw pagination gaps.
pub async fn hold_for_pagination_gaps(
    warehouse: &dyn Warehouse,
    task: &TaskEnvelope,
    gaps: &[String],
) -> Result<Hold, TaskError> {
    let scope = format!(
        "{}:{}",
        task.source.map_or("-", Source::as_str),
        task.scope.target.as_deref().unwrap_or("-")
    );
    let (from, to) = days_of(&task.window);
    let hold = Hold {
        hold_id: Hold::id_for(
            task.run_id,
            &task.scope.team,
            PAGINATION,
            Some(&scope),
            from,
        ),
        run_id: task.run_id,
        team_id: task.scope.team.clone(),
        sensor: PAGINATION.into(),
        scope: Some(scope.clone()),
        from,
        to,
        evidence: HoldEvidence {
            measure: format!("{scope} page chain"),
            observed: gaps.len() as f64,
            expected: 0.0,
            threshold: "no page skipped".into(),
            detail: gaps.join("; "),
        },
        status: HoldStatus::Open,
        created_at: Utc::now(),
        resolution: None,
    };
    place(warehouse, hold).await
}

/// The team's series, one per configured scope, counted from its silver:
/// a repository's merged changes and GitHub deployments, a Jenkins job's
/// deployments, a Jira project's incidents — each by the day it happened.
pub fn team_series(team: &TeamConfig, silver: &TeamSilver) -> Vec<Series> {
    let mut series: BTreeMap<String, BTreeMap<NaiveDate, u64>> = BTreeMap::new();
    for source in Source::ALL {
        for target in team.targets(source) {
            series.entry(format!("{source}:{target}")).or_default();
        }
    }
    let mut count = |name: String, at: DateTime<Utc>| {
        if let Some(daily) = series.get_mut(&name) {
            *daily.entry(at.date_naive()).or_default() += 1;
        }
    };
    for change in &silver.changes {
        count(format!("github:{}", change.repo), change.merged_at);
    }
    for deployment in &silver.deployments {
        let name = match (&deployment.source, &deployment.job) {
            (Source::Jenkins, Some(job)) => format!("jenkins:{job}"),
            _ => format!("github:{}", deployment.repo),
        };
        count(name, deployment.started_at);
    }
    for incident in &silver.incidents {
        count(format!("jira:{}", incident.project), incident.created_at);
    }
    series
        .into_iter()
        .map(|(name, daily)| Series { name, daily })
        .collect()
}

/// What the volume sensor did for one team in one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeReport {
    /// Every series' verdict over every week checked.
    pub findings: Vec<Finding>,
    /// The holds placed for the breaches, one per breaching finding.
    pub holds: Vec<Hold>,
}

impl VolumeReport {
    /// How many findings had too few comparable weeks to judge.
    pub fn too_little_history(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::TooLittleHistory { .. }))
            .count()
    }
}

/// Run the volume sensor over the team's complete days inside `window`
/// (history: every complete day before `window.to`) and hold the team's
/// days of the window for each breach.
pub async fn check_team_volume(
    warehouse: &dyn Warehouse,
    config: &Config,
    team: &str,
    silver: &TeamSilver,
    run_id: Uuid,
    window: Window,
) -> Result<VolumeReport, TaskError> {
    let mut report = VolumeReport::default();
    if !config.sensors.enabled {
        return Ok(report);
    }
    let Some(team_config) = config.teams.iter().find(|t| t.id == team) else {
        return Err(TaskError::permanent(format!(
            "team `{team}` is not configured"
        )));
    };
    let history = Window {
        from: DateTime::<Utc>::UNIX_EPOCH,
        to: window.to,
    };
    let covered: BTreeSet<NaiveDate> = complete_days(warehouse, config, team, history)
        .await?
        .into_iter()
        .collect();
    let (first, end) = days_of(&window);
    let span: Vec<NaiveDate> = covered.range(first..end).copied().collect();
    if span.is_empty() {
        return Ok(report);
    }
    report.findings = volume::evaluate(
        &team_series(team_config, silver),
        &span,
        &covered,
        &config.sensors,
    );
    let (held_from, held_to) = (span[0], span[span.len() - 1] + Duration::days(1));
    for finding in &report.findings {
        let Verdict::Breach(breach) = &finding.verdict else {
            continue;
        };
        let scope = (finding.series != volume::ALL_INPUTS).then(|| finding.series.clone());
        let threshold = if breach.phantom_zero {
            format!(
                "all inputs at zero while the same weekdays held {:.0} (≥ {:.0})",
                breach.baseline,
                4.0 * config.sensors.min_expected
            )
        } else {
            format!(
                "observed < {:.0} % of expected and ≥ {:.1}σ below it",
                (1.0 - config.sensors.drop_threshold) * 100.0,
                config.sensors.deviation_threshold
            )
        };
        let hold = Hold {
            hold_id: Hold::id_for(run_id, team, VOLUME, scope.as_deref(), finding.from),
            run_id,
            team_id: team.to_owned(),
            sensor: VOLUME.into(),
            scope,
            from: held_from,
            to: held_to,
            evidence: HoldEvidence {
                measure: format!(
                    "{} records {}..{}",
                    finding.series, finding.from, finding.to
                ),
                observed: breach.observed as f64,
                expected: breach.expected,
                threshold,
                detail: format!(
                    "baseline {:.1} (median of {} same-weekday weeks) × peer factor {:.2}",
                    breach.baseline, breach.weeks, breach.peer_factor
                ),
            },
            status: HoldStatus::Open,
            created_at: Utc::now(),
            resolution: None,
        };
        report.holds.push(place(warehouse, hold).await?);
    }
    Ok(report)
}

/// After a run placed no hold on `team`: clear the team's open holds of
/// earlier runs whose days this run re-extracted (`window` covers them) —
/// the rerun's data passed the sensors those holds were about.
pub async fn clear_superseded_holds(
    warehouse: &dyn Warehouse,
    team: &str,
    run_id: Uuid,
    window: Window,
) -> Result<Vec<Hold>, TaskError> {
    let of_this_run = HoldFilter {
        run_id: Some(run_id),
        team_id: Some(team.to_owned()),
        ..HoldFilter::default()
    };
    if !warehouse.holds(&of_this_run).await?.is_empty() {
        return Ok(Vec::new());
    }
    let (from, to) = days_of(&window);
    let mut cleared = Vec::new();
    let open = HoldFilter {
        team_id: Some(team.to_owned()),
        status: Some(HoldStatus::Open),
        ..HoldFilter::default()
    };
    for hold in warehouse.holds(&open).await? {
        if hold.run_id == run_id || hold.from < from || hold.to > to {
            continue;
        }
        let only_this = HoldFilter {
            run_id: Some(hold.run_id),
            team_id: Some(team.to_owned()),
            ..HoldFilter::default()
        };
        let resolution = HoldResolution {
            at: Utc::now(),
            by: format!("run {run_id}"),
            reason: "re-extracted; the sensors passed".into(),
        };
        cleared.extend(
            warehouse
                .resolve_holds(&only_this, HoldStatus::Cleared, &resolution)
                .await?,
        );
        close_if_nothing_held(warehouse, hold.run_id).await?;
    }
    Ok(cleared)
}

/// A held run whose holds were all cleared is completed.
async fn close_if_nothing_held(warehouse: &dyn Warehouse, run_id: Uuid) -> Result<(), TaskError> {
    let still_open = HoldFilter {
        run_id: Some(run_id),
        status: Some(HoldStatus::Open),
        ..HoldFilter::default()
    };
    if !warehouse.holds(&still_open).await?.is_empty() {
        return Ok(());
    }
    if let Some(mut run) = warehouse.run(run_id).await?
        && run.status == dorafleet_warehouse::RunStatus::Held
    {
        run.status = dorafleet_warehouse::RunStatus::Completed;
        run.updated_at = Utc::now();
        warehouse.save_run(&run).await?;
    }
    Ok(())
}

/// The open holds of `team`: their days stay out of gold.
pub async fn open_holds(warehouse: &dyn Warehouse, team: &str) -> Result<Vec<Hold>, TaskError> {
    Ok(warehouse
        .holds(&HoldFilter {
            team_id: Some(team.to_owned()),
            status: Some(HoldStatus::Open),
            ..HoldFilter::default()
        })
        .await?)
}
