//! Jenkins JSON API: the builds of a deploy job, read through `allBuilds`
//! with a `tree` filter and `{M,N}` ranges (`builds` stops at 100).

mod crawl;
mod models;
mod normalize;
mod schema;

pub use crawl::builds_tree;
pub(crate) use crawl::{next_steps, start_request};
pub use models::{Action, Build, BuildsPage, Cause};
pub use normalize::normalize;
pub(crate) use schema::endpoint_schema;
