//! The source sections: where each API is, how to authenticate, and the
//! request budget, timeout and page size each request obeys.

use crate::model::Source;
use crate::secret::Secret;
use serde::Deserialize;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The `[sources]` section: one [`SourceConfig`] per source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {
    /// `[sources.github]` (default base URL `https://api.github.com`).
    pub github: SourceConfig,
    /// `[sources.jira]` (the default base URL is a placeholder to replace).
    pub jira: SourceConfig,
    /// `[sources.jenkins]` (default base URL `http://localhost:8080`).
    pub jenkins: SourceConfig,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            github: SourceConfig::with_base_url("https://api.github.com", 10),
            jira: SourceConfig::with_base_url("https://your-domain.atlassian.net", 5),
            jenkins: SourceConfig::with_base_url("http://localhost:8080", 10),
        }
    }
}

impl SourcesConfig {
    /// The settings of `source`.
    pub fn get(&self, source: Source) -> &SourceConfig {
        match source {
            Source::Github => &self.github,
            Source::Jira => &self.jira,
            Source::Jenkins => &self.jenkins,
        }
    }

    /// The settings of `source`, to change them.
    pub fn get_mut(&mut self, source: Source) -> &mut SourceConfig {
        match source {
            Source::Github => &mut self.github,
            Source::Jira => &mut self.jira,
            Source::Jenkins => &mut self.jenkins,
        }
    }
}

/// One source's API: where it is, how to authenticate, and the limits
/// every request obeys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// The API's base URL (`http://` or `https://`).
    /// The API root: `https://api.github.com`, `https://HOST.atlassian.net`,
    /// a Jenkins URL. Parsed when the configuration is read.
    pub base_url: Url,
    /// The API token; ignored when `token_file` is set.
    pub token: Option<Secret>,
    /// Read before every request batch and re-read when the file changes, so a
    /// rotated token is picked up without a restart.
    pub token_file: Option<PathBuf>,
    /// Basic-auth user (Jira Cloud e-mail, Jenkins user); without it the token
    /// is sent as a bearer token.
    pub user: Option<String>,
    /// The request budget, for the whole fleet together (0 is refused when
    /// the configuration is read).
    pub requests_per_second: NonZeroU32,
    /// Timeout of each request, in ms (at least 1).
    /// How long one request may take (the `timeout_ms` key, in milliseconds).
    #[serde(rename = "timeout_ms", with = "crate::serde_time::millis")]
    pub timeout: Duration,
    /// Records asked for per page (clamped to 1–100).
    pub page_size: u32,
    /// Pages one extract task may fetch, over all its attempts (at least 1).
    /// A crawl that reaches it fails permanently: a list that never ends is
    /// a broken or hostile server, not data.
    pub max_pages_per_task: u32,
    /// Largest response body accepted, in bytes (at least 1). Enforced while
    /// the body streams in (and from `Content-Length` before), so a worker
    /// holds at most this much of one response; a larger answer fails the
    /// task permanently.
    pub max_response_bytes: u64,
    /// Jenkins only (ignored by the other sources): which branch jobs of a
    /// multibranch deploy job count as production deployments, as globs
    /// (`*` matches any run of characters, case-insensitively) on the
    /// branch name. Default `["main", "master"]`; `["*"]` counts every
    /// branch. Every branch job is read into bronze whatever this says, so
    /// changing it needs only a backfill from bronze.
    pub deploy_branches: Vec<String>,
    /// Jira only (`sources.jira.api`, ignored by the other sources): which
    /// Jira answers at `base_url` — `cloud` (REST v3, the enhanced search),
    /// `datacenter` (Data Center or Server: REST v2, `startAt`/`total`
    /// paging) or `auto` (unset: asked once per task from
    /// `/rest/api/2/serverInfo`, its `deploymentType`).
    pub api: Option<JiraApi>,
    /// Revalidate list pages stored by an earlier crawl instead of fetching
    /// them again (`If-None-Match` with the stored `ETag`, else
    /// `If-Modified-Since`): an unchanged page answers `304`, which GitHub
    /// does not count against its hourly quota, and its stored copy is
    /// reused. Default `true`; `false` sends every request unconditionally.
    pub conditional_requests: bool,
}

/// Which Jira a `[sources.jira]` is (`sources.jira.api`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JiraApi {
    /// Ask `/rest/api/2/serverInfo` (`deploymentType`) once per task.
    #[default]
    Auto,
    /// Jira Cloud: REST v3.
    Cloud,
    /// Jira Data Center or Server: REST v2.
    #[serde(alias = "server", alias = "data_center")]
    Datacenter,
}

/// Default of `sources.<source>.max_pages_per_task`.
pub const DEFAULT_MAX_PAGES_PER_TASK: u32 = 10_000;

/// Default of `sources.<source>.max_response_bytes`: 32 MiB, far above any
/// page of 100 records the three APIs send.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

impl SourceConfig {
    /// A source at `base_url` with a budget of `requests_per_second`, for
    /// built-in defaults and tests (configuration files go through serde).
    ///
    /// # Panics
    /// When `requests_per_second` is 0 (no budget of zero requests exists)
    /// or `base_url` does not parse.
    pub fn with_base_url(base_url: &str, requests_per_second: u32) -> Self {
        let requests_per_second = NonZeroU32::new(requests_per_second)
            .expect("a request budget of at least 1 per second");
        SourceConfig {
            base_url: Url::parse(base_url).expect("a base URL that parses"),
            token: None,
            token_file: None,
            user: None,
            requests_per_second,
            timeout: Duration::from_secs(30),
            page_size: 100,
            max_pages_per_task: DEFAULT_MAX_PAGES_PER_TASK,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            deploy_branches: vec!["main".to_owned(), "master".to_owned()],
            api: None,
            conditional_requests: true,
        }
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig::with_base_url("http://localhost", 10)
    }
}
