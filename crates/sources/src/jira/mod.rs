//! Jira Cloud REST v3 enhanced search (`/rest/api/3/search/jql`): incidents.
//! The old `/search` answers 410 since 2025, and the new one pages with an
//! opaque `nextPageToken` and `isLast` instead of `startAt`/`total`. The
//! changelog of an issue done without a `resolutiondate`
//! (`/rest/api/3/issue/{key}/changelog`, paged by `startAt`) tells when it
//! was resolved ([`resolution`]).

mod crawl;
mod models;
mod normalize;
pub mod resolution;
mod schema;

pub use crawl::{SEARCH_FIELDS, changelog_request, window_jql};
pub(crate) use crawl::{next_steps, start_request};
pub use models::{
    ChangeItem, ChangelogPage, History, Issue, IssueFields, JiraUser, NamedField, ProjectRef,
    SearchPage, Status, StatusCategory,
};
pub use normalize::normalize;
pub(crate) use schema::endpoint_schema;
