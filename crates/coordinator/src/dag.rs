//! The run's DAG and its gates: a scope is normalized once its extract
//! succeeded, and a team is aggregated once every one of its scopes is
//! settled — normalized, or dead-lettered. A dead scope does not stop the
//! team's other metrics: the aggregate leaves out the metrics that read its
//! source (gates per metric, see `dorafleet_stages::aggregate`), and when a
//! replay brings the scope back, the team is aggregated again.

use chrono::{DateTime, Utc};
use dorafleet_core::{Scope, Stage, TaskEnvelope, TaskEvent, TaskEventKind, Window};
use dorafleet_warehouse::{TaskRecord, TaskState};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Extract,
    Normalize,
    Aggregate,
}

/// Where one scope of a team stands in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopeState {
    Open,
    Normalized,
    Dead,
}

#[derive(Debug, Default)]
struct TeamGate {
    scopes: BTreeMap<String, ScopeState>,
    /// A scope settled since the team's last aggregate was published.
    unaggregated: bool,
}

impl TeamGate {
    fn settle(&mut self, scope: String, state: ScopeState) {
        if self.scopes.insert(scope, state) != Some(state) {
            self.unaggregated = true;
        }
    }

    fn blocked(&self) -> bool {
        self.scopes.values().any(|s| *s == ScopeState::Dead)
    }

    /// Whether an aggregate is due: every scope settled, at least one
    /// normalized, and something changed since the last one.
    fn aggregate_due(&self) -> bool {
        self.unaggregated
            && self.scopes.values().all(|s| *s != ScopeState::Open)
            && self.scopes.values().any(|s| *s == ScopeState::Normalized)
    }
}

fn scope_key(task_source: Option<dorafleet_core::Source>, scope: &Scope) -> String {
    format!(
        "{}:{}",
        task_source.map_or("-", |s| s.as_str()),
        scope.target.as_deref().unwrap_or("-")
    )
}

/// One run's tasks as a DAG, with each team's gate: which tasks an event
/// releases and which teams are blocked.
#[derive(Debug)]
pub struct RunDag {
    run_id: Uuid,
    window: Window,
    max_attempts: u32,
    aggregate_from: DateTime<Utc>,
    nodes: HashMap<Uuid, (Node, String)>,
    teams: BTreeMap<String, TeamGate>,
}

impl RunDag {
    /// A DAG over the run's extract tasks (all of the same run and window).
    /// Its aggregate tasks recompute every day from `aggregate_from`
    /// (`sync.earliest`) to the run's end.
    pub fn new(extracts: &[TaskEnvelope], aggregate_from: DateTime<Utc>) -> Self {
        let mut dag = Self::empty(extracts.first(), aggregate_from);
        for task in extracts {
            dag.add(task, false, false);
        }
        dag
    }

    /// The DAG of a run from its stored tasks, as a restarted coordinator
    /// finds it: which scopes were normalized, which teams are blocked, which
    /// aggregates were already published.
    pub fn restore(tasks: &[TaskRecord], aggregate_from: DateTime<Utc>) -> Self {
        let extract = tasks.iter().find(|t| t.envelope.stage == Stage::Extract);
        let mut dag = Self::empty(extract.map(|t| &t.envelope), aggregate_from);
        for t in tasks {
            dag.add(
                &t.envelope,
                t.state == TaskState::Done,
                t.state == TaskState::Dead,
            );
        }
        // A team with no aggregate yet gets one once its scopes are settled;
        // one with an aggregate gets another only when a scope settles anew
        // (a replayed task).
        for (team, gate) in &mut dag.teams {
            gate.unaggregated = !tasks
                .iter()
                .any(|t| t.envelope.stage == Stage::Aggregate && t.envelope.scope.team == *team);
        }
        dag
    }

    fn empty(first: Option<&TaskEnvelope>, aggregate_from: DateTime<Utc>) -> Self {
        RunDag {
            run_id: first.map_or_else(Uuid::nil, |t| t.run_id),
            window: first.map_or(
                Window {
                    from: DateTime::<Utc>::UNIX_EPOCH,
                    to: Utc::now(),
                },
                |t| t.window,
            ),
            max_attempts: first.map_or(1, |t| t.max_attempts),
            aggregate_from,
            nodes: HashMap::new(),
            teams: BTreeMap::new(),
        }
    }

    /// Adds a stored task: its scope is open (pending, retrying, a replay
    /// under way), normalized or dead.
    fn add(&mut self, task: &TaskEnvelope, done: bool, dead: bool) {
        let node = match task.stage {
            Stage::Extract => Node::Extract,
            Stage::Normalize => Node::Normalize,
            Stage::Aggregate => Node::Aggregate,
        };
        let team = task.scope.team.clone();
        self.nodes.insert(task.task_id, (node, team.clone()));
        let gate = self.teams.entry(team).or_default();
        if node == Node::Aggregate {
            return;
        }
        let key = scope_key(task.source, &task.scope);
        let state = gate.scopes.entry(key).or_insert(ScopeState::Open);
        if dead {
            *state = ScopeState::Dead;
        } else if !done {
            *state = ScopeState::Open;
        } else if node == Node::Normalize {
            *state = ScopeState::Normalized;
        }
    }

    /// The tasks that become ready because of `event`.
    pub fn on_event(&mut self, event: &TaskEvent) -> Vec<TaskEnvelope> {
        let Some((node, team)) = self.nodes.get(&event.task_id).cloned() else {
            return Vec::new();
        };
        let Some(gate) = self.teams.get_mut(&team) else {
            return Vec::new();
        };
        let key = scope_key(event.source, &event.scope);
        match (&event.kind, node) {
            (TaskEventKind::Dead { .. }, Node::Aggregate) => Vec::new(),
            (TaskEventKind::Dead { .. }, _) => {
                gate.settle(key, ScopeState::Dead);
                self.aggregate_if_due(&team)
            }
            (TaskEventKind::Done, Node::Extract) => {
                let task = TaskEnvelope::new(
                    self.run_id,
                    Stage::Normalize,
                    event.source,
                    event.scope.clone(),
                    self.window,
                    self.max_attempts,
                );
                self.nodes.insert(task.task_id, (Node::Normalize, team));
                vec![task]
            }
            (TaskEventKind::Done, Node::Normalize) => {
                gate.settle(key, ScopeState::Normalized);
                self.aggregate_if_due(&team)
            }
            (TaskEventKind::Done, Node::Aggregate) | (TaskEventKind::Retrying { .. }, _) => {
                Vec::new()
            }
        }
    }

    /// The team's aggregate task, if one is due.
    fn aggregate_if_due(&mut self, team: &str) -> Vec<TaskEnvelope> {
        let Some(gate) = self.teams.get_mut(team) else {
            return Vec::new();
        };
        if !gate.aggregate_due() {
            return Vec::new();
        }
        gate.unaggregated = false;
        let team = team.to_owned();
        // Aggregate recomputes every complete day up to the run's end:
        // new incidents can change the failure rate of earlier days.
        let task = TaskEnvelope::new(
            self.run_id,
            Stage::Aggregate,
            None,
            Scope {
                team: team.clone(),
                target: None,
            },
            Window {
                from: self.aggregate_from,
                to: self.window.to,
            },
            self.max_attempts,
        );
        self.nodes.insert(task.task_id, (Node::Aggregate, team));
        vec![task]
    }

    /// Teams with a dead-lettered task: the metrics reading its source are
    /// not updated by this run.
    pub fn blocked_teams(&self) -> BTreeSet<String> {
        self.teams
            .iter()
            .filter(|(_, g)| g.blocked())
            .map(|(t, _)| t.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dorafleet_core::{ErrorClass, Source, TaskStats};

    fn extract(team: &str, target: &str) -> TaskEnvelope {
        let now = Utc::now();
        TaskEnvelope::new(
            Uuid::nil(),
            Stage::Extract,
            Some(Source::Github),
            Scope {
                team: team.into(),
                target: Some(target.into()),
            },
            Window {
                from: now - chrono::Duration::days(1),
                to: now,
            },
            3,
        )
    }

    fn earliest() -> DateTime<Utc> {
        dorafleet_core::config::SyncConfig::default().earliest_instant()
    }

    fn event(task: &TaskEnvelope, kind: TaskEventKind) -> TaskEvent {
        TaskEvent::of(task, "w", TaskStats::default(), kind)
    }

    #[test]
    fn a_team_is_aggregated_only_after_all_its_scopes_are_normalized() {
        let (a, b) = (extract("t", "a"), extract("t", "b"));
        let mut dag = RunDag::new(&[a.clone(), b.clone()], earliest());
        let na = dag.on_event(&event(&a, TaskEventKind::Done));
        assert_eq!(na.len(), 1);
        assert_eq!(na[0].stage, Stage::Normalize);
        assert_eq!(na[0].scope, a.scope);
        let nb = dag.on_event(&event(&b, TaskEventKind::Done)).remove(0);
        assert!(dag.on_event(&event(&na[0], TaskEventKind::Done)).is_empty());
        let agg = dag.on_event(&event(&nb, TaskEventKind::Done));
        assert_eq!(agg.len(), 1);
        assert_eq!(agg[0].stage, Stage::Aggregate);
        assert_eq!(agg[0].scope.target, None);
        assert!(
            dag.on_event(&event(&nb, TaskEventKind::Done)).is_empty(),
            "published once"
        );
    }

    #[test]
    fn a_dead_scope_does_not_stop_its_teams_aggregate_and_marks_only_its_team() {
        let (a, b, other) = (extract("t", "a"), extract("t", "b"), extract("u", "c"));
        let mut dag = RunDag::new(&[a.clone(), b.clone(), other.clone()], earliest());
        assert!(dag.on_event(&event(&a, dead())).is_empty());
        let nb = dag.on_event(&event(&b, TaskEventKind::Done)).remove(0);
        let agg = dag.on_event(&event(&nb, TaskEventKind::Done));
        assert_eq!(agg.len(), 1, "the team's other scope is aggregated");
        assert_eq!(agg[0].stage, Stage::Aggregate);
        let nc = dag.on_event(&event(&other, TaskEventKind::Done)).remove(0);
        assert_eq!(dag.on_event(&event(&nc, TaskEventKind::Done)).len(), 1);
        assert_eq!(dag.blocked_teams(), BTreeSet::from(["t".to_owned()]));
    }

    #[test]
    fn a_team_whose_scopes_all_died_gets_no_aggregate() {
        let a = extract("t", "a");
        let mut dag = RunDag::new(std::slice::from_ref(&a), earliest());
        assert!(dag.on_event(&event(&a, dead())).is_empty());
    }

    #[test]
    fn a_replayed_scope_that_normalizes_aggregates_its_team_again() {
        let (a, b) = (extract("t", "a"), extract("t", "b"));
        let mut dag = RunDag::new(&[a.clone(), b.clone()], earliest());
        dag.on_event(&event(&a, dead()));
        let nb = dag.on_event(&event(&b, TaskEventKind::Done)).remove(0);
        assert_eq!(dag.on_event(&event(&nb, TaskEventKind::Done)).len(), 1);
        let mut replayed = a.clone();
        replayed.replay += 1;
        let na = dag
            .on_event(&event(&replayed, TaskEventKind::Done))
            .remove(0);
        let again = dag.on_event(&event(&na, TaskEventKind::Done));
        assert_eq!(again.len(), 1, "a second aggregate");
        assert!(dag.blocked_teams().is_empty());
    }

    #[test]
    fn a_restored_run_with_a_scope_under_replay_aggregates_again_once_it_normalizes() {
        let (a, b) = (extract("t", "a"), extract("t", "b"));
        let mut dag = RunDag::new(&[a.clone(), b.clone()], earliest());
        dag.on_event(&event(&a, dead()));
        let nb = dag.on_event(&event(&b, TaskEventKind::Done)).remove(0);
        let agg = dag.on_event(&event(&nb, TaskEventKind::Done)).remove(0);
        let stored = vec![
            record(&a, TaskState::Pending),
            record(&b, TaskState::Done),
            record(&nb, TaskState::Done),
            record(&agg, TaskState::Done),
        ];
        let mut restored = RunDag::restore(&stored, earliest());
        let na = restored.on_event(&event(&a, TaskEventKind::Done)).remove(0);
        assert_eq!(restored.on_event(&event(&na, TaskEventKind::Done)).len(), 1);
    }

    fn record(e: &TaskEnvelope, state: TaskState) -> TaskRecord {
        TaskRecord {
            envelope: e.clone(),
            state,
            published: true,
            worker: None,
            attempts: 1,
            updated_at: Utc::now(),
        }
    }

    fn dead() -> TaskEventKind {
        TaskEventKind::Dead {
            class: ErrorClass::Permanent,
            reason: "404".into(),
            dead_letter_id: Uuid::nil(),
        }
    }

    #[test]
    fn a_restored_dag_continues_where_the_stored_tasks_left_off() {
        let (a, b) = (extract("t", "a"), extract("t", "b"));
        let mut dag = RunDag::new(&[a.clone(), b.clone()], earliest());
        let na = dag.on_event(&event(&a, TaskEventKind::Done)).remove(0);
        let nb = dag.on_event(&event(&b, TaskEventKind::Done)).remove(0);
        let stored = vec![
            record(&a, TaskState::Done),
            record(&b, TaskState::Done),
            record(&na, TaskState::Done),
            record(&nb, TaskState::Pending),
        ];
        let mut restored = RunDag::restore(&stored, earliest());
        let agg = restored.on_event(&event(&nb, TaskEventKind::Done));
        assert_eq!(agg.len(), 1, "the last normalize opens the gate");
        assert_eq!(agg[0].stage, Stage::Aggregate);
    }
}
