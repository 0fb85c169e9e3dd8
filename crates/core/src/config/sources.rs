//! The source sections: where each API is, how to authenticate, and the
//! request budget, timeout and page size each request obeys.

use crate::model::Source;
use crate::secret::Secret;
use serde::Deserialize;
use std::num::NonZeroU32;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {
    pub github: SourceConfig,
    pub jira: SourceConfig,
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
    pub fn get(&self, source: Source) -> &SourceConfig {
        match source {
            Source::Github => &self.github,
            Source::Jira => &self.jira,
            Source::Jenkins => &self.jenkins,
        }
    }

    pub fn get_mut(&mut self, source: Source) -> &mut SourceConfig {
        match source {
            Source::Github => &mut self.github,
            Source::Jira => &mut self.jira,
            Source::Jenkins => &mut self.jenkins,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    pub base_url: String,
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
    pub timeout_ms: u64,
    pub page_size: u32,
}

impl SourceConfig {
    /// A source at `base_url` with a budget of `requests_per_second`, for
    /// built-in defaults and tests (configuration files go through serde).
    ///
    /// # Panics
    /// When `requests_per_second` is 0: no budget of zero requests exists.
    pub fn with_base_url(base_url: &str, requests_per_second: u32) -> Self {
        let requests_per_second = NonZeroU32::new(requests_per_second)
            .expect("a request budget of at least 1 per second");
        SourceConfig {
            base_url: base_url.into(),
            token: None,
            token_file: None,
            user: None,
            requests_per_second,
            timeout_ms: 30_000,
            page_size: 100,
        }
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig::with_base_url("http://localhost", 10)
    }
}
