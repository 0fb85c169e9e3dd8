//! GitHub REST API: pull requests (changes), their commits (first commit time
//! for lead time), deployments and deployment statuses.

mod crawl;
mod models;
mod normalize;
mod schema;

pub(crate) use crawl::{next_steps, start_requests};
pub use models::{
    CommitDetail, Deployment, DeploymentStatus, GitActor, GitRef, PullCommit, PullRequest, User,
};
pub use normalize::{Normalizer, normalize};
pub(crate) use schema::endpoint_schema;
