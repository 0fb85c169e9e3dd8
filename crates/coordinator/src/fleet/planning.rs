//! Planning a new run: its extract tasks (over a range, or incrementally from
//! each scope's watermark), recorded with the run before any is published,
//! so a coordinator stopped mid-plan finds them on restart.

use super::events::{ActiveRun, pending};
use super::{Coordinator, CoordinatorError};
use crate::dag::RunDag;
use crate::plan::{plan_extract, plan_extract_incremental};
use chrono::Utc;
use dorafleet_core::Window;
use dorafleet_telemetry::trace_context;
use dorafleet_warehouse::{RunRecord, RunStatus, TaskRecord};
use std::collections::HashMap;
use tracing::{Instrument, info, info_span};
use uuid::Uuid;

impl Coordinator {
    pub(super) async fn plan_run(
        &self,
        range: Option<Window>,
    ) -> Result<Option<ActiveRun>, CoordinatorError> {
        let run_id = Uuid::now_v7();
        let now = Utc::now();
        // The root of the run's trace. Its context is recorded with the run,
        // so tasks published later (or by a restarted coordinator) join it.
        let span = info_span!(parent: None, "run", run_id = %run_id, kind = range.map_or("incremental", |_| "range"));
        let traceparent = trace_context::traceparent(&span);
        self.plan_run_in(run_id, now, range, traceparent)
            .instrument(span)
            .await
    }

    async fn plan_run_in(
        &self,
        run_id: Uuid,
        now: chrono::DateTime<Utc>,
        range: Option<Window>,
        traceparent: Option<String>,
    ) -> Result<Option<ActiveRun>, CoordinatorError> {
        let (kind, tasks) = match range {
            Some(window) => (
                "range",
                plan_extract(&self.config, run_id, &self.options.sources, |_, _| {
                    Some(window)
                }),
            ),
            None => (
                "incremental",
                plan_extract_incremental(
                    &self.config,
                    self.warehouse.as_ref(),
                    run_id,
                    &self.options.sources,
                    now,
                )
                .await?,
            ),
        };
        let Some(first) = tasks.first() else {
            info!("nothing to plan: every scope is synced up to now");
            return Ok(None);
        };
        let window = Window {
            from: tasks
                .iter()
                .map(|t| t.window.from)
                .min()
                .unwrap_or(first.window.from),
            to: first.window.to,
        };
        let record = RunRecord {
            run_id,
            kind: kind.into(),
            window,
            status: RunStatus::Running,
            created_at: now,
            updated_at: now,
            traceparent,
        };
        self.warehouse.save_run(&record).await?;
        let mut run = ActiveRun {
            dag: RunDag::new(&tasks),
            record,
            tasks: HashMap::new(),
            retries: 0,
            pages: 0,
            records: 0,
            stale: false,
        };
        let mut records: Vec<TaskRecord> = tasks.into_iter().map(pending).collect();
        info!(%run_id, kind, tasks = records.len(), %window, "planned run");
        self.warehouse.save_tasks(&records).await?;
        let trace = run.record.traceparent.clone();
        self.publish_recorded(&mut records, &|_| trace.clone())
            .await?;
        run.insert_tasks(records);
        Ok(Some(run))
    }
}
