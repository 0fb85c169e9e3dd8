//! Building a source's client from its configuration: the base URL and
//! timeout checked, the token file opened, the rate gate and the HTTP
//! client (with the origin rule on redirects) set up — everything that can
//! be wrong with the configuration fails here, at start, not on a request.

use super::response::same_origin_redirects;
use super::{ClientStats, Inner, SourceClient, USER_AGENT};
use crate::credentials::{
    AppInstallation, AppTokenError, Credential, CredentialPool, SecretSource, schedule_name,
};
use crate::limiter::RateGate;
use crate::token::{TokenFile, TokenSource};
use dorafleet_core::config::CredentialKind;
use dorafleet_core::{Source, SourceConfig};
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use std::sync::{Arc, Mutex};

/// How long after it leaves a request may still reach the server.
///
/// A request the network holds back (a cut link, a partition) would
/// otherwise sit in its socket and be retransmitted when the link comes
/// back: seconds after its fleet slot, into a second whose slots other
/// workers have used, so the server would count more than the budget. So a
/// connection whose written data the server's TCP has not acknowledged
/// within this limit is dropped by the kernel with the request in it
/// (`TCP_USER_TIMEOUT`), and a connection not set up within it is given up;
/// either way the attempt fails as a transport error and is retried later,
/// with a new slot. A healthy server acknowledges within a round trip,
/// however long it then takes to answer, so only a link that loses every
/// packet for two seconds drops a request.
const DELIVERY_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `base_url` does not parse, or is not `http(s)://` with a host.
    #[error("{system}: base URL `{url}` is invalid: {reason}")]
    InvalidBaseUrl {
        /// The source being configured.
        system: Source,
        /// The configured base URL, as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configured `token_file` cannot be read, or holds no token.
    #[error("{system}: cannot read token file {path}: {reason}")]
    TokenFile {
        /// The source being configured.
        system: Source,
        /// The token file's path, as configured.
        path: String,
        /// The I/O or parse error.
        reason: String,
    },
    /// A GitHub App credential's private key cannot be used.
    #[error("{system}: credential `{credential}`: {source}")]
    AppKey {
        /// The source being configured.
        system: Source,
        /// The credential's name.
        credential: String,
        /// What is wrong with the key.
        source: AppTokenError,
    },
    /// A setting is out of range (e.g. `timeout_ms` of 0).
    #[error("{system}: invalid configuration: {reason}")]
    InvalidConfig {
        /// The source being configured.
        system: Source,
        /// Which setting, and why.
        reason: String,
    },
    /// `reqwest` could not build its client (usually TLS initialisation).
    #[error("{system}: cannot build the HTTP client (TLS initialisation?): {reason}")]
    HttpClient {
        /// The source being configured.
        system: Source,
        /// The builder's error.
        reason: String,
    },
}

impl SourceClient {
    /// A client of `source` from its configuration: checks the base URL
    /// (`http(s)://` with a host) and `timeout_ms`, opens every credential's
    /// token file or GitHub App key (see
    /// [`SourceConfig::effective_credentials`]), and sets up each
    /// credential's rate gate at its `requests_per_second`. Sends no request.
    pub fn new(source: Source, config: &SourceConfig) -> Result<SourceClient, SourceError> {
        let base_url = match config.base_url.scheme() {
            "http" | "https" if config.base_url.has_host() => config.base_url.clone(),
            _ => {
                return Err(SourceError::InvalidBaseUrl {
                    system: source,
                    url: config.base_url.to_string(),
                    reason: "expected an http:// or https:// URL with a host".to_owned(),
                });
            }
        };
        let invalid = |reason: &str| SourceError::InvalidConfig {
            system: source,
            reason: reason.to_owned(),
        };
        if config.timeout.is_zero() {
            return Err(invalid("timeout_ms must be at least 1"));
        }
        if config.max_pages_per_task == 0 {
            return Err(invalid("max_pages_per_task must be at least 1"));
        }
        if !(1..=dorafleet_core::config::MAX_REQUESTS_IN_FLIGHT_PER_TASK)
            .contains(&config.requests_in_flight_per_task)
        {
            return Err(invalid(&format!(
                "requests_in_flight_per_task must be between 1 and {}",
                dorafleet_core::config::MAX_REQUESTS_IN_FLIGHT_PER_TASK
            )));
        }
        if config.max_response_bytes == 0 {
            return Err(invalid("max_response_bytes must be at least 1"));
        }
        let mut members = Vec::new();
        for credential in config.effective_credentials() {
            let secret = match credential.kind {
                CredentialKind::Anonymous => SecretSource::Token(TokenSource::None),
                CredentialKind::Token(secret) => SecretSource::Token(TokenSource::Fixed(secret)),
                CredentialKind::TokenFile(path) => {
                    SecretSource::Token(TokenSource::File(TokenFile::open(&path).map_err(|e| {
                        SourceError::TokenFile {
                            system: source,
                            path: path.display().to_string(),
                            reason: e.to_string(),
                        }
                    })?))
                }
                CredentialKind::GithubApp {
                    app_id,
                    installation_id,
                    private_key_file,
                } => SecretSource::App(Box::new(
                    AppInstallation::open(app_id, installation_id, &private_key_file).map_err(
                        |e| SourceError::AppKey {
                            system: source,
                            credential: credential.name.clone(),
                            source: e,
                        },
                    )?,
                )),
            };
            members.push(Credential {
                schedule: schedule_name(source, &credential.name),
                name: credential.name,
                secret,
                user: credential.user,
                gate: RateGate::new(credential.requests_per_second),
            });
        }
        if members.is_empty() {
            return Err(invalid(
                "credentials lists no usable credential (run `dorafleet config check`)",
            ));
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(default_headers(source))
            .timeout(config.timeout)
            .connect_timeout(DELIVERY_LIMIT)
            .tcp_user_timeout(DELIVERY_LIMIT)
            .redirect(same_origin_redirects(&base_url))
            .build()
            .map_err(|e| SourceError::HttpClient {
                system: source,
                reason: e.to_string(),
            })?;
        Ok(SourceClient {
            inner: Arc::new(Inner {
                source,
                base_url,
                http,
                pool: CredentialPool::new(members),
                max_pages_per_task: config.max_pages_per_task,
                requests_in_flight_per_task: config.requests_in_flight_per_task,
                max_response_bytes: config.max_response_bytes,
                conditional_requests: config.conditional_requests,
                fleet: std::sync::OnceLock::new(),
                stats: Mutex::new(ClientStats::default()),
            }),
        })
    }
}

fn default_headers(source: Source) -> HeaderMap {
    let mut headers = HeaderMap::new();
    match source {
        Source::Github => {
            headers.insert(
                ACCEPT,
                HeaderValue::from_static("application/vnd.github+json"),
            );
            headers.insert(
                "x-github-api-version",
                HeaderValue::from_static("2022-11-28"),
            );
        }
        Source::Jira | Source::Jenkins => {
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_without_http_is_refused() {
        let config = SourceConfig::with_base_url("ftp://example.com", 5);
        let err = SourceClient::new(Source::Jira, &config).unwrap_err();
        assert!(matches!(err, SourceError::InvalidBaseUrl { .. }), "{err}");
        assert!(err.to_string().contains("ftp://example.com"), "{err}");
    }

    #[test]
    fn an_unreadable_token_file_is_refused_at_start() {
        let mut config = SourceConfig::with_base_url("https://api.github.com", 5);
        config.token_file = Some("/nonexistent/dorafleet-token".into());
        let err = SourceClient::new(Source::Github, &config).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/dorafleet-token"),
            "{err}"
        );
    }
}
