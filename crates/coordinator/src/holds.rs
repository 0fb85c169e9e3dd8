//! The operator's two answers to a held run.
//!
//! **Release** accepts the held data as real (a release freeze, a team
//! offsite): the run's open holds are resolved as released with who and why,
//! gold is written for the released teams at once, and the run is closed.
//! **Rerun** distrusts it: a new run re-extracts the held teams' scopes over
//! the held run's window and goes through the same sensors; if they pass,
//! its aggregate clears the old holds and writes gold, otherwise it is held
//! in turn. The rerun is recorded and published like any run, so a fleet
//! coordinator follows it (or `--standalone` runs it in process).

use chrono::{DateTime, Utc};
use dorafleet_broker::Broker;
use dorafleet_core::{Config, Metric, Source, Window};
use dorafleet_stages::aggregate::team_gold;
use dorafleet_warehouse::{
    Hold, HoldFilter, HoldResolution, HoldStatus, RunRecord, RunStatus, TaskRecord, TaskState,
    Warehouse,
};
use std::collections::BTreeSet;
use tracing::Instrument;
use uuid::Uuid;

/// Why a release or a rerun of a held run was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum HoldActionError {
    /// No run has this id.
    #[error("no run with id {0} (see `dorafleet runs list`)")]
    UnknownRun(Uuid),
    /// The run has no open hold.
    #[error(
        "run {0} has no open holds: nothing to release or rerun (see `dorafleet runs show {0}`)"
    )]
    NothingHeld(Uuid),
    /// A release was asked for without a reason.
    #[error("a reason is required: say why the held data is real (`--reason TEXT`)")]
    NoReason,
    /// Reading or writing the warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] dorafleet_warehouse::WarehouseError),
    /// Publishing the rerun's tasks failed.
    #[error(transparent)]
    Broker(#[from] dorafleet_broker::BrokerError),
    /// Computing the released teams' gold failed.
    #[error("writing gold failed: {0}")]
    Gold(#[from] dorafleet_core::TaskError),
}

async fn held_run(
    warehouse: &dyn Warehouse,
    run_id: Uuid,
) -> Result<(RunRecord, Vec<Hold>), HoldActionError> {
    let run = warehouse
        .run(run_id)
        .await?
        .ok_or(HoldActionError::UnknownRun(run_id))?;
    let holds = warehouse
        .holds(&HoldFilter {
            run_id: Some(run_id),
            status: Some(HoldStatus::Open),
            ..HoldFilter::default()
        })
        .await?;
    if holds.is_empty() {
        return Err(HoldActionError::NothingHeld(run_id));
    }
    Ok((run, holds))
}

/// What a release did.
#[derive(Debug, Clone)]
pub struct Released {
    /// The holds released (those open before).
    pub holds: Vec<Hold>,
    /// Gold records written for the released teams.
    pub gold_records: usize,
    /// The run's record afterwards (completed, or blocked if a task died).
    pub run: RunRecord,
}

/// Release every open hold of `run_id` and write the released teams' gold.
pub async fn release_run(
    warehouse: &dyn Warehouse,
    config: &Config,
    run_id: Uuid,
    actor: &str,
    reason: &str,
) -> Result<Released, HoldActionError> {
    if reason.trim().is_empty() {
        return Err(HoldActionError::NoReason);
    }
    let (mut run, _) = held_run(warehouse, run_id).await?;
    let resolution = HoldResolution {
        at: Utc::now(),
        by: actor.to_owned(),
        reason: reason.trim().to_owned(),
    };
    let holds = warehouse
        .resolve_holds(
            &HoldFilter {
                run_id: Some(run_id),
                ..HoldFilter::default()
            },
            HoldStatus::Released,
            &resolution,
        )
        .await?;
    let teams: BTreeSet<&str> = holds.iter().map(|h| h.team_id.as_str()).collect();
    let mut gold_records = 0;
    for team in teams {
        let gold = team_gold(
            warehouse,
            config,
            team,
            Window {
                from: DateTime::<Utc>::UNIX_EPOCH,
                to: run.window.to,
            },
            &Metric::ALL,
            run_id,
        )
        .await?;
        warehouse.upsert_gold(&gold).await?;
        gold_records += gold.len();
    }
    let tasks = warehouse.run_tasks(run_id).await?;
    if run.status == RunStatus::Held {
        run.status = if tasks.iter().any(|t| t.state == TaskState::Dead) {
            RunStatus::Blocked
        } else {
            RunStatus::Completed
        };
        run.updated_at = Utc::now();
        warehouse.save_run(&run).await?;
    }
    tracing::info!(%run_id, holds = holds.len(), gold_records, actor, reason, "held run released");
    Ok(Released {
        holds,
        gold_records,
        run,
    })
}

/// Record a new run re-extracting the held teams of `run_id` over its window
/// and publish its extract tasks. Returns the new run.
pub async fn rerun_held(
    warehouse: &dyn Warehouse,
    broker: &dyn Broker,
    config: &Config,
    run_id: Uuid,
) -> Result<RunRecord, HoldActionError> {
    let (held, holds) = held_run(warehouse, run_id).await?;
    let teams: BTreeSet<String> = holds.iter().map(|h| h.team_id.clone()).collect();
    let rerun_id = Uuid::now_v7();
    // A new trace, like any run's: its tasks' spans join it.
    let span = tracing::info_span!(parent: None, "run", run_id = %rerun_id, kind = "rerun", held_run = %run_id);
    let traceparent = dorafleet_telemetry::trace_context::traceparent(&span);
    let tasks = crate::plan::plan_extract(config, rerun_id, &Source::ALL, |_, scope| {
        teams.contains(&scope.team).then_some(held.window)
    });
    let now = Utc::now();
    let record = RunRecord {
        run_id: rerun_id,
        kind: "rerun".into(),
        window: held.window,
        status: RunStatus::Running,
        created_at: now,
        updated_at: now,
        traceparent,
    };
    warehouse.save_run(&record).await?;
    let mut records: Vec<TaskRecord> = tasks
        .into_iter()
        .map(|envelope| TaskRecord {
            envelope,
            state: TaskState::Pending,
            published: false,
            worker: None,
            attempts: 0,
            updated_at: now,
        })
        .collect();
    warehouse.save_tasks(&records).await?;
    for r in &mut records {
        let publish = crate::fleet::publish_span(&r.envelope, record.traceparent.as_deref());
        broker.publish(&r.envelope).instrument(publish).await?;
        r.published = true;
    }
    warehouse.save_tasks(&records).await?;
    tracing::info!(held_run = %run_id, %rerun_id, tasks = records.len(), teams = ?teams, "rerun of a held run published");
    Ok(record)
}
