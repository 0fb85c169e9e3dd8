//! GitHub, Jira and Jenkins, one vertical slice each: a source's folder
//! (`github/`, `jira/`, `jenkins/`) holds everything that knows its payloads,
//! side by side:
//!
//! - `models.rs`: the typed (serde) records, timestamps converted to UTC;
//! - `schema.rs`: per endpoint, the fields a record must hold (else it is
//!   rejected) and the fields the real API sends (any other is counted as
//!   schema drift), with their tests;
//! - `crawl.rs`: which requests a task starts with and what follows from a
//!   page (pure, so extract can checkpoint between pages);
//! - `normalize.rs`: that source's bronze pages → silver records
//!   (`dorafleet_warehouse::SilverBatch`).
//!
//! Shared by all of them: HTTP with rate budgets and server pauses
//! (`client`), a source's several credentials and the choice between them
//! (`credentials`), the crawl dispatch and helpers (`crawl`), the generic
//! validation machinery and the endpoint → schema lookup (`validate`), the
//! normalizers' trait and helpers (`normalize`), and the endpoint names
//! (`endpoint`).
//! The same code talks to the real APIs and to the project's simulator; only
//! the base URL differs.
//!
//! # Adding a field to a source
//!
//! In the source's folder, e.g. `jira/`:
//!
//! 1. `models.rs`: the field on the record (`#[serde(default)]` and an
//!    `Option` unless every record has it).
//! 2. `schema.rs`: in the endpoint's `known` list (or `known_in_fields` for a
//!    Jira `fields` key) if the real API sends it but it is not listed yet,
//!    and in `required` if a record without it must be rejected; add or
//!    extend the test there.
//! 3. `crawl.rs`, where the request names the fields it wants: Jira's
//!    `SEARCH_FIELDS`, Jenkins' `BUILD_FIELDS` (GitHub sends everything).
//! 4. `normalize.rs`: read it into the silver record.
//!
//! Then the simulator, so that tests and local runs see it: the record in
//! `dorafleet-sim`'s `model.rs`, its value in `generate/<source>.rs`, and
//! the JSON it is served as in `http/<source>.rs` (and `truth/` if it
//! changes the expected metrics).
//!
//! Only if the field must be stored in silver: the record in
//! `dorafleet-warehouse`'s `silver.rs`, both backends (`sqlite/silver.rs`
//! with a new migration appended in `sqlite/schema.rs`, `mongo/silver.rs`)
//! and the contract suite (`contract/silver.rs`).
//!
//! # Adding a source
//!
//! 1. Core: the variant of `Source` in `dorafleet-core`'s `model.rs` (and
//!    `Source::ALL`, `as_str`); in `config/mod.rs`, its `SourcesConfig`
//!    entry (with `get`/`get_mut`), the targets field of `TeamConfig` (with
//!    `targets`) and the identity aliases of `IdentityConfig` (matched in
//!    `contributor_id`).
//! 2. Here: a new folder with `mod.rs`, `models.rs`, `schema.rs`
//!    (`endpoint_schema`), `crawl.rs` (`start_request(s)`, `next_steps`) and
//!    `normalize.rs` (its `Normalizer`, a `ScopeNormalizer`); its `pub mod`
//!    below; its endpoint names in `page::endpoint`; its arms in
//!    `crawl::start_requests`, `crawl::next_steps` and
//!    `normalize::normalizer`, in `validate`'s schema lookup, and in the
//!    client's `default_headers`.
//! 3. The simulator (`dorafleet-sim`): its `Endpoint`s (`endpoint.rs`), the
//!    records in `model.rs`, a generator `generate/<source>.rs`, handlers
//!    `http/<source>.rs` with their routes in `server.rs`, and its arms for
//!    error bodies and rate limits (`http/mod.rs`) and fault scoping
//!    (`faults/mod.rs`).
//!
//! The compiler lists whatever else matches on `Source` exhaustively.

#![warn(missing_docs, unreachable_pub)]

mod budget;
mod client;
mod crawl;
mod credentials;
pub mod github;
pub mod jenkins;
pub mod jira;
mod limiter;
pub mod link;
mod normalize;
mod page;
pub mod server_limits;
pub mod timestamps;
mod token;
mod urls;
pub mod validate;

pub use budget::FleetBudget;
pub use client::{ClientStats, SourceClient, SourceError};
pub use crawl::{
    CrawlStep, Watch, next_steps, next_steps_watching, start_requests, start_requests_watching,
};
pub use credentials::{AppTokenError, schedule_name};
pub use normalize::{ScopeNormalizer, normalizer};
pub use page::{FetchedPage, PageRequest, Validators, endpoint};
pub use urls::UrlError;
pub use validate::{PageQuality, Rejection, validate_page};
