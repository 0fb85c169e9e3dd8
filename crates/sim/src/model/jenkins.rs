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

/// How the simulated Jenkins lays its jobs out (`jenkins_flavour`). The
/// organisation, its builds and the ground truth are the same in every
/// flavour; only the paths and the job kinds served change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JenkinsFlavour {
    /// Every job at the top level: `/job/{job}`.
    #[default]
    Flat,
    /// A folder per team: the CI job at `/job/{team}/job/{job}`, and the
    /// deploy job a multibranch pipeline there whose `main` branch job
    /// (`/job/{team}/job/{job}/job/main`) holds the deployments, beside a
    /// feature branch (`feature%2Flogin`) whose builds are not deployments.
    Folders,
}

/// The `_class` of a multibranch pipeline project.
pub const MULTIBRANCH_CLASS: &str =
    "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject";

/// The name of the simulated feature branch job of a multibranch deploy
/// job (branch `feature/login`, as Jenkins names its job).
pub const FEATURE_BRANCH_JOB: &str = "feature%2Flogin";

/// The name of the branch job that holds a multibranch deploy job's builds.
pub const MAIN_BRANCH_JOB: &str = "main";

impl JenkinsFlavour {
    /// `flat` or `folders`.
    pub fn as_str(self) -> &'static str {
        match self {
            JenkinsFlavour::Flat => "flat",
            JenkinsFlavour::Folders => "folders",
        }
    }
}

impl std::fmt::Display for JenkinsFlavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JenkinsFlavour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flat" => Ok(JenkinsFlavour::Flat),
            "folders" | "folder" | "multibranch" => Ok(JenkinsFlavour::Folders),
            other => Err(format!(
                "unknown Jenkins flavour `{other}`; expected flat or folders"
            )),
        }
    }
}

impl JenkinsJob {
    /// The job's path in `flavour`, as a dorafleet config names it:
    /// `{job}` (flat) or `{team}/{job}` (folders; for the deploy job, the
    /// multibranch project).
    pub fn path(&self, flavour: JenkinsFlavour) -> String {
        match flavour {
            JenkinsFlavour::Flat => self.name.clone(),
            JenkinsFlavour::Folders => format!("{}/{}", self.team, self.name),
        }
    }

    /// The builds of the feature branch job beside `main` in the folders
    /// flavour: one before every third build of the job (two hours earlier,
    /// so it is visible whenever that build is), all successful, each with a
    /// commit of its own. Never deployments, so never in the ground truth.
    pub fn feature_branch_builds(&self) -> Vec<JenkinsBuild> {
        self.builds
            .iter()
            .step_by(3)
            .enumerate()
            .map(|(i, b)| JenkinsBuild {
                number: i as u64 + 1,
                result: Some(BuildResult::Success),
                started_at: b.started_at - chrono::Duration::hours(2),
                duration_ms: 90_000,
                building: false,
                started_by: b.started_by.clone(),
                commit: Some(feature_sha(&self.name, i)),
            })
            .collect()
    }
}

/// A stable 40-hex-digit sha for the `i`-th feature build of `job`.
fn feature_sha(job: &str, i: usize) -> String {
    use std::hash::{Hash, Hasher};
    let part = |salt: u32| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (job, i, salt, "feature").hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}{:08x}", part(1), part(2), part(3) as u32)
}
