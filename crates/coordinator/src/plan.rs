//! Run planning: which extract tasks a run consists of, and their windows.

use chrono::{DateTime, Duration, Utc};
use dorafleet_core::{Config, Scope, Source, Stage, TaskEnvelope, Window};
use dorafleet_warehouse::{BronzeStore, WarehouseError};
use uuid::Uuid;

/// One extract task per (team, source, target), each over `window_for` its scope.
pub fn plan_extract(
    config: &Config,
    run_id: Uuid,
    sources: &[Source],
    mut window_for: impl FnMut(Source, &Scope) -> Option<Window>,
) -> Vec<TaskEnvelope> {
    let mut tasks = Vec::new();
    for team in &config.teams {
        for &source in sources {
            for target in team.targets(source) {
                let scope = Scope {
                    team: team.id.clone(),
                    target: Some(target.clone()),
                };
                if let Some(window) = window_for(source, &scope) {
                    tasks.push(TaskEnvelope::new(
                        run_id,
                        Stage::Extract,
                        Some(source),
                        scope,
                        window,
                        config.retry.max_attempts,
                    ));
                }
            }
        }
    }
    tasks
}

/// `requested` cut to what may be extracted: never before `sync.earliest`,
/// never after `now` (days that have not happened are unknown, not zero).
/// `None` when nothing of it is left.
pub fn bounded_window(config: &Config, requested: Window, now: DateTime<Utc>) -> Option<Window> {
    let window = Window {
        from: requested.from.max(config.sync.earliest_instant()),
        to: requested.to.min(now),
    };
    (window.from < window.to).then_some(window)
}

/// Incremental plan: each scope from its high-watermark (or `sync.initial_days`
/// back on its first run, never before `sync.earliest`) up to `now`. Scopes
/// already synced up to `now` are skipped.
pub async fn plan_extract_incremental(
    config: &Config,
    warehouse: &dyn BronzeStore,
    run_id: Uuid,
    sources: &[Source],
    now: DateTime<Utc>,
) -> Result<Vec<TaskEnvelope>, WarehouseError> {
    let first_from = (now - Duration::days(i64::from(config.sync.initial_days)))
        .max(config.sync.earliest_instant());
    let mut windows = Vec::new();
    for team in &config.teams {
        for &source in sources {
            for target in team.targets(source) {
                let scope = Scope {
                    team: team.id.clone(),
                    target: Some(target.clone()),
                };
                let from = warehouse
                    .high_watermark(source, &scope)
                    .await?
                    .unwrap_or(first_from);
                windows.push(((source, scope), from));
            }
        }
    }
    Ok(plan_extract(config, run_id, sources, |source, scope| {
        windows
            .iter()
            .find(|((s, sc), _)| *s == source && sc == scope)
            .and_then(|(_, from)| {
                bounded_window(
                    config,
                    Window {
                        from: *from,
                        to: now,
                    },
                    now,
                )
            })
    }))
}

/// One team with two repositories and a Jira project: the configuration the
/// planning tests of this crate share.
#[cfg(test)]
pub(crate) fn two_repo_team() -> Config {
    Config {
        teams: vec![dorafleet_core::TeamConfig {
            id: "payments".into(),
            github_repos: vec!["acme/a".into(), "acme/b".into()],
            jira_projects: vec!["PAY".into()],
            ..dorafleet_core::TeamConfig::default()
        }],
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use dorafleet_warehouse::BronzeStore;
    use dorafleet_warehouse::sqlite::SqliteWarehouse;

    #[test]
    fn a_plan_has_one_extract_task_per_team_source_and_target() {
        let now = Utc::now();
        let w = Window {
            from: now - Duration::days(1),
            to: now,
        };
        let tasks = plan_extract(&two_repo_team(), Uuid::now_v7(), &Source::ALL, |_, _| {
            Some(w)
        });
        let targets: Vec<_> = tasks
            .iter()
            .map(|t| (t.source.unwrap(), t.scope.target.clone().unwrap()))
            .collect();
        assert_eq!(
            targets,
            vec![
                (Source::Github, "acme/a".into()),
                (Source::Github, "acme/b".into()),
                (Source::Jira, "PAY".into())
            ]
        );
        assert!(
            tasks
                .iter()
                .all(|t| t.stage == Stage::Extract && t.attempt == 1)
        );
    }

    #[test]
    fn a_range_is_cut_to_earliest_and_now_and_a_range_entirely_in_the_future_is_nothing() {
        let config = two_repo_team();
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let next_month = Window {
            from: now - Duration::days(3),
            to: now + Duration::days(30),
        };
        let cut = bounded_window(&config, next_month, now).unwrap();
        assert_eq!((cut.from, cut.to), (next_month.from, now));
        let from_year_1 = Window {
            from: Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            to: now,
        };
        let cut = bounded_window(&config, from_year_1, now).unwrap();
        assert_eq!(cut.from, config.sync.earliest_instant());
        let future = Window {
            from: now + Duration::days(1),
            to: now + Duration::days(2),
        };
        assert_eq!(bounded_window(&config, future, now), None);
    }

    #[tokio::test]
    async fn an_incremental_plan_starts_each_scope_at_its_watermark() {
        let warehouse = SqliteWarehouse::open_in_memory().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let mark = now - Duration::hours(6);
        let scope = Scope {
            team: "payments".into(),
            target: Some("PAY".into()),
        };
        let cp = dorafleet_warehouse::ExtractCheckpoint {
            task_id: Uuid::now_v7(),
            run_id: Uuid::now_v7(),
            pages_done: 0,
            state: "{}".into(),
            newest_seen: None,
            completed: false,
        };
        warehouse
            .complete_extract(
                &cp,
                Source::Jira,
                &scope,
                Window {
                    from: mark - Duration::days(1),
                    to: mark,
                },
            )
            .await
            .unwrap();
        let tasks = plan_extract_incremental(
            &two_repo_team(),
            &warehouse,
            Uuid::now_v7(),
            &Source::ALL,
            now,
        )
        .await
        .unwrap();
        let jira = tasks
            .iter()
            .find(|t| t.source == Some(Source::Jira))
            .unwrap();
        assert_eq!(jira.window.from, mark);
        let github = tasks
            .iter()
            .find(|t| t.source == Some(Source::Github))
            .unwrap();
        assert_eq!(github.window.from, now - Duration::days(90));
        assert!(tasks.iter().all(|t| t.window.to == now));
    }
}
