//! A team's metrics over a range (what `dorafleet metrics --format json`
//! gives for it), and the records behind one (team, day, metric) value with
//! links back and the value's provenance.

use super::links::WebRoots;
use super::{json, parse_day, query};
use crate::AppState;
use crate::error::Problem;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use dorafleet_core::Metric;
use dorafleet_dora::{ChangeLink, DeploymentBehind, IncidentBehind};
use dorafleet_operations::metrics::team_reports_with_levels;
use dorafleet_warehouse::GoldFilter;
use serde::Serialize;

/// The longest range one request may ask for, in days (ten years).
pub(crate) const MAX_RANGE_DAYS: i64 = 3_660;

/// Days shown when `from` is not given.
const DEFAULT_DAYS: i64 = 30;

/// The team `team`, if configured; else a 404 naming the configured ones.
fn configured(state: &AppState, team: &str) -> Result<(), Problem> {
    if state.config.teams.iter().any(|t| t.id == team) {
        return Ok(());
    }
    let known: Vec<&str> = state.config.teams.iter().map(|t| t.id.as_str()).collect();
    Err(Problem::not_found(if known.is_empty() {
        format!("team `{team}` is not configured: the configuration has no [[teams]]")
    } else {
        format!(
            "team `{team}` is not configured; the teams are: {}",
            known.join(", ")
        )
    }))
}

fn parse_metric(text: &str) -> Result<Metric, Problem> {
    text.parse::<Metric>().map_err(|_| {
        Problem::not_found(format!(
            "no metric `{text}`; the metrics are: {}",
            Metric::ALL.map(Metric::as_str).join(", ")
        ))
    })
}

/// `GET /api/v1/teams/{team}/metrics?from&to&levels_year`.
pub(crate) async fn team_metrics(
    State(state): State<AppState>,
    Path(team): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = query(raw.as_deref(), &["from", "to", "levels_year"])?;
    configured(&state, &team)?;
    let to = match q.get("to") {
        Some(t) => parse_day("to", t)?,
        None => state.config.now().date_naive(),
    };
    let from = match q.get("from") {
        Some(f) => parse_day("from", f)?,
        None => to
            .checked_sub_signed(Duration::days(DEFAULT_DAYS))
            .unwrap_or(to),
    };
    if from >= to {
        return Err(Problem::bad_request(format!(
            "`from` ({from}) must be before `to` ({to}): `to` is the day after the last one shown"
        )));
    }
    if (to - from).num_days() > MAX_RANGE_DAYS {
        return Err(Problem::bad_request(format!(
            "{from}..{to} is {} days; ask for at most {MAX_RANGE_DAYS} days at once",
            (to - from).num_days()
        )));
    }
    let levels_year = match q.get("levels_year") {
        None => None,
        Some(y) => {
            let year = y.trim().parse::<u16>().map_err(|_| {
                Problem::bad_request(format!(
                    "`levels_year` is `{y}`, not a year: expected 2021, 2023 or 2024"
                ))
            })?;
            state
                .config
                .levels
                .thresholds(Some(year))
                .map_err(|e| Problem::bad_request(format!("`levels_year` {year}: {e}")))?;
            Some(year)
        }
    };
    let reports = team_reports_with_levels(
        state.warehouse.as_ref(),
        &state.config,
        std::slice::from_ref(&team),
        from,
        to,
        levels_year,
    )
    .await?;
    let report = reports
        .into_iter()
        .find(|r| r.team == team)
        .ok_or_else(|| Problem::not_found(format!("no report for team `{team}`")))?;
    Ok(json(&report))
}

/// What gold holds for one (team, day, metric), or why it holds nothing.
#[derive(Debug, Serialize)]
pub(crate) struct GoldState {
    /// `known` (a value, or none when undefined that day, e.g. no
    /// deployment to fail), `verified_zero` (inputs complete, nothing
    /// happened), `held` (a sensor keeps the day out) or `unknown`
    /// (inputs incomplete).
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    definition_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    computed_at: Option<DateTime<Utc>>,
    /// Why there is no value (held or unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The run whose open hold keeps the day out.
    #[serde(skip_serializing_if = "Option::is_none")]
    held_by_run: Option<uuid::Uuid>,
}

#[derive(Debug, Serialize)]
struct Linked<T: Serialize> {
    #[serde(flatten)]
    record: T,
    /// The record's page in its tool.
    url: String,
}

#[derive(Debug, Serialize)]
struct ChangeLinked {
    #[serde(flatten)]
    change: ChangeLink,
    /// The pull request's page.
    url: String,
}

#[derive(Debug, Serialize)]
struct Records {
    team: String,
    date: NaiveDate,
    metric: Metric,
    gold: GoldState,
    deployments: Vec<Linked<DeploymentBehind>>,
    changes: Vec<ChangeLinked>,
    incidents: Vec<Linked<IncidentBehind>>,
}

/// `GET /api/v1/teams/{team}/days/{date}/metrics/{metric}/records`.
pub(crate) async fn records(
    State(state): State<AppState>,
    Path((team, date, metric)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    query(raw.as_deref(), &[])?;
    configured(&state, &team)?;
    let date = parse_day("date", &date)?;
    let metric = parse_metric(&metric)?;
    let next = date.succ_opt().unwrap_or(date);
    let warehouse = state.warehouse.as_ref();
    let silver = warehouse.team_silver(&team).await?;
    let starts = dorafleet_stages::coverage::coverage_starts(warehouse, &state.config, &team)
        .await
        .map_err(|e| Problem::internal(format!("reading the team's coverage failed: {e}")))?;
    let behind =
        dorafleet_dora::records_behind(&state.config.definitions, &silver, &starts, date, metric);
    let gold = warehouse
        .gold(&GoldFilter {
            teams: vec![team.clone()],
            metrics: vec![metric],
            from: Some(date),
            to: Some(next),
        })
        .await?;
    let gold = match gold.iter().find(|g| g.date == date && g.metric == metric) {
        Some(g) => GoldState {
            state: if g.value == Some(0.0) {
                "verified_zero"
            } else {
                "known"
            },
            value: g.value,
            sample_size: Some(g.sample_size),
            definition_version: Some(g.definition_version),
            run_id: Some(g.run_id),
            computed_at: Some(g.computed_at),
            reason: None,
            held_by_run: None,
        },
        None => {
            let reports = team_reports_with_levels(
                warehouse,
                &state.config,
                std::slice::from_ref(&team),
                date,
                next,
                None,
            )
            .await?;
            let unknown = reports
                .iter()
                .flat_map(|r| &r.days)
                .find(|d| d.date == date)
                .and_then(|d| d.unknown.get(&metric));
            GoldState {
                state: if unknown.is_some_and(|u| u.held_by_run.is_some()) {
                    "held"
                } else {
                    "unknown"
                },
                value: None,
                sample_size: None,
                definition_version: None,
                run_id: None,
                computed_at: None,
                reason: Some(
                    unknown.map_or_else(|| "no gold for this day".to_owned(), |u| u.reason.clone()),
                ),
                held_by_run: unknown.and_then(|u| u.held_by_run),
            }
        }
    };
    let roots = WebRoots::of(&state.config);
    let records = Records {
        team,
        date,
        metric,
        gold,
        deployments: behind
            .deployments
            .into_iter()
            .map(|d| Linked {
                url: roots.deployment(d.source, &d.key, &d.environment),
                record: d,
            })
            .collect(),
        changes: behind
            .changes
            .into_iter()
            .map(|c| ChangeLinked {
                url: roots.pull_request(&c.repo, c.number),
                change: c,
            })
            .collect(),
        incidents: behind
            .incidents
            .into_iter()
            .map(|i| Linked {
                url: roots.issue(&i.key),
                record: i,
            })
            .collect(),
    };
    Ok(json(&records))
}
