//! Each source's freshness, and the fleet at a glance: RabbitMQ's queue
//! depths (when it answers), recent runs, open holds, dead letters.

use super::{json, query};
use crate::AppState;
use crate::error::Problem;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use dorafleet_broker::{DEAD_LETTER_QUEUE, EVENTS_QUEUE, RabbitBroker, Route};
use dorafleet_core::{Source, Stage};
use dorafleet_operations::metrics::{self, Freshness};
use dorafleet_operations::{HoldStatus, LetterFilter, LetterStatus};
use dorafleet_warehouse::HoldFilter;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long the fleet view waits for RabbitMQ to answer.
const BROKER_PATIENCE: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize)]
struct Stalest {
    scope: String,
    at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct SourceFreshness {
    source: Source,
    newest: Option<DateTime<Utc>>,
    age_hours: Option<f64>,
    stalest: Option<Stalest>,
    never: Vec<String>,
}

fn freshness_json(f: Freshness, now: DateTime<Utc>) -> SourceFreshness {
    SourceFreshness {
        source: f.source,
        newest: f.newest,
        age_hours: f.newest.map(|n| (now - n).num_seconds() as f64 / 3600.0),
        stalest: f.stalest.map(|(scope, at)| Stalest { scope, at }),
        never: f.never,
    }
}

async fn sources(state: &AppState) -> Result<Vec<SourceFreshness>, Problem> {
    let now = state.config.now();
    Ok(metrics::freshness(state.warehouse.as_ref(), &state.config)
        .await?
        .into_iter()
        .map(|f| freshness_json(f, now))
        .collect())
}

/// `GET /api/v1/freshness`: per source with configured scopes, the newest
/// extracted record, the scope furthest behind, the scopes never extracted.
pub(crate) async fn freshness(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    query(raw.as_deref(), &[])?;
    Ok(json(
        &serde_json::json!({ "sources": sources(&state).await? }),
    ))
}

#[derive(Debug, Serialize)]
struct QueueDepth {
    queue: String,
    depth: u32,
}

#[derive(Debug, Serialize)]
struct BrokerView {
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    queues: Vec<QueueDepth>,
}

/// The queue depths, through a connection opened for the request (the
/// fleet view is not a hot path) and closed after.
async fn broker_view(state: &AppState) -> BrokerView {
    let connect = dorafleet_operations::connect::broker(&state.config, Some(1));
    let broker = match tokio::time::timeout(BROKER_PATIENCE, connect).await {
        Ok(Ok(broker)) => broker,
        Ok(Err((e, url))) => return unreachable(format!("RabbitMQ at {url}: {e}")),
        Err(_) => {
            return unreachable(format!(
                "RabbitMQ did not answer within {}s (see broker.url)",
                BROKER_PATIENCE.as_secs()
            ));
        }
    };
    let view = match depths(&broker).await {
        Ok(queues) => BrokerView {
            reachable: true,
            error: None,
            queues,
        },
        Err(e) => unreachable(e),
    };
    let _ = dorafleet_broker::Broker::close(&broker).await;
    view
}

async fn depths(broker: &RabbitBroker) -> Result<Vec<QueueDepth>, String> {
    let mut queues: Vec<String> = Route::all(&Stage::ALL, &Source::ALL)
        .iter()
        .map(Route::queue)
        .collect();
    queues.extend([DEAD_LETTER_QUEUE.to_owned(), EVENTS_QUEUE.to_owned()]);
    let mut out = Vec::with_capacity(queues.len());
    for queue in queues {
        let depth = tokio::time::timeout(BROKER_PATIENCE, broker.queue_depth(&queue))
            .await
            .map_err(|_| format!("RabbitMQ did not tell the depth of {queue} in time"))?
            .map_err(|e| format!("reading the depth of {queue}: {e}"))?;
        out.push(QueueDepth { queue, depth });
    }
    Ok(out)
}

fn unreachable(error: String) -> BrokerView {
    BrokerView {
        reachable: false,
        error: Some(dorafleet_core::secret::scrub_owned(error)),
        queues: Vec::new(),
    }
}

/// `GET /api/v1/fleet`: queue depths (when RabbitMQ answers), the recent
/// runs by status, open holds, dead letters waiting, and freshness.
pub(crate) async fn fleet(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    query(raw.as_deref(), &[])?;
    let warehouse = state.warehouse.as_ref();
    let runs = warehouse.runs(20).await?;
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for r in &runs {
        *by_status.entry(r.status.to_string()).or_default() += 1;
    }
    let open_holds = warehouse
        .holds(&HoldFilter {
            status: Some(HoldStatus::Open),
            ..HoldFilter::default()
        })
        .await?
        .len();
    let dead_letters = warehouse
        .archived_letters(&LetterFilter {
            status: Some(LetterStatus::Dead),
            ..LetterFilter::default()
        })
        .await?
        .len();
    let broker = broker_view(&state).await;
    Ok(json(&serde_json::json!({
        "broker": broker,
        "runs": {
            "recent": runs.len(),
            "by_status": by_status,
            "latest": runs.first(),
        },
        "open_holds": open_holds,
        "dead_letters_waiting": dead_letters,
        "freshness": sources(&state).await?,
    })))
}
