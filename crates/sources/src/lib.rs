//! Source clients for GitHub, Jira and Jenkins: HTTP with rate budgets and
//! server pauses (`client`), crawl logic per source (`crawl`), and typed
//! payloads with UTC timestamps for the normalize stage (`github`, `jira`,
//! `jenkins`).
//!
//! The same code talks to the real APIs and to the project's simulator; only
//! the base URL differs.

mod budget;
mod client;
mod crawl;
pub mod github;
pub mod jenkins;
pub mod jira;
mod limiter;
mod normalize;
pub mod link;
mod page;
pub mod server_limits;
pub mod timestamps;
mod token;
mod urls;
pub mod validate;

pub use budget::FleetBudget;
pub use client::{ClientStats, SourceClient, SourceError};
pub use crawl::{CrawlStep, next_steps, start_requests};
pub use page::{FetchedPage, PageRequest, endpoint};
pub use urls::UrlError;
pub use validate::{PageQuality, Rejection, validate_page};
