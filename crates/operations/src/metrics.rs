//! Gold read back per team over a range — each day a value, a verified
//! zero, no data, held or unknown, and the range summarised with levels —
//! and how fresh each source's data is.

use crate::OperationError;
use chrono::{DateTime, NaiveDate, Utc};
use dorafleet_core::{Config, LevelsError, Scope, Source};
use dorafleet_dora::report::{ScopeCoverage, TeamReport, team_report};
use dorafleet_warehouse::{GoldFilter, HoldFilter, HoldStatus, Warehouse};

/// Teams to report: the ones asked for (each must be configured, when any
/// team is), else every configured team, else every team gold knows. Levels
/// come from the DORA report year of `[levels] year`.
pub async fn team_reports(
    warehouse: &dyn Warehouse,
    config: &Config,
    asked: &[String],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<TeamReport>, MetricsError> {
    team_reports_with_levels(warehouse, config, asked, from, to, None).await
}

/// [`team_reports`] with the levels of `levels_year` (`dorafleet metrics
/// --levels-year`) instead of the configured year, when given.
pub async fn team_reports_with_levels(
    warehouse: &dyn Warehouse,
    config: &Config,
    asked: &[String],
    from: NaiveDate,
    to: NaiveDate,
    levels_year: Option<u16>,
) -> Result<Vec<TeamReport>, MetricsError> {
    if from >= to {
        return Err(MetricsError::EmptyRange { from, to });
    }
    let thresholds = config.levels.thresholds(levels_year)?;
    for t in asked {
        if !config.teams.is_empty() && !config.teams.iter().any(|c| &c.id == t) {
            return Err(MetricsError::UnknownTeam(t.clone()));
        }
    }
    let gold = warehouse
        .gold(&GoldFilter {
            teams: asked.to_vec(),
            from: Some(from),
            to: Some(to),
            ..GoldFilter::default()
        })
        .await
        .map_err(OperationError::from)?;
    let mut teams = asked.to_vec();
    if teams.is_empty() {
        teams = config.teams.iter().map(|t| t.id.clone()).collect();
    }
    if teams.is_empty() {
        teams = gold.iter().map(|g| g.team_id.clone()).collect();
        teams.dedup();
    }
    if teams.is_empty() {
        return Err(MetricsError::NoTeams);
    }
    let holds = warehouse
        .holds(&HoldFilter {
            status: Some(HoldStatus::Open),
            ..HoldFilter::default()
        })
        .await
        .map_err(OperationError::from)?;
    let mut reports = Vec::with_capacity(teams.len());
    for team in &teams {
        let mut report = team_report(team, &gold, from, to, &thresholds);
        let scopes = scope_coverage(warehouse, config, team).await?;
        report.explain_unknowns(&config.definitions, &scopes, &holds);
        reports.push(report);
    }
    Ok(reports)
}

/// What each configured scope of `team` has been extracted over.
async fn scope_coverage(
    warehouse: &dyn Warehouse,
    config: &Config,
    team: &str,
) -> Result<Vec<ScopeCoverage>, MetricsError> {
    let mut scopes = Vec::new();
    let Some(team_config) = config.teams.iter().find(|t| t.id == team) else {
        return Ok(scopes);
    };
    for source in Source::ALL {
        for target in team_config.targets(source) {
            let scope = Scope {
                team: team.to_owned(),
                target: Some(target.clone()),
            };
            let covered = warehouse
                .coverage(source, &scope)
                .await
                .map_err(OperationError::from)?
                .map(|w| (w.from, w.to));
            scopes.push(ScopeCoverage {
                source,
                target: target.clone(),
                covered,
            });
        }
    }
    Ok(scopes)
}

/// Why team reports could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The range is empty: `from` is not before `to`.
    #[error("--from ({from}) must be before --to ({to})")]
    EmptyRange {
        /// First day asked for.
        from: NaiveDate,
        /// Day the range ends before.
        to: NaiveDate,
    },
    /// A team asked for is not in the configuration (which has teams).
    #[error("team `{0}` is not configured")]
    UnknownTeam(String),
    /// No performance levels for the asked DORA report year.
    #[error("levels: {0}")]
    Levels(#[from] LevelsError),
    /// No team asked for, none configured, and none in gold.
    #[error("no teams: configure [[teams]] or pass --team")]
    NoTeams,
    /// Reading the warehouse failed.
    #[error(transparent)]
    Operation(#[from] OperationError),
}

/// One source's freshness: its newest and stalest extracted scope.
#[derive(Debug, Clone)]
pub struct Freshness {
    /// The source these marks are of.
    pub source: Source,
    /// The newest high-watermark over the source's scopes.
    pub newest: Option<DateTime<Utc>>,
    /// The scope furthest behind, and its high-watermark.
    pub stalest: Option<(String, DateTime<Utc>)>,
    /// Configured scopes never extracted.
    pub never: Vec<String>,
}

/// Per source with configured scopes: the newest successfully extracted
/// record (the high-watermarks) and the scope furthest behind.
pub async fn freshness(
    warehouse: &dyn Warehouse,
    config: &Config,
) -> Result<Vec<Freshness>, OperationError> {
    let mut out = Vec::new();
    for source in Source::ALL {
        let mut marks = Vec::new();
        let mut never = Vec::new();
        for team in &config.teams {
            for target in team.targets(source) {
                let scope = Scope {
                    team: team.id.clone(),
                    target: Some(target.clone()),
                };
                match warehouse.high_watermark(source, &scope).await? {
                    Some(t) => marks.push((t, target.clone())),
                    None => never.push(target.clone()),
                }
            }
        }
        if marks.is_empty() && never.is_empty() {
            continue;
        }
        out.push(Freshness {
            source,
            newest: marks.iter().map(|(t, _)| *t).max(),
            stalest: marks
                .iter()
                .min_by_key(|(t, _)| *t)
                .map(|(t, s)| (s.clone(), *t)),
            never,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dorafleet_core::Metric;
    use dorafleet_dora::report::Level;
    use dorafleet_warehouse::sqlite::SqliteWarehouse;
    use dorafleet_warehouse::{GoldRecord, GoldStore};

    fn gold(day: u32, metric: Metric, value: f64) -> GoldRecord {
        GoldRecord {
            date: NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
            team_id: "pay".into(),
            metric,
            value: Some(value),
            sample_size: 1,
            samples: vec![value],
            definition_version: 1,
            run_id: uuid::Uuid::nil(),
            computed_at: Utc::now(),
            complete: true,
        }
    }

    #[tokio::test]
    async fn reports_rate_every_metric_by_the_configured_year_unless_one_is_asked() {
        let warehouse = SqliteWarehouse::open_in_memory().unwrap();
        let records: Vec<GoldRecord> = Metric::ALL
            .into_iter()
            .map(|m| {
                gold(
                    1,
                    m,
                    if m == Metric::DeploymentFrequency {
                        1.0
                    } else {
                        0.12
                    },
                )
            })
            .collect();
        warehouse.upsert_gold(&records).await.unwrap();
        let config = Config::from_toml("[levels]\nyear = 2023").unwrap();
        let (from, to) = (
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        );
        let cfr = |r: &TeamReport| {
            r.summary
                .iter()
                .find(|s| s.metric == Metric::ChangeFailureRate)
                .and_then(|s| s.level)
        };
        let reports = team_reports(&warehouse, &config, &[], from, to)
            .await
            .unwrap();
        assert_eq!(reports[0].summary.len(), Metric::ALL.len());
        assert_eq!(reports[0].levels.year, 2023);
        assert_eq!(cfr(&reports[0]), Some(Level::Medium), "12 % under 2023");
        let asked = team_reports_with_levels(&warehouse, &config, &[], from, to, Some(2024))
            .await
            .unwrap();
        assert_eq!(asked[0].levels.year, 2024, "the flag wins over the file");
        assert_eq!(cfr(&asked[0]), Some(Level::High), "12 % under 2024");
        let refused = team_reports_with_levels(&warehouse, &config, &[], from, to, Some(2025))
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains("team profiles"), "{refused}");
    }
}
