//! Jenkins JSON API: the builds of a deploy job, read through `allBuilds`
//! with a `tree` filter and `{M,N}` ranges (`builds` stops at 100). Jobs are
//! addressed by their path (`team/app/main` → `/job/team/job/app/job/main`),
//! and a multibranch project is read as its branch jobs.

mod crawl;
mod models;
mod normalize;
mod schema;

pub use crawl::{
    BRANCHES_TREE, MULTIBRANCH_CLASS, builds_tree, is_multibranch, job_of_url, job_url_path,
};
pub(crate) use crawl::{next_steps, start_request};
pub use models::{Action, BranchJob, Build, BuildsPage, Cause};
pub use normalize::{Normalizer, normalize};
pub(crate) use schema::endpoint_schema;
