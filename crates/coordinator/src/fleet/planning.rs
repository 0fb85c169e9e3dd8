//! Planning a new run: its extract tasks (over a range, or incrementally from
//! each scope's watermark), recorded with the run before any is published,
//! so a coordinator stopped mid-plan finds them on restart.

use super::events::{ActiveRun, pending};
use super::{Coordinator, CoordinatorError};
use crate::dag::RunDag;
use crate::plan::{bounded_window, plan_extract, plan_extract_incremental};
use chrono::Utc;
use dorafleet_core::Window;
use dorafleet_telemetry::trace_context;
use dorafleet_warehouse::{RunRecord, RunStatus, TaskRecord};
use std::collections::HashMap;
use tracing::{Instrument, info, info_span, warn};
use uuid::Uuid;

impl Coordinator {
    pub(super) async fn plan_run(
        &self,
        range: Option<Window>,
    ) -> Result<Option<ActiveRun>, CoordinatorError> {
        // A range run of `Plan::Once` has the coordinator's own id, so
        // leading again never plans it twice (see `lead_inner`).
        let run_id = match self.options.plan {
            super::Plan::Once { .. } => self.once_run,
            _ => Uuid::now_v7(),
        };
        let now = self.config.now();
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
            Some(requested) => {
                let Some(window) = bounded_window(&self.config, requested, now) else {
                    warn!(%requested, now = %now.to_rfc3339(), earliest = %self.config.sync.earliest,
                        "nothing to plan: the range lies after now or before sync.earliest");
                    return Ok(None);
                };
                if window != requested {
                    info!(%requested, planned = %window, "range cut to [sync.earliest, now]: days after now are unknown, never zero");
                }
                (
                    "range",
                    plan_extract(&self.config, run_id, &self.options.sources, |_, _| {
                        Some(window)
                    }),
                )
            }
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
        self.save_run(&record).await?;
        let mut run = ActiveRun {
            dag: RunDag::new(&tasks, self.config.sync.earliest_instant()),
            record,
            tasks: HashMap::new(),
            retries: 0,
            pages: 0,
            records: 0,
            stale: false,
        };
        let mut records: Vec<TaskRecord> = tasks.into_iter().map(pending).collect();
        info!(%run_id, kind, tasks = records.len(), %window, "planned run");
        self.save_tasks(&records).await?;
        let trace = run.record.traceparent.clone();
        self.publish_recorded(&mut records, &|_| trace.clone())
            .await?;
        run.insert_tasks(records);
        Ok(Some(run))
    }
}

#[cfg(test)]
mod tests {
    use crate::fleet::fixtures::{Fleet, day};
    use dorafleet_broker::Route;
    use dorafleet_core::{Config, Source, Stage};
    use dorafleet_warehouse::RunLedger;
    use dorafleet_warehouse::{RunStatus, TaskState};

    fn queue(source: Source) -> String {
        Route {
            stage: Stage::Extract,
            source: Some(source),
        }
        .queue()
    }

    #[tokio::test]
    async fn a_range_run_is_recorded_running_with_every_extract_recorded_and_published() {
        let fleet = Fleet::new(crate::plan::two_repo_team());
        let window = day();

        let run = fleet
            .coordinator
            .plan_run(Some(window))
            .await
            .unwrap()
            .expect("a run was planned");

        let stored = fleet.warehouse.run(run.record.run_id).await.unwrap();
        let stored = stored.expect("the run is recorded");
        assert_eq!(stored.status, RunStatus::Running);
        assert_eq!(stored.kind, "range");
        assert_eq!(stored.window, window);
        let tasks = fleet.warehouse.run_tasks(stored.run_id).await.unwrap();
        assert_eq!(tasks.len(), 3);
        assert!(
            tasks
                .iter()
                .all(|t| t.state == TaskState::Pending && t.published)
        );
        assert_eq!(run.tasks.len(), 3);
        assert!(run.tasks.values().all(|t| t.published));
        assert_eq!(fleet.broker.depth(&queue(Source::Github)), 2);
        assert_eq!(fleet.broker.depth(&queue(Source::Jira)), 1);
    }

    #[tokio::test]
    async fn a_coordinator_leading_again_does_not_plan_its_range_run_that_another_finished() {
        let window = day();
        let fleet = Fleet::with_plan(
            crate::plan::two_repo_team(),
            crate::fleet::Plan::Once {
                range: Some(window),
            },
        );
        let run = fleet.coordinator.plan_run(Some(window)).await.unwrap();
        let mut record = run.expect("a run was planned").record;
        // Another coordinator finished it while this one was paused.
        record.status = RunStatus::Completed;
        fleet.warehouse.save_run(&record).await.unwrap();
        let published = fleet.broker.depth(&queue(Source::Github));

        let mut ended = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            fleet
                .coordinator
                .run(tokio_util::sync::CancellationToken::new(), |o| {
                    ended.push(o.run.run_id)
                }),
        )
        .await
        .expect("it returns: nothing is left to do")
        .unwrap();

        let runs = fleet.warehouse.runs(10).await.unwrap();
        assert_eq!(runs.len(), 1, "the range was not planned again: {runs:#?}");
        assert_eq!(runs[0].status, RunStatus::Completed);
        assert_eq!(fleet.broker.depth(&queue(Source::Github)), published);
        assert!(ended.is_empty());
    }

    #[tokio::test]
    async fn nothing_is_planned_or_recorded_without_a_scope_to_extract() {
        let fleet = Fleet::new(Config::default());

        let run = fleet.coordinator.plan_run(None).await.unwrap();

        assert!(run.is_none());
        assert!(fleet.warehouse.runs(10).await.unwrap().is_empty());
    }
}
