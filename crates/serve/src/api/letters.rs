//! Dead letters: counts by stage, source, class and status with recent
//! runs' rates, and a replay by filter (token required, audited), on the
//! fleet's RabbitMQ.

use super::{body, json, parse_uuid, query};
use crate::AppState;
use crate::auth::require_operator;
use crate::error::Problem;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use dorafleet_core::{ErrorClass, Source, Stage};
use dorafleet_operations::letters;
use dorafleet_operations::{Execution, LetterFilter, LetterStatus, TaskState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Serialize)]
struct Group {
    source: Option<Source>,
    error_class: ErrorClass,
    status: LetterStatus,
    count: usize,
}

#[derive(Debug, Serialize)]
struct RunRate {
    run_id: uuid::Uuid,
    status: dorafleet_operations::RunStatus,
    created_at: DateTime<Utc>,
    tasks: usize,
    dead: usize,
    dead_rate: f64,
}

#[derive(Debug, Serialize)]
struct Stats {
    total: usize,
    by_status: BTreeMap<String, usize>,
    by_stage: BTreeMap<String, usize>,
    by_source: BTreeMap<String, usize>,
    by_error_class: BTreeMap<String, usize>,
    by_source_and_class: Vec<Group>,
    oldest_failure: Option<DateTime<Utc>>,
    newest_failure: Option<DateTime<Utc>>,
    recent_runs: Vec<RunRate>,
}

/// `GET /api/v1/dead-letters/stats?runs=N`.
pub(crate) async fn stats(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = query(raw.as_deref(), &["runs"])?;
    let runs = match q.get("runs") {
        None => 10,
        Some(r) => r
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                Problem::bad_request(format!(
                    "`runs` is `{r}`: expected a whole number from 1 to 100"
                ))
            })?,
    };
    let s = letters::stats(state.warehouse.as_ref(), runs).await?;
    let none = || "none".to_owned();
    let mut out = Stats {
        total: s.letters.len(),
        by_status: BTreeMap::new(),
        by_stage: BTreeMap::new(),
        by_source: BTreeMap::new(),
        by_error_class: BTreeMap::new(),
        by_source_and_class: Vec::new(),
        oldest_failure: s.letters.iter().map(|a| a.letter.last_failed_at).min(),
        newest_failure: s.letters.iter().map(|a| a.letter.last_failed_at).max(),
        recent_runs: Vec::new(),
    };
    let mut groups: BTreeMap<(Option<Source>, String, LetterStatus), (ErrorClass, usize)> =
        BTreeMap::new();
    for a in &s.letters {
        let l = &a.letter;
        *out.by_status.entry(a.status.to_string()).or_default() += 1;
        *out.by_stage
            .entry(l.stage.map_or_else(none, |s| s.to_string()))
            .or_default() += 1;
        *out.by_source
            .entry(l.source.map_or_else(none, |s| s.to_string()))
            .or_default() += 1;
        *out.by_error_class
            .entry(l.error_class.to_string())
            .or_default() += 1;
        groups
            .entry((l.source, l.error_class.to_string(), a.status))
            .or_insert((l.error_class, 0))
            .1 += 1;
    }
    out.by_source_and_class = groups
        .into_iter()
        .map(|((source, _, status), (error_class, count))| Group {
            source,
            error_class,
            status,
            count,
        })
        .collect();
    out.recent_runs = s
        .recent_runs
        .iter()
        .map(|(run, tasks)| {
            let dead = tasks.iter().filter(|t| t.state == TaskState::Dead).count();
            RunRate {
                run_id: run.run_id,
                status: run.status,
                created_at: run.created_at,
                tasks: tasks.len(),
                dead,
                dead_rate: if tasks.is_empty() {
                    0.0
                } else {
                    dead as f64 / tasks.len() as f64
                },
            }
        })
        .collect();
    Ok(json(&out))
}

/// The body of a replay: which letters (at least one criterion), like
/// `dorafleet dlq replay`'s ids and `--filter` pairs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    #[serde(default)]
    ids: Vec<String>,
    stage: Option<String>,
    source: Option<String>,
    team: Option<String>,
    error_class: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    run: Option<String>,
    /// Show what would be replayed; change nothing.
    #[serde(default)]
    dry_run: bool,
}

const REPLAY_EXAMPLE: &str = r#"{"source": "jira", "error_class": "transient"}"#;

fn parse_time(name: &str, text: &str) -> Result<DateTime<Utc>, Problem> {
    if let Ok(day) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Ok(day.and_time(NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Problem::bad_request(format!(
                "`{name}` is `{text}`: expected a day (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
}

impl ReplayBody {
    fn filter(&self) -> Result<LetterFilter, Problem> {
        let bad = |key: &str, e: String| Problem::bad_request(format!("`{key}`: {e}"));
        // A key that is given must say something: an empty value is a
        // mistake (a form left blank), not "any".
        let given = |key: &str, v: &Option<String>| -> Result<Option<String>, Problem> {
            match v.as_deref().map(str::trim) {
                None => Ok(None),
                Some("") => Err(bad(key, "empty: leave it out or give a value".into())),
                Some(v) => Ok(Some(v.to_owned())),
            }
        };
        let mut f = LetterFilter::default();
        for id in &self.ids {
            f.ids.push(parse_uuid("dead-letter", id)?);
        }
        if let Some(v) = given("stage", &self.stage)? {
            f.stage = Some(
                v.parse::<Stage>()
                    .map_err(|e| bad("stage", e.to_string()))?,
            );
        }
        if let Some(v) = given("source", &self.source)? {
            f.source = Some(
                v.parse::<Source>()
                    .map_err(|e| bad("source", e.to_string()))?,
            );
        }
        f.team = given("team", &self.team)?;
        if let Some(v) = given("error_class", &self.error_class)? {
            f.error_class = Some(match v.to_lowercase().replace('-', "_").as_str() {
                "transient" => ErrorClass::Transient,
                "rate_limited" => ErrorClass::RateLimited,
                "permanent" => ErrorClass::Permanent,
                other => {
                    return Err(bad(
                        "error_class",
                        format!(
                            "unknown class `{other}`; expected transient, rate_limited or permanent"
                        ),
                    ));
                }
            });
        }
        if let Some(v) = given("status", &self.status)? {
            f.status = Some(v.parse::<LetterStatus>().map_err(|e| bad("status", e))?);
        }
        if let Some(v) = given("since", &self.since)? {
            f.since = Some(parse_time("since", &v)?);
        }
        if let Some(v) = given("until", &self.until)? {
            f.until = Some(parse_time("until", &v)?);
        }
        if let Some(v) = given("run", &self.run)? {
            f.run_id = Some(parse_uuid("run", &v)?);
        }
        if f.is_empty() {
            return Err(Problem::bad_request(format!(
                "nothing selected: give ids or at least one of stage, source, team, error_class, \
                 status, since, until, run (refusing to replay every letter), e.g. {REPLAY_EXAMPLE}"
            )));
        }
        Ok(f)
    }
}

#[derive(Debug, Serialize)]
struct Planned {
    id: uuid::Uuid,
    route: String,
    scope: String,
    queue: String,
    max_attempts: u32,
}

#[derive(Debug, Serialize)]
struct Skipped {
    id: uuid::Uuid,
    reason: String,
}

#[derive(Debug, Serialize)]
struct ReplayAnswer {
    dry_run: bool,
    selected: usize,
    planned: Vec<Planned>,
    replayed: Vec<uuid::Uuid>,
    skipped: Vec<Skipped>,
    already_done: usize,
}

/// `POST /api/v1/dead-letters/replay`: republish the selected letters'
/// tasks to their stage on the fleet's RabbitMQ with a fresh attempt
/// budget (claimed, confirmed, audited as `serve`). 503 when RabbitMQ does
/// not answer.
pub(crate) async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, Problem> {
    query(raw.as_deref(), &[])?;
    let actor = require_operator(&state, &headers)?;
    let request: ReplayBody = body(&bytes, REPLAY_EXAMPLE)?;
    let filter = request.filter()?;
    let selected = letters::select(state.warehouse.as_ref(), &filter).await?;
    let count = selected.len();
    let plan = letters::plan_replay(selected);
    let mut answer = ReplayAnswer {
        dry_run: request.dry_run,
        selected: count,
        planned: plan
            .replay
            .iter()
            .map(|p| Planned {
                id: p.letter.letter.id,
                route: p.route.clone(),
                scope: p.scope.clone(),
                queue: p.queue.clone(),
                max_attempts: p.max_attempts,
            })
            .collect(),
        replayed: Vec::new(),
        skipped: plan
            .skipped
            .iter()
            .map(|(id, reason)| Skipped {
                id: *id,
                reason: reason.clone(),
            })
            .collect(),
        already_done: plan.already_done,
    };
    if request.dry_run || plan.replay.is_empty() {
        return Ok(json(&answer));
    }
    let outcome = letters::replay(
        &state.config,
        state.warehouse.clone(),
        &plan,
        &Execution::Fleet,
        actor,
        Duration::from_secs(60),
        |_, _| {},
    )
    .await?;
    tracing::info!(
        replayed = outcome.report.replayed.len(),
        actor,
        "dead letters replayed through the API"
    );
    answer.replayed = outcome.report.replayed;
    answer.skipped.extend(
        outcome
            .report
            .skipped
            .into_iter()
            .map(|(id, reason)| Skipped { id, reason }),
    );
    Ok(json(&answer))
}
