//! The source simulator: a deterministic synthetic organisation served over
//! HTTP with GitHub-, Jira- and Jenkins-compatible endpoints.
//!
//! The organisation is generated as a whole history and served as of a
//! simulated clock ([`SimState::now`], `/_admin/clock`), so that the world
//! evolves between two runs of a pipeline the way real sources do: late
//! deployment outcomes, long builds, reopened incidents, deletions.
//!
//! It exists so that dorafleet can be demonstrated and tested end to end
//! without real credentials, and so that every number the pipeline publishes
//! can be checked against an oracle: the organisation is generated from a seed
//! ([`generate`]), its ground-truth DORA values are computed straight from the
//! generated events ([`Organisation::ground_truth`]), and the HTTP layer
//! ([`RunningSim`], [`serve`]) can misbehave on purpose ([`FaultRule`]) while
//! recording every request ([`RequestLogEntry`]).

#![warn(missing_docs, unreachable_pub)]

mod config_file;
mod endpoint;
mod faults;
mod generate;
mod http;
mod model;
mod options;
mod request_log;
mod server;
mod state;
mod truth;

pub use endpoint::Endpoint;
pub use faults::{FaultKind, FaultRule, FaultSpecError, Trigger, drift_selects};
pub use generate::generate;
pub use http::github_app::GithubAppOptions;
pub use model::{
    BOT_LOGIN_SUFFIX, BuildResult, Commit, DONE, DeployMechanism, DeploymentStatus,
    GithubDeployment, IN_PROGRESS, INCIDENT_ISSUE_TYPE, JenkinsBuild, JenkinsJob, JiraIssue,
    JiraProject, JobDescription, JobKind, MainCommit, OrgDescription, Organisation,
    PRODUCTION_ENVIRONMENT, Person, PersonDescription, PullRequest, REOPENED, Repo, SimTeam,
    StatusTransition, TO_DO, TeamDescription,
};
pub use model::{FEATURE_BRANCH_JOB, JenkinsFlavour, MAIN_BRANCH_JOB, MULTIBRANCH_CLASS};
pub use options::{GithubFlavour, JiraFlavour, SimOptions};
pub use request_log::{RequestLogEntry, credential_id};
pub use server::{RunningSim, router, serve};
pub use state::SimState;
pub use truth::{METRICS, TruthCoverage, TruthRecord, differences};
