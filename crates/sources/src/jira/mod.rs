//! Jira: incidents. Jira Cloud speaks REST v3 with the enhanced search
//! (`/rest/api/3/search/jql`: the old `/search` answers 410 since 2025, and
//! the new one pages with an opaque `nextPageToken` and `isLast` instead of
//! `startAt`/`total`); Jira Data Center and Server speak REST v2
//! (`/rest/api/2/search`, paged by `startAt` with a `total`). Which one
//! answers is configured or asked from `serverInfo`, and the search's date
//! bounds are written in the API user's time zone ([`zone`]); see
//! [`crawl`](self) for the walk. The changelog of an issue done without a
//! `resolutiondate` tells when it was resolved ([`resolution`]).

mod crawl;
mod models;
mod normalize;
pub mod resolution;
mod schema;
pub mod zone;

pub use crawl::{
    JiraCrawl, SEARCH_FIELDS, changelog_request, issue_changelog_request, window_jql, window_jql_in,
};
pub(crate) use crawl::{next_steps, start_requests};
pub use models::{
    ChangeItem, ChangelogPage, History, Issue, IssueFields, JiraUser, NamedField, ProjectRef,
    SearchPage, Status, StatusCategory,
};
pub use normalize::{Normalizer, normalize};
pub(crate) use schema::endpoint_schema;
pub use zone::JqlZone;
