//! The Jenkins side of the organisation: deploy and CI jobs and their builds.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a Jenkins job's builds mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Every successful build is a production deployment of `repo`.
    Deploy,
    /// Builds and tests only; never a deployment.
    Ci,
}

impl JobKind {
    /// `deploy` or `ci`, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Deploy => "deploy",
            JobKind::Ci => "ci",
        }
    }
}

/// One Jenkins job with its builds.
#[derive(Debug, Clone, PartialEq)]
pub struct JenkinsJob {
    /// Job name, e.g. `payments-web-deploy`.
    pub name: String,
    /// Deploy or CI job.
    pub kind: JobKind,
    /// `owner/repo` the job builds.
    pub repo: String,
    /// Id of the owning team.
    pub team: String,
    /// Ascending by number (= by start time).
    pub builds: Vec<JenkinsBuild>,
}

/// The result of a finished Jenkins build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildResult {
    /// `SUCCESS`; for a deploy job, a production deployment.
    Success,
    /// `FAILURE`.
    Failure,
    /// `UNSTABLE` (CI jobs only).
    Unstable,
    /// `ABORTED`.
    Aborted,
}

impl BuildResult {
    /// Jenkins' spelling: `SUCCESS`, `FAILURE`, `UNSTABLE` or `ABORTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildResult::Success => "SUCCESS",
            BuildResult::Failure => "FAILURE",
            BuildResult::Unstable => "UNSTABLE",
            BuildResult::Aborted => "ABORTED",
        }
    }
}

/// One build of a Jenkins job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JenkinsBuild {
    /// Build number, ascending by start time.
    pub number: u64,
    /// `None` while building (in a view, see [`JenkinsBuild::as_of`]).
    pub result: Option<BuildResult>,
    /// Start time (Jenkins' `timestamp`, millisecond precision).
    pub started_at: DateTime<Utc>,
    /// 0 while building, like Jenkins.
    pub duration_ms: u64,
    /// Still running at the instant of the view; never in the generated
    /// history, where every build has its real result and duration.
    pub building: bool,
    /// Contributor id of whoever started it; `None` for SCM-triggered builds.
    pub started_by: Option<String>,
    /// The main commit of the job's repository the build checked out (its
    /// git build data's `lastBuiltRevision`): the head of main at the start.
    /// `None` for CI builds and for deploy builds that record no git data.
    pub commit: Option<String>,
}

impl JenkinsBuild {
    /// Start time plus duration; `None` while building.
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        (!self.building)
            .then(|| self.started_at + chrono::Duration::milliseconds(self.duration_ms as i64))
    }
}
