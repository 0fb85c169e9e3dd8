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
    /// The API token; ignored when `token_file` is set. With `token_file`,
    /// the source's one credential, named [`DEFAULT_CREDENTIAL`]; refused
    /// beside `credentials`.
    pub token: Option<Secret>,
    /// Read before every request batch and re-read when the file changes, so a
    /// rotated token is picked up without a restart.
    pub token_file: Option<PathBuf>,
    /// Several credentials (`sources.<source>.credentials`), each with its
    /// own fleet-wide budget; requests go to whichever has the earliest free
    /// slot. Empty: the one credential of `token` / `token_file`.
    pub credentials: Vec<CredentialConfig>,
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
    /// Requests one extract task keeps in flight (1–64): requests already
    /// queued (child lists, other lists) are fetched while the pages before
    /// them are stored; pages are still stored and checkpointed in order.
    /// Every request still takes its slot of `requests_per_second`, so this
    /// speeds up a crawl only where the budget leaves room. 1 fetches one
    /// request at a time.
    pub requests_in_flight_per_task: u32,
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

/// The name of the credential `token` / `token_file` make.
pub const DEFAULT_CREDENTIAL: &str = "default";

/// One credential of a source (an entry of `sources.<source>.credentials`):
/// a token, a token file, or a GitHub App installation. Each has a budget of
/// its own, because the server counts each one's quota apart.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// Names its fleet-wide schedule and its share of the request log; not a
    /// secret (e.g. `ci-bot-1`). Letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// The token itself (never logged).
    pub token: Option<Secret>,
    /// A file holding the token, re-read when it changes.
    pub token_file: Option<PathBuf>,
    /// GitHub App: the app's id; with `installation_id` and
    /// `private_key_file`, installation tokens are minted and refreshed.
    pub app_id: Option<u64>,
    /// GitHub App: the installation on the organisation.
    pub installation_id: Option<u64>,
    /// GitHub App: the app's private key (PEM, PKCS#1 or PKCS#8), read
    /// again before a mint when the file changed (a rotated key).
    pub private_key_file: Option<PathBuf>,
    /// This credential's own budget; default: the source's
    /// `requests_per_second`.
    pub requests_per_second: Option<NonZeroU32>,
    /// Basic-auth user of this token (Jira's e-mail, a Jenkins user);
    /// default: the source's `user`.
    pub user: Option<String>,
}

/// Where a credential's secret comes from, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    /// Sent as configured.
    Token(Secret),
    /// Read from a file, again whenever it changes.
    TokenFile(PathBuf),
    /// Minted from a GitHub App's key for one installation.
    GithubApp {
        /// The app's id (the JWT's issuer).
        app_id: u64,
        /// The installation whose tokens are minted.
        installation_id: u64,
        /// The app's PEM private key.
        private_key_file: PathBuf,
    },
    /// No credential: unauthenticated requests.
    Anonymous,
}

/// One credential as the client uses it: its name, secret and budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Its name (see [`CredentialConfig::name`]).
    pub name: String,
    /// Where its secret comes from.
    pub kind: CredentialKind,
    /// Its own budget.
    pub requests_per_second: NonZeroU32,
    /// The basic-auth user sent with it; `None`: a bearer token.
    pub user: Option<String>,
}

impl CredentialConfig {
    /// What this entry is, or why it is none (for `validate`).
    pub fn kind(&self) -> Result<CredentialKind, &'static str> {
        let app = [
            self.app_id.is_some(),
            self.installation_id.is_some(),
            self.private_key_file.is_some(),
        ];
        let token = self.token.as_ref().filter(|t| !t.is_empty());
        match (token, &self.token_file, app) {
            (Some(t), None, [false, false, false]) => Ok(CredentialKind::Token(t.clone())),
            (None, Some(f), [false, false, false]) => Ok(CredentialKind::TokenFile(f.clone())),
            (None, None, [true, true, true]) => Ok(CredentialKind::GithubApp {
                app_id: self.app_id.unwrap_or_default(),
                installation_id: self.installation_id.unwrap_or_default(),
                private_key_file: self.private_key_file.clone().unwrap_or_default(),
            }),
            (None, None, [false, false, false]) => {
                Err("needs one of token, token_file or app_id + installation_id + private_key_file")
            }
            (None, None, _) => {
                Err("needs all three of app_id, installation_id and private_key_file")
            }
            _ => Err("has more than one of token, token_file and a GitHub App; keep one"),
        }
    }
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

/// Default of `sources.<source>.requests_in_flight_per_task`: enough to keep
/// a crawl busy while its pages are stored, few enough that a fleet stays
/// far below GitHub's limit on concurrent requests (100).
pub const DEFAULT_REQUESTS_IN_FLIGHT_PER_TASK: u32 = 4;

/// The most `sources.<source>.requests_in_flight_per_task` accepts.
pub const MAX_REQUESTS_IN_FLIGHT_PER_TASK: u32 = 64;

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
            credentials: Vec::new(),
            user: None,
            requests_per_second,
            timeout: Duration::from_secs(30),
            page_size: 100,
            max_pages_per_task: DEFAULT_MAX_PAGES_PER_TASK,
            requests_in_flight_per_task: DEFAULT_REQUESTS_IN_FLIGHT_PER_TASK,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            deploy_branches: vec!["main".to_owned(), "master".to_owned()],
            api: None,
            conditional_requests: true,
        }
    }
}

impl SourceConfig {
    /// The credentials requests are spread over: `credentials`, or else one
    /// named [`DEFAULT_CREDENTIAL`] from `token_file` / `token` (anonymous
    /// without either). Entries that [`Config::validate`](crate::Config)
    /// would refuse are left out.
    pub fn effective_credentials(&self) -> Vec<Credential> {
        if self.credentials.is_empty() {
            let kind = match (&self.token_file, &self.token) {
                (Some(path), _) => CredentialKind::TokenFile(path.clone()),
                (None, Some(token)) if !token.is_empty() => CredentialKind::Token(token.clone()),
                (None, _) => CredentialKind::Anonymous,
            };
            return vec![Credential {
                name: DEFAULT_CREDENTIAL.to_owned(),
                kind,
                requests_per_second: self.requests_per_second,
                user: self.user.clone().filter(|u| !u.is_empty()),
            }];
        }
        self.credentials
            .iter()
            .filter_map(|c| {
                let kind = c.kind().ok()?;
                // An installation token is a bearer token, whoever the user.
                let user = match kind {
                    CredentialKind::GithubApp { .. } => None,
                    _ => c.user.clone().or_else(|| self.user.clone()),
                };
                Some(Credential {
                    name: c.name.clone(),
                    kind,
                    requests_per_second: c.requests_per_second.unwrap_or(self.requests_per_second),
                    user: user.filter(|u| !u.is_empty()),
                })
            })
            .collect()
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig::with_base_url("http://localhost", 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn a_single_token_is_one_credential_named_default_at_the_source_rate() {
        let c = Config::from_toml("[sources.github]\ntoken = \"ghp_single_cred_1\"").unwrap();
        let creds = c.sources.github.effective_credentials();
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].name, DEFAULT_CREDENTIAL);
        assert!(
            matches!(&creds[0].kind, CredentialKind::Token(t) if t.expose() == "ghp_single_cred_1")
        );
        assert_eq!(creds[0].requests_per_second.get(), 10);
        let anonymous = Config::default().sources.jira.effective_credentials();
        assert_eq!(anonymous[0].kind, CredentialKind::Anonymous);
    }

    #[test]
    fn a_credential_list_keeps_its_names_and_its_own_rates() {
        let c = Config::from_toml(
            "[sources.github]\nrequests_per_second = 7\nuser = \"svc\"\ncredentials = [\n\
             { name = \"ci-bot-1\", token_file = \"/run/secrets/bot1\" },\n\
             { name = \"ci-bot-2\", token = \"ghp_list_cred_2\", requests_per_second = 3, user = \"bot2\" },\n\
             { name = \"app\", app_id = 12, installation_id = 34, private_key_file = \"/k.pem\" },\n]",
        )
        .unwrap();
        let creds = c.sources.github.effective_credentials();
        let names: Vec<_> = creds.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ci-bot-1", "ci-bot-2", "app"]);
        let rates: Vec<_> = creds.iter().map(|c| c.requests_per_second.get()).collect();
        assert_eq!(rates, [7, 3, 7]);
        let users: Vec<_> = creds.iter().map(|c| c.user.as_deref()).collect();
        assert_eq!(users, [Some("svc"), Some("bot2"), None]);
        assert_eq!(
            creds[2].kind,
            CredentialKind::GithubApp {
                app_id: 12,
                installation_id: 34,
                private_key_file: "/k.pem".into()
            }
        );
    }

    #[test]
    fn a_credential_list_given_as_one_environment_value_is_read() {
        // What `DORAFLEET_SOURCES__GITHUB__CREDENTIALS='[…]'` hands figment.
        let value: figment::value::Value =
            "[{name=\"env-1\", token=\"ghp_env_cred_1\"}, {name=\"env-2\", token_file=\"/t\", requests_per_second=2}]"
                .parse()
                .unwrap();
        let figment = figment::Figment::new().merge(figment::providers::Serialized::default(
            "sources.github.credentials",
            value,
        ));
        let c = Config::extract(figment).unwrap();
        let creds = c.sources.github.effective_credentials();
        assert_eq!(creds[0].name, "env-1");
        assert_eq!(creds[1].kind, CredentialKind::TokenFile("/t".into()));
        assert_eq!(creds[1].requests_per_second.get(), 2);
    }

    #[test]
    fn ambiguous_or_incomplete_credentials_are_refused_naming_the_entry() {
        for (text, key) in [
            ("credentials = [{ name = \"a\" }]", "credentials[0]"),
            (
                "credentials = [{ name = \"a\", token = \"tok_a_1\", token_file = \"/t\" }]",
                "credentials[0]",
            ),
            (
                "credentials = [{ name = \"a\", app_id = 1, private_key_file = \"/k\" }]",
                "credentials[0]",
            ),
            (
                "credentials = [{ name = \"a\", token = \"tok_a_1\" }, { name = \"a\", token = \"tok_a_2\" }]",
                "credentials[1].name",
            ),
            (
                "credentials = [{ name = \"has space\", token = \"tok_a_1\" }]",
                "credentials[0].name",
            ),
            (
                "token = \"tok_a_3\"\ncredentials = [{ name = \"a\", token = \"tok_a_1\" }]",
                "sources.github.credentials",
            ),
            (
                "credentials = [{ name = \"a\", token = \"tok_a_1\", requests_per_second = 0 }]",
                "requests_per_second",
            ),
        ] {
            let err = Config::from_toml(&format!("[sources.github]\n{text}")).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
        let err = Config::from_toml(
            "[sources.jira]\ncredentials = [{ name = \"a\", app_id = 1, installation_id = 2, private_key_file = \"/k\" }]",
        )
        .unwrap_err();
        assert!(err.to_string().contains("only `sources.github`"), "{err}");
    }
}
