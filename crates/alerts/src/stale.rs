//! The stale-source rule: a team's source whose newest extracted data is
//! older than `stale_source_after_hours`. Gold does not change when a source
//! goes quiet, so this rule runs on a timer, not on the gold feed; it alerts
//! once per team, source and day while the source stays stale.

use crate::alert::Alert;
use crate::error::MonitorError;
use chrono::{DateTime, Utc};
use dorafleet_core::{AlertRuleName, Config, Scope, Source};
use dorafleet_warehouse::BronzeStore;

/// How fresh one team's data from one source is.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFreshness {
    /// Team id.
    pub team: String,
    /// The source.
    pub source: Source,
    /// The end of the newest successful extract over the team's targets of
    /// this source; `None` if none was ever extracted.
    pub extracted_until: Option<DateTime<Utc>>,
}

/// Freshness of every configured team × source with targets, from the
/// extract coverage in the warehouse.
pub async fn freshness(
    warehouse: &dyn BronzeStore,
    config: &Config,
) -> Result<Vec<SourceFreshness>, MonitorError> {
    let mut out = Vec::new();
    for team in &config.teams {
        for source in Source::ALL {
            let targets = team.targets(source);
            if targets.is_empty() {
                continue;
            }
            let mut newest: Option<DateTime<Utc>> = None;
            for target in targets {
                let scope = Scope {
                    team: team.id.clone(),
                    target: Some(target.clone()),
                };
                if let Some(until) = warehouse.high_watermark(source, &scope).await? {
                    newest = newest.max(Some(until));
                }
            }
            out.push(SourceFreshness {
                team: team.id.clone(),
                source,
                extracted_until: newest,
            });
        }
    }
    Ok(out)
}

/// Alerts for sources older than `after_hours` at `now`. A source never
/// extracted is not stale (nothing was promised yet).
pub fn stale_source_alerts(
    freshness: &[SourceFreshness],
    now: DateTime<Utc>,
    after_hours: f64,
) -> Vec<Alert> {
    freshness
        .iter()
        .filter_map(|f| {
            let until = f.extracted_until?;
            let age_hours = (now - until).num_seconds() as f64 / 3600.0;
            (age_hours > after_hours).then(|| Alert {
                rule: AlertRuleName::StaleSource,
                subject: Some(f.source.to_string()),
                team: f.team.clone(),
                day: now.date_naive(),
                definition_version: 0,
                metric: None,
                value: Some(age_hours),
                threshold: Some(after_hours),
                message: format!(
                    "{} data is {age_hours:.1} h old (extracted until {until}; alert above {after_hours} h)",
                    f.source
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use dorafleet_core::TeamConfig;
    use dorafleet_warehouse::BronzeStore;
    use dorafleet_warehouse::{ExtractCheckpoint, sqlite::SqliteWarehouse};
    use uuid::Uuid;

    #[test]
    fn only_sources_older_than_the_threshold_alert_and_never_extracted_ones_do_not() {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
        let at = |hours| Some(now - Duration::hours(hours));
        let freshness = vec![
            SourceFreshness {
                team: "payments".into(),
                source: Source::Jira,
                extracted_until: at(50),
            },
            SourceFreshness {
                team: "payments".into(),
                source: Source::Github,
                extracted_until: at(47),
            },
            SourceFreshness {
                team: "search".into(),
                source: Source::Jenkins,
                extracted_until: None,
            },
        ];
        let alerts = stale_source_alerts(&freshness, now, 48.0);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].key(), "stale_source.jira:payments:2026-03-10:v0");
        assert_eq!(alerts[0].value, Some(50.0));
    }

    #[tokio::test]
    async fn freshness_is_the_newest_extract_over_a_teams_targets() {
        let w = SqliteWarehouse::open_in_memory().unwrap();
        let config = Config {
            teams: vec![TeamConfig {
                id: "payments".into(),
                github_repos: vec!["acme/a".into(), "acme/b".into()],
                jira_projects: vec!["PAY".into()],
                ..TeamConfig::default()
            }],
            ..Config::default()
        };
        let t = |d| Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap();
        for (target, to) in [("acme/a", t(5)), ("acme/b", t(8))] {
            let checkpoint = ExtractCheckpoint {
                task_id: Uuid::now_v7(),
                run_id: Uuid::now_v7(),
                pages_done: 0,
                state: "{}".into(),
                newest_seen: None,
                completed: false,
            };
            let scope = Scope {
                team: "payments".into(),
                target: Some(target.into()),
            };
            w.complete_extract(
                &checkpoint,
                Source::Github,
                &scope,
                dorafleet_core::Window { from: t(1), to },
            )
            .await
            .unwrap();
        }
        let f = freshness(&w, &config).await.unwrap();
        assert_eq!(
            f,
            vec![
                SourceFreshness {
                    team: "payments".into(),
                    source: Source::Github,
                    extracted_until: Some(t(8)),
                },
                SourceFreshness {
                    team: "payments".into(),
                    source: Source::Jira,
                    extracted_until: None,
                },
            ]
        );
    }
}
