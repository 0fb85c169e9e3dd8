//! Runs, and the sensors' holds with the operator's answer to one: release
//! (token required, audited).

use super::{body, json, parse_uuid, query};
use crate::AppState;
use crate::auth::require_operator;
use crate::error::Problem;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use dorafleet_core::{Metric, Source, Stage};
use dorafleet_operations::runs::{self, Gate, Tally};
use dorafleet_operations::{Hold, HoldStatus, RunRecord};
use dorafleet_warehouse::HoldFilter;
use serde::{Deserialize, Serialize};

/// Runs listed when `limit` is not given, and the most one request lists.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 500;

#[derive(Debug, Serialize)]
struct RunRow {
    #[serde(flatten)]
    run: RunRecord,
    tasks_done: usize,
    tasks_total: usize,
}

/// `GET /api/v1/runs?limit=N`: the most recent runs, newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = query(raw.as_deref(), &["limit"])?;
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Problem::bad_request(format!(
                    "`limit` is `{l}`: expected a whole number from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    let rows: Vec<RunRow> = runs::list(state.warehouse.as_ref(), limit)
        .await?
        .into_iter()
        .map(|r| RunRow {
            run: r.run,
            tasks_done: r.done,
            tasks_total: r.tasks,
        })
        .collect();
    Ok(json(&serde_json::json!({ "runs": rows })))
}

#[derive(Debug, Serialize)]
struct TallyJson {
    total: usize,
    done: usize,
    dead: usize,
    retrying: usize,
    pending: usize,
}

impl From<Tally> for TallyJson {
    fn from(t: Tally) -> Self {
        TallyJson {
            total: t.total,
            done: t.done,
            dead: t.dead,
            retrying: t.retrying,
            pending: t.pending,
        }
    }
}

fn gate(g: Gate) -> &'static str {
    match g {
        Gate::Closed => "closed",
        Gate::Held => "held",
        Gate::Passed => "passed",
        Gate::Waiting => "waiting",
        Gate::Aggregating => "aggregating",
    }
}

#[derive(Debug, Serialize)]
struct StageJson {
    stage: Stage,
    #[serde(flatten)]
    tasks: TallyJson,
}

#[derive(Debug, Serialize)]
struct MetricGateJson {
    metric: Metric,
    gate: &'static str,
    because_of: Vec<String>,
}

#[derive(Debug, Serialize)]
struct TeamGateJson {
    team: String,
    gate: &'static str,
    extract: TallyJson,
    normalize: TallyJson,
    aggregate: TallyJson,
    metrics: Vec<MetricGateJson>,
}

#[derive(Debug, Serialize)]
struct BronzeJson {
    source: Source,
    pages: u64,
    records: u64,
}

#[derive(Debug, Serialize)]
struct LetterJson {
    id: uuid::Uuid,
    status: dorafleet_operations::LetterStatus,
    stage: Option<Stage>,
    source: Option<Source>,
    scope: Option<String>,
    error_class: dorafleet_core::ErrorClass,
    reason: String,
    last_failed_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize)]
struct ExtractedJson {
    records_seen: u64,
    records_rejected: u64,
    sample: Vec<String>,
    unknown_fields: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
struct RunDetailJson {
    run: RunRecord,
    stages: Vec<StageJson>,
    teams: Vec<TeamGateJson>,
    holds: Vec<Hold>,
    bronze: Vec<BronzeJson>,
    silver: dorafleet_operations::NormalizeCounts,
    extracted: ExtractedJson,
    gone: u64,
    gold_records: usize,
    dead_letters: Vec<LetterJson>,
}

/// `GET /api/v1/runs/{id}`: tasks per stage and team, gates, holds, records
/// per layer, dead letters.
pub(crate) async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    query(raw.as_deref(), &[])?;
    let id = parse_uuid("run", &id)?;
    let d = runs::detail(state.warehouse.as_ref(), &state.config.definitions, id).await?;
    let tally = TallyJson::from;
    let detail = RunDetailJson {
        run: d.run,
        stages: d
            .stages
            .into_iter()
            .map(|(stage, t)| StageJson {
                stage,
                tasks: tally(t),
            })
            .collect(),
        teams: d
            .teams
            .into_iter()
            .map(|t| TeamGateJson {
                team: t.team,
                gate: gate(t.gate),
                extract: tally(t.extract),
                normalize: tally(t.normalize),
                aggregate: tally(t.aggregate),
                metrics: t
                    .metrics
                    .into_iter()
                    .map(|m| MetricGateJson {
                        metric: m.metric,
                        gate: gate(m.gate),
                        because_of: m.because_of,
                    })
                    .collect(),
            })
            .collect(),
        holds: d.holds,
        bronze: d
            .bronze
            .into_iter()
            .map(|(source, pages, records)| BronzeJson {
                source,
                pages,
                records,
            })
            .collect(),
        silver: d.silver,
        extracted: ExtractedJson {
            records_seen: d.extracted.records_seen,
            records_rejected: d.extracted.records_rejected,
            sample: d.extracted.sample,
            unknown_fields: d.extracted.unknown_fields,
        },
        gone: d.gone,
        gold_records: d.gold_records,
        dead_letters: d.letters.into_iter().map(letter_json).collect(),
    };
    Ok(json(&detail))
}

fn letter_json(a: dorafleet_operations::ArchivedLetter) -> LetterJson {
    LetterJson {
        id: a.letter.id,
        status: a.status,
        stage: a.letter.stage,
        source: a.letter.source,
        scope: a.letter.scope.as_ref().map(ToString::to_string),
        error_class: a.letter.error_class,
        reason: a.letter.reason,
        last_failed_at: a.letter.last_failed_at,
    }
}

/// `GET /api/v1/holds?status=open|released|cleared|all` (default open).
pub(crate) async fn holds(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = query(raw.as_deref(), &["status"])?;
    let status = match q.get("status").map(|s| s.trim().to_lowercase()).as_deref() {
        None | Some("open") => Some(HoldStatus::Open),
        Some("released") => Some(HoldStatus::Released),
        Some("cleared") => Some(HoldStatus::Cleared),
        Some("all") => None,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "`status` is `{other}`: expected open, released, cleared or all"
            )));
        }
    };
    let holds = state
        .warehouse
        .holds(&HoldFilter {
            status,
            ..HoldFilter::default()
        })
        .await?;
    Ok(json(&serde_json::json!({ "holds": holds })))
}

/// The body of a release.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    reason: String,
}

/// `POST /api/v1/holds/{id}/release` with `{"reason": "..."}`: accept the
/// held data as real. A hold is released with the other open holds of its
/// run (the run's gold is written at once), as `dorafleet runs release`
/// does; audited as `serve` with the reason. Answers the updated hold.
pub(crate) async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, Problem> {
    query(raw.as_deref(), &[])?;
    let actor = require_operator(&state, &headers)?;
    let id = parse_uuid("hold", &id)?;
    let request: ReleaseBody = body(
        &bytes,
        r#"{"reason": "a release freeze week: the quiet days are real"}"#,
    )?;
    if request.reason.trim().is_empty() {
        return Err(Problem::bad_request(
            "`reason` is empty: say why the held data is real (it is kept in the audit trail)",
        ));
    }
    let find = |holds: Vec<Hold>| holds.into_iter().find(|h| h.hold_id == id);
    let all = state.warehouse.holds(&HoldFilter::default()).await?;
    let hold = find(all).ok_or_else(|| {
        Problem::not_found(format!(
            "no hold with id {id} (see GET /api/v1/holds?status=all)"
        ))
    })?;
    if hold.status != HoldStatus::Open {
        return Err(Problem::conflict(format!(
            "hold {id} is already {}{}: nothing to release",
            hold.status.as_str(),
            hold.resolution
                .as_ref()
                .map(|r| format!(" (by {} at {}: {})", r.by, r.at, r.reason))
                .unwrap_or_default()
        )));
    }
    let released = runs::release(
        state.warehouse.as_ref(),
        &state.config,
        hold.run_id,
        actor,
        request.reason.trim(),
    )
    .await?;
    tracing::info!(hold = %id, run = %hold.run_id, actor, "hold released through the API");
    let updated = state
        .warehouse
        .holds(&HoldFilter {
            run_id: Some(hold.run_id),
            ..HoldFilter::default()
        })
        .await?
        .into_iter()
        .find(|h| h.hold_id == id)
        .ok_or_else(|| Problem::internal(format!("hold {id} vanished while it was released")))?;
    Ok(json(&serde_json::json!({
        "hold": updated,
        "run": released.run,
        "released_holds": released.holds.len(),
        "gold_records": released.gold_records,
    })))
}
