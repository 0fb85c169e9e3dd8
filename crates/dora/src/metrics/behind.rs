//! The records behind one (team, day, metric) value: what a person clicking
//! a point of a chart wants to see, read from the same analysis the value
//! was computed from, so the list and the number cannot disagree.
//!
//! | metric | deployments | changes | incidents |
//! |---|---|---|---|
//! | deployment frequency | finished that day | — | — |
//! | lead time | finished that day | shipped by them (dropped ones with their reason) | — |
//! | change failure rate | finished that day | — | linked to them |
//! | recovery time | the failed ones | — | resolved that day, linked inside coverage |
//! | rework rate | finished that day | shipped by them | — |
//! | time to restore | — | — | resolved that day |

use super::analysis::{Analysis, analyse};
use super::linkage::CoverageStarts;
use super::{ChangeLink, hours_between};
use chrono::{DateTime, NaiveDate, Utc};
use dorafleet_core::{Definitions, Metric, Source};
use dorafleet_warehouse::TeamSilver;
use serde::Serialize;
use uuid::Uuid;

/// A deployment behind a value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentBehind {
    /// `owner/repo#id` (GitHub) or `job#number` (Jenkins).
    pub key: String,
    /// Where it was reported.
    pub source: Source,
    /// The repository deployed.
    pub repo: String,
    /// The Jenkins job, for builds.
    pub job: Option<String>,
    /// The GitHub environment (`production` for deploy jobs).
    pub environment: String,
    /// The deployed commit, when known.
    pub sha: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished (when it happened).
    pub finished_at: DateTime<Utc>,
    /// Linked to at least one incident (a failed deployment).
    pub failed: bool,
    /// Rework: unplanned, because of an incident.
    pub rework: bool,
    /// The run that last normalized it.
    pub run_id: Uuid,
}

/// An incident behind a value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentBehind {
    /// The Jira key.
    pub key: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The key of the deployment it links to.
    pub linked_deployment: Option<String>,
    /// Hours from the failed deployment to the resolution, when measurable.
    pub recovery_hours: Option<f64>,
    /// Hours from creation to resolution.
    pub restore_hours: Option<f64>,
    /// The run that last normalized it.
    pub run_id: Uuid,
}

/// The records behind one value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Behind {
    /// Deployments, in the order they happened.
    pub deployments: Vec<DeploymentBehind>,
    /// Changes, in the order they shipped.
    pub changes: Vec<ChangeLink>,
    /// Incidents, in the order they were created.
    pub incidents: Vec<IncidentBehind>,
}

/// The records behind `metric` of the team whose silver this is, on `date`.
pub fn records_behind(
    defs: &Definitions,
    silver: &TeamSilver,
    starts: &CoverageStarts,
    date: NaiveDate,
    metric: Metric,
) -> Behind {
    let a = analyse(defs, silver, starts);
    let on_day: Vec<usize> = (0..a.deployments.len())
        .filter(|&i| a.finished(i).date_naive() == date)
        .collect();
    let resolved_on_day =
        |resolved: Option<DateTime<Utc>>| resolved.is_some_and(|r| r.date_naive() == date);
    let mut behind = Behind::default();
    match metric {
        Metric::DeploymentFrequency => behind.deployments = deployments(&a, &on_day),
        Metric::LeadTimeForChanges | Metric::DeploymentReworkRate => {
            behind.deployments = deployments(&a, &on_day);
            behind.changes = (0..a.shipped.len())
                .filter(|&at| on_day.contains(&a.shipped[at].deployment))
                .map(|at| a.change_link(at))
                .collect();
        }
        Metric::ChangeFailureRate => {
            behind.deployments = deployments(&a, &on_day);
            behind.incidents = incidents(&a, |l| l.linked.is_some_and(|i| on_day.contains(&i)));
        }
        Metric::FailedDeploymentRecoveryTime => {
            behind.incidents = incidents(&a, |l| {
                l.measurable.is_some() && resolved_on_day(l.incident.resolved_at)
            });
            let mut failed: Vec<usize> = a
                .incidents
                .iter()
                .filter(|l| resolved_on_day(l.incident.resolved_at))
                .filter_map(|l| l.measurable)
                .collect();
            failed.sort_unstable();
            failed.dedup();
            behind.deployments = deployments(&a, &failed);
        }
        Metric::TimeToRestoreService => {
            behind.incidents = incidents(&a, |l| resolved_on_day(l.incident.resolved_at));
        }
    }
    behind
}

fn deployments(a: &Analysis<'_>, indices: &[usize]) -> Vec<DeploymentBehind> {
    indices
        .iter()
        .map(|&i| {
            let d = a.deployments[i];
            DeploymentBehind {
                key: d.key.clone(),
                source: d.source,
                repo: d.repo.clone(),
                job: d.job.clone(),
                environment: d.environment.clone(),
                sha: d.sha.clone(),
                started_at: d.started_at,
                finished_at: a.finished(i),
                failed: a.failed[i],
                rework: a.rework[i],
                run_id: d.run_id,
            }
        })
        .collect()
}

fn incidents(
    a: &Analysis<'_>,
    wanted: impl Fn(&super::analysis::IncidentLink<'_>) -> bool,
) -> Vec<IncidentBehind> {
    a.incidents
        .iter()
        .filter(|l| wanted(l))
        .map(|l| {
            let i = l.incident;
            IncidentBehind {
                key: i.key.clone(),
                created_at: i.created_at,
                resolved_at: i.resolved_at,
                linked_deployment: l.linked.map(|d| a.deployments[d].key.clone()),
                recovery_hours: l
                    .measurable
                    .zip(i.resolved_at)
                    .map(|(d, r)| hours_between(a.finished(d), r)),
                restore_hours: i.resolved_at.map(|r| hours_between(i.created_at, r)),
                run_id: i.run_id,
            }
        })
        .collect()
}
