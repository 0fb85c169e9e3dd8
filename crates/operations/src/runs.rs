//! Runs as an operator sees them — each stage's tasks, each team's gate,
//! the sensors' holds, the records written per layer, the dead letters —
//! and the two answers to a held run: release it (the data is real) or
//! rerun it (re-extract and let the sensors judge again).

use crate::OperationError;
use crate::execution::{Dispatch, Execution};
use dorafleet_coordinator::{Released, release_run, rerun_held};
use dorafleet_core::{Config, Definitions, Metric, Source, Stage};
use dorafleet_standalone::RunSummary;
use dorafleet_warehouse::{
    ArchivedLetter, Hold, HoldFilter, HoldStatus, NormalizeCounts, RunRecord, TaskRecord,
    TaskState, Warehouse,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// One run with its tasks' progress.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// The run as recorded.
    pub run: RunRecord,
    /// Its tasks that are done.
    pub done: usize,
    /// All its tasks.
    pub tasks: usize,
}

/// The most recent runs, newest first.
pub async fn list(warehouse: &dyn Warehouse, limit: usize) -> Result<Vec<RunRow>, OperationError> {
    let mut rows = Vec::new();
    for run in warehouse.runs(limit).await? {
        let tasks = warehouse.run_tasks(run.run_id).await?;
        let done = tasks.iter().filter(|t| t.state == TaskState::Done).count();
        rows.push(RunRow {
            run,
            done,
            tasks: tasks.len(),
        });
    }
    Ok(rows)
}

/// Tasks of one stage (or one team's stage) by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// All the tasks counted.
    pub total: usize,
    /// Finished successfully.
    pub done: usize,
    /// Dead-lettered.
    pub dead: usize,
    /// Failed, with another attempt scheduled.
    pub retrying: usize,
    /// Planned or under way, with no failed attempt reported.
    pub pending: usize,
}

impl Tally {
    fn of<'a>(tasks: impl IntoIterator<Item = &'a TaskRecord>) -> Self {
        let mut t = Tally::default();
        for task in tasks {
            t.total += 1;
            match task.state {
                TaskState::Done => t.done += 1,
                TaskState::Dead => t.dead += 1,
                TaskState::Retrying => t.retrying += 1,
                TaskState::Pending => t.pending += 1,
            }
        }
        t
    }
}

/// Where a team's gold (or one metric of it) stands in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// A task was dead-lettered: no gold from this run for the metrics
    /// reading its source.
    Closed,
    /// A sensor kept days out of gold until released or rerun.
    Held,
    /// Gold written.
    Passed,
    /// Not every scope is normalized yet.
    Waiting,
    /// Aggregation is under way.
    Aggregating,
}

/// One team's stages and gate in a run.
#[derive(Debug, Clone)]
pub struct TeamGate {
    /// The team's id.
    pub team: String,
    /// Its extract tasks by state.
    pub extract: Tally,
    /// Its normalize tasks by state.
    pub normalize: Tally,
    /// Its aggregate tasks by state.
    pub aggregate: Tally,
    /// Where its gold stands as a whole: closed or held when any metric is.
    pub gate: Gate,
    /// Where each metric's gold stands, in [`Metric::ALL`] order.
    pub metrics: Vec<MetricGate>,
}

/// One metric's gate for one team in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricGate {
    /// The metric.
    pub metric: Metric,
    /// Where its gold stands.
    pub gate: Gate,
    /// The input scopes (`source:target`) that close or hold it.
    pub because_of: Vec<String>,
}

/// Everything `runs show` tells about one run.
#[derive(Debug, Clone)]
pub struct RunDetail {
    /// The run as recorded.
    pub run: RunRecord,
    /// Every stage's tasks by state, in stage order.
    pub stages: Vec<(Stage, Tally)>,
    /// Each team's stages and gate, by team id.
    pub teams: Vec<TeamGate>,
    /// The sensors' holds on the run, whatever their status.
    pub holds: Vec<Hold>,
    /// Bronze pages and records per source written by the run.
    pub bronze: Vec<(Source, u64, u64)>,
    /// What the run's normalize tasks read and left out, summed.
    pub silver: NormalizeCounts,
    /// What the run's extract tasks rejected and met (done or dead), summed.
    pub extracted: dorafleet_coordinator::RecordQuality,
    /// Items the run's crawls found deleted after they were listed.
    pub gone: u64,
    /// Gold records written by the run.
    pub gold_records: usize,
    /// The run's dead letters.
    pub letters: Vec<ArchivedLetter>,
}

/// Everything about run `run_id`: tasks per stage and team, gates, holds,
/// records per layer, dead letters.
pub async fn detail(
    warehouse: &dyn Warehouse,
    definitions: &Definitions,
    run_id: Uuid,
) -> Result<RunDetail, OperationError> {
    let run = warehouse
        .run(run_id)
        .await?
        .ok_or(OperationError::NoSuchRun(run_id))?;
    let tasks = warehouse.run_tasks(run_id).await?;
    let holds = warehouse
        .holds(&HoldFilter {
            run_id: Some(run_id),
            ..HoldFilter::default()
        })
        .await?;
    let stages = Stage::ALL
        .into_iter()
        .map(|s| (s, Tally::of(tasks.iter().filter(|t| t.envelope.stage == s))))
        .collect();
    let teams = team_gates(&tasks, &holds, definitions);
    let written = dorafleet_coordinator::run_records(warehouse, run_id).await?;
    let bronze = written
        .bronze
        .iter()
        .map(|b| (b.source, b.pages, b.records))
        .collect();
    let (silver, gold_records, letters) = (written.silver, written.gold_records, written.letters);
    Ok(RunDetail {
        run,
        stages,
        teams,
        holds,
        bronze,
        silver,
        extracted: written.extracted,
        gone: written.gone,
        gold_records,
        letters,
    })
}

fn team_gates(tasks: &[TaskRecord], holds: &[Hold], definitions: &Definitions) -> Vec<TeamGate> {
    let mut by_team: BTreeMap<&str, Vec<&TaskRecord>> = BTreeMap::new();
    for t in tasks {
        by_team
            .entry(t.envelope.scope.team.as_str())
            .or_default()
            .push(t);
    }
    by_team
        .into_iter()
        .map(|(team, ts)| {
            let of = |s: Stage| Tally::of(ts.iter().copied().filter(|t| t.envelope.stage == s));
            let (extract, normalize, aggregate) = (
                of(Stage::Extract),
                of(Stage::Normalize),
                of(Stage::Aggregate),
            );
            let progress = if aggregate.done > 0 {
                Gate::Passed
            } else if aggregate.total == 0 {
                Gate::Waiting
            } else {
                Gate::Aggregating
            };
            let gate = if ts.iter().any(|t| t.state == TaskState::Dead) {
                Gate::Closed
            } else if holds
                .iter()
                .any(|h| h.team_id == team && h.status == HoldStatus::Open)
            {
                Gate::Held
            } else {
                progress
            };
            let metrics = Metric::ALL
                .into_iter()
                .map(|metric| metric_gate(metric, team, &ts, holds, definitions, progress))
                .collect();
            TeamGate {
                team: team.to_owned(),
                extract,
                normalize,
                aggregate,
                gate,
                metrics,
            }
        })
        .collect()
}

/// One metric's gate: closed by a dead task of a source it reads, held by an
/// open hold on such a source (or on the whole team), else where the team's
/// aggregation stands (`progress`).
fn metric_gate(
    metric: Metric,
    team: &str,
    tasks: &[&TaskRecord],
    holds: &[Hold],
    definitions: &Definitions,
    progress: Gate,
) -> MetricGate {
    let inputs = definitions.inputs(metric);
    let scope_of = |t: &TaskRecord| {
        format!(
            "{}:{}",
            t.envelope.source.map_or("-", |s| s.as_str()),
            t.envelope.scope.target.as_deref().unwrap_or("-")
        )
    };
    let mut dead: Vec<String> = tasks
        .iter()
        .filter(|t| t.state == TaskState::Dead)
        .filter(|t| t.envelope.source.is_some_and(|s| inputs.contains(&s)))
        .map(|t| scope_of(t))
        .collect();
    dead.dedup();
    if !dead.is_empty() {
        return MetricGate {
            metric,
            gate: Gate::Closed,
            because_of: dead,
        };
    }
    let held: Vec<String> = holds
        .iter()
        .filter(|h| h.team_id == team && h.status == HoldStatus::Open)
        .filter(|h| h.source().is_none_or(|s| inputs.contains(&s)))
        .map(|h| {
            h.scope
                .clone()
                .unwrap_or_else(|| "the team's inputs".into())
        })
        .collect();
    if !held.is_empty() {
        return MetricGate {
            metric,
            gate: Gate::Held,
            because_of: held,
        };
    }
    MetricGate {
        metric,
        gate: progress,
        because_of: Vec::new(),
    }
}

/// Accept a held run's data as real: release its holds (audited), write
/// the held teams' gold, close the run.
pub async fn release(
    warehouse: &dyn Warehouse,
    config: &Config,
    run_id: Uuid,
    actor: &str,
    reason: &str,
) -> Result<Released, OperationError> {
    Ok(release_run(warehouse, config, run_id, actor, reason).await?)
}

/// What a rerun started, and (in process) the runs it finished.
#[derive(Debug, Clone)]
pub struct RerunOutcome {
    /// The new run started.
    pub rerun: RunRecord,
    /// The runs finished in this process (empty on the fleet).
    pub runs: Vec<RunSummary>,
}

/// Re-extract a held run's teams over its window in a new run, on the fleet
/// or in this process.
pub async fn rerun(
    warehouse: Arc<dyn Warehouse>,
    config: &Config,
    run_id: Uuid,
    execution: &Execution,
) -> Result<RerunOutcome, OperationError> {
    let dispatch = Dispatch::open(config, execution).await?;
    let rerun = rerun_held(warehouse.as_ref(), dispatch.broker.as_ref(), config, run_id).await?;
    let runs = dispatch.finish(config, warehouse, true).await?;
    Ok(RerunOutcome { rerun, runs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dorafleet_core::{Scope, TaskEnvelope, Window};

    fn task(team: &str, stage: Stage, state: TaskState) -> TaskRecord {
        let window = Window {
            from: chrono::Utc::now() - chrono::Duration::days(1),
            to: chrono::Utc::now(),
        };
        let scope = Scope {
            team: team.into(),
            target: None,
        };
        let envelope = TaskEnvelope::new(Uuid::now_v7(), stage, None, scope, window, 3);
        TaskRecord {
            envelope,
            state,
            published: true,
            worker: None,
            attempts: 1,
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_dead_task_closes_its_team_gate_and_finished_aggregation_passes_the_others() {
        let tasks = vec![
            task("pay", Stage::Extract, TaskState::Dead),
            task("web", Stage::Extract, TaskState::Done),
            task("web", Stage::Normalize, TaskState::Done),
            task("web", Stage::Aggregate, TaskState::Done),
            task("ops", Stage::Extract, TaskState::Done),
        ];
        let gates = team_gates(&tasks, &[], &Definitions::default());
        let gate = |t: &str| gates.iter().find(|g| g.team == t).unwrap().gate;
        assert_eq!(gate("pay"), Gate::Closed);
        assert_eq!(gate("web"), Gate::Passed);
        assert_eq!(gate("ops"), Gate::Waiting);
        let web = gates.iter().find(|g| g.team == "web").unwrap();
        assert_eq!((web.extract.done, web.aggregate.total), (1, 1));
    }
}
