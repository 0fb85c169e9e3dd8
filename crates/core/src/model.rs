//! Stages, sources, scopes and windows: the coordinates of every task.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A step of the pipeline. Each stage reads one medallion layer and writes the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Source API → bronze (raw pages).
    Extract,
    /// Bronze → silver (normalized events).
    Normalize,
    /// Silver → gold (daily DORA metrics).
    Aggregate,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 3] = [Stage::Extract, Stage::Normalize, Stage::Aggregate];

    /// The lowercase name, as serialized, parsed and used in queue names.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Extract => "extract",
            Stage::Normalize => "normalize",
            Stage::Aggregate => "aggregate",
        }
    }
}

/// A system dorafleet reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// GitHub: pull requests, their commits, and deployments.
    Github,
    /// Jira: issues, of which the incidents count.
    Jira,
    /// Jenkins: job builds; those of deploy jobs are deployments.
    Jenkins,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 3] = [Source::Github, Source::Jira, Source::Jenkins];

    /// The lowercase name, as serialized, parsed and used in queue names.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Github => "github",
            Source::Jira => "jira",
            Source::Jenkins => "jenkins",
        }
    }
}

/// Error for a stage or source name that is not one we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{given}`; expected one of: {expected}")]
pub struct UnknownName {
    /// What was being named: `stage`, `metric` or `source`.
    pub kind: &'static str,
    /// The name as given.
    pub given: String,
    /// The accepted names, comma-separated.
    pub expected: &'static str,
}

macro_rules! name_enum_traits {
    ($ty:ty, $kind:literal, $expected:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| UnknownName {
                        kind: $kind,
                        given: s.to_owned(),
                        expected: $expected,
                    })
            }
        }
    };
}

/// One of the five DORA metrics of the 2024 guide, and incident time to
/// restore beside them (see docs/metrics.md for each one's exact instants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Successful production deployments finished that UTC day.
    DeploymentFrequency,
    /// Median hours from first commit to the deployment whose commit
    /// contains the change's merge commit.
    LeadTimeForChanges,
    /// Share of the day's deployments linked to at least one incident.
    ChangeFailureRate,
    /// Median hours from the failed deployment (the one an incident links
    /// to) to the incident's resolution, by resolution day.
    FailedDeploymentRecoveryTime,
    /// Share of the day's deployments that are unplanned, made because of an
    /// incident (a change referencing an incident, a revert, a hotfix).
    DeploymentReworkRate,
    /// Median hours from an incident's creation to its resolution, by
    /// resolution day (version 1's "recovery time", under its own name).
    TimeToRestoreService,
}

impl Metric {
    /// Every metric: the five of the DORA guide in its order, then time to restore.
    pub const ALL: [Metric; 6] = [
        Metric::DeploymentFrequency,
        Metric::LeadTimeForChanges,
        Metric::ChangeFailureRate,
        Metric::FailedDeploymentRecoveryTime,
        Metric::DeploymentReworkRate,
        Metric::TimeToRestoreService,
    ];

    /// The snake_case name, as serialized and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::DeploymentFrequency => "deployment_frequency",
            Metric::LeadTimeForChanges => "lead_time_for_changes",
            Metric::ChangeFailureRate => "change_failure_rate",
            Metric::FailedDeploymentRecoveryTime => "failed_deployment_recovery_time",
            Metric::DeploymentReworkRate => "deployment_rework_rate",
            Metric::TimeToRestoreService => "time_to_restore_service",
        }
    }
}

name_enum_traits!(Stage, "stage", "extract, normalize, aggregate");
name_enum_traits!(
    Metric,
    "metric",
    "deployment_frequency, lead_time_for_changes, change_failure_rate, failed_deployment_recovery_time, deployment_rework_rate, time_to_restore_service"
);
name_enum_traits!(Source, "source", "github, jira, jenkins");

/// What a task works on: a team and, below it, one repo / Jira project / Jenkins job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// The team's configured id (`[[teams]] id`).
    pub team: String,
    /// `owner/repo` for GitHub, the project key for Jira, the job name for Jenkins;
    /// absent for team-wide tasks such as aggregate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(t) => write!(f, "{}/{}", self.team, t),
            None => f.write_str(&self.team),
        }
    }
}

/// A half-open time range `[from, to)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
}

impl Window {
    /// Whether `t` is in `[from, to)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.from.to_rfc3339(), self.to.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_unknown_names_list_the_choices() {
        assert_eq!("GitHub".parse::<Source>(), Ok(Source::Github));
        assert_eq!(" normalize ".parse::<Stage>(), Ok(Stage::Normalize));
        let err = "gitlab".parse::<Source>().unwrap_err();
        assert!(err.to_string().contains("github, jira, jenkins"), "{err}");
    }
}
