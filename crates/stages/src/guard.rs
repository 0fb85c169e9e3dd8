//! The checks every task passes before its stage touches an API or the
//! warehouse. A task is only a message: anyone who can publish to a stage
//! queue can forge one, and an old task can outlive the configuration that
//! planned it. A well-formed task for a team nobody configured, or with a
//! window reaching back to year 1 or forward to 9999, would otherwise be
//! executed and move a scope's watermark where no later run ever looks
//! again. Such a task fails permanently, so it is dead-lettered with the
//! reason and nothing is written.

use async_trait::async_trait;
use dorafleet_core::{Config, Stage, TaskEnvelope, TaskError, TaskStats};
use dorafleet_worker::{HandlerOutcome, StageHandler};
use std::sync::Arc;

/// Why `task` must not run under `config`, if it must not.
pub fn refuse_task(config: &Config, task: &TaskEnvelope) -> Option<String> {
    let team = &task.scope.team;
    let Some(team_config) = config.teams.iter().find(|t| t.id == *team) else {
        return Some(format!("team `{team}` is not in the configuration"));
    };
    match task.stage {
        Stage::Extract | Stage::Normalize => {
            let Some(source) = task.source else {
                return Some(format!("a {} task needs a source", task.stage));
            };
            let Some(target) = task.scope.target.as_deref() else {
                return Some(format!("a {} task needs a target", task.stage));
            };
            if !team_config.targets(source).iter().any(|t| t == target) {
                return Some(format!(
                    "`{target}` is not a {source} target of team `{team}` in the configuration"
                ));
            }
        }
        Stage::Aggregate => {}
    }
    let window = task.window;
    if window.from >= window.to {
        return Some(format!("the window {window} is empty"));
    }
    let earliest = config.sync.earliest_instant();
    if window.from < earliest {
        return Some(format!(
            "the window {window} starts before sync.earliest ({})",
            config.sync.earliest
        ));
    }
    let now = config.now();
    if window.to > now + config.sync.clock_skew() {
        return Some(format!(
            "the window {window} ends in the future (now is {}, sync.clock_skew_secs {})",
            now.to_rfc3339(),
            config.sync.clock_skew_secs
        ));
    }
    None
}

/// A stage handler behind [`refuse_task`]: refused tasks fail permanently
/// before the stage runs.
#[derive(Debug)]
pub struct Guarded {
    inner: Arc<dyn StageHandler>,
    config: Arc<Config>,
}

impl Guarded {
    /// `inner`, run only for tasks `config` allows.
    pub fn new(inner: Arc<dyn StageHandler>, config: Arc<Config>) -> Self {
        Guarded { inner, config }
    }
}

#[async_trait]
impl StageHandler for Guarded {
    async fn handle(&self, task: &TaskEnvelope) -> HandlerOutcome {
        match refuse_task(&self.config, task) {
            None => self.inner.handle(task).await,
            Some(reason) => {
                tracing::warn!(task_id = %task.task_id, stage = %task.stage, %reason, "task refused");
                HandlerOutcome::failed(
                    TaskStats::default(),
                    TaskError::permanent(format!("task refused: {reason}")),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use dorafleet_core::{Clock, Scope, Source, TeamConfig, Window};
    use uuid::Uuid;

    fn config(now: DateTime<Utc>) -> Config {
        Config {
            teams: vec![TeamConfig {
                id: "payments".into(),
                github_repos: vec!["acme/ledger".into()],
                ..TeamConfig::default()
            }],
            clock: Clock::manual(now),
            ..Config::default()
        }
    }

    fn extract(team: &str, target: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> TaskEnvelope {
        TaskEnvelope::new(
            Uuid::now_v7(),
            Stage::Extract,
            Some(Source::Github),
            Scope {
                team: team.into(),
                target: Some(target.into()),
            },
            Window { from, to },
            3,
        )
    }

    #[test]
    fn a_task_of_the_configuration_inside_earliest_and_now_runs() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let task = extract("payments", "acme/ledger", now - Duration::days(1), now);
        assert_eq!(refuse_task(&config(now), &task), None);
    }

    #[test]
    fn forged_scopes_and_windows_are_refused_with_the_reason() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let year_1 = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
        let year_9999 = Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap();
        let day_before = now - Duration::days(1);
        for (task, expected) in [
            (
                extract("ghosts", "acme/ledger", day_before, now),
                "team `ghosts` is not in the configuration",
            ),
            (
                extract("payments", "acme/other", day_before, now),
                "`acme/other` is not a github target of team `payments`",
            ),
            (
                extract("payments", "acme/ledger", year_1, now),
                "starts before sync.earliest (2000-01-01)",
            ),
            (
                extract("payments", "acme/ledger", day_before, year_9999),
                "ends in the future",
            ),
            (
                extract("payments", "acme/ledger", now, day_before),
                "is empty",
            ),
        ] {
            let reason = refuse_task(&config(now), &task).expect("refused");
            assert!(reason.contains(expected), "{reason}");
        }
    }

    #[test]
    fn a_window_ending_within_the_tolerated_clock_skew_runs() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let ahead = now + Duration::seconds(299);
        let task = extract("payments", "acme/ledger", now - Duration::days(1), ahead);
        assert_eq!(refuse_task(&config(now), &task), None);
    }
}
