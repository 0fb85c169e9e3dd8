//! Which days a team's inputs cover completely: the days aggregation may
//! write gold for and the volume sensor may judge. Both stages need it, so
//! it lives beside them rather than inside either.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use dorafleet_core::{Config, Scope, Source, TaskError, Window};
use dorafleet_dora::CoverageStarts;
use dorafleet_warehouse::BronzeStore;

/// The UTC days inside `range` that every scope of `team` covers completely
/// and that are over by the configuration's clock.
pub async fn complete_days(
    warehouse: &dyn BronzeStore,
    config: &Config,
    team: &str,
    range: Window,
) -> Result<Vec<NaiveDate>, TaskError> {
    complete_days_of(warehouse, config, team, range, &Source::ALL).await
}

/// [`complete_days`] counting only the team's scopes of `sources` (a
/// metric's inputs): a source the metric does not read cannot blank it.
pub async fn complete_days_of(
    warehouse: &dyn BronzeStore,
    config: &Config,
    team: &str,
    range: Window,
    sources: &[Source],
) -> Result<Vec<NaiveDate>, TaskError> {
    let team_config = config
        .teams
        .iter()
        .find(|t| t.id == team)
        .ok_or_else(|| TaskError::permanent(format!("team `{team}` is not configured")))?;
    // A day is over only once now has passed its end.
    let (mut from, mut to) = (range.from, range.to.min(config.now()));
    let mut scopes = 0;
    for &source in sources {
        for target in team_config.targets(source) {
            scopes += 1;
            let scope = Scope {
                team: team.to_owned(),
                target: Some(target.clone()),
            };
            let Some(covered) = warehouse.coverage(source, &scope).await? else {
                return Ok(Vec::new());
            };
            from = from.max(covered.from);
            to = to.min(covered.to);
        }
    }
    if scopes == 0 {
        return Ok(Vec::new());
    }
    let mut days = Vec::new();
    let mut day = first_full_day(from);
    while start_of(day + Duration::days(1)) <= to {
        days.push(day);
        day += Duration::days(1);
    }
    Ok(days)
}

/// Where each of `team`'s repositories is covered from: the later of the
/// coverage start of its GitHub scope and of the deploy jobs that deploy it.
/// A scope never extracted counts as covered from now: nothing merged
/// before it can be credited (lead time is unknown there anyway).
pub async fn coverage_starts(
    warehouse: &dyn BronzeStore,
    config: &Config,
    team: &str,
) -> Result<CoverageStarts, TaskError> {
    let Some(team_config) = config.teams.iter().find(|t| t.id == team) else {
        return Ok(CoverageStarts::default());
    };
    let scope = |target: &str| Scope {
        team: team.to_owned(),
        target: Some(target.to_owned()),
    };
    let mut starts = CoverageStarts::default();
    for repo in &team_config.github_repos {
        let from = warehouse
            .coverage(Source::Github, &scope(repo))
            .await?
            .map_or_else(|| config.now(), |c| c.from);
        starts.0.insert(repo.clone(), from);
    }
    for (job, repo) in &team_config.deploy_jobs {
        let from = warehouse
            .coverage(Source::Jenkins, &scope(job))
            .await?
            .map_or_else(|| config.now(), |c| c.from);
        let start = starts.0.entry(repo.clone()).or_insert(from);
        *start = (*start).max(from);
    }
    Ok(starts)
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

fn first_full_day(t: DateTime<Utc>) -> NaiveDate {
    let day = t.date_naive();
    if start_of(day) == t {
        day
    } else {
        day + Duration::days(1)
    }
}
