//! A GitHub App installation as a credential: installation tokens minted
//! from the app's private key, cached, and replaced before they expire.
//!
//! An installation token lives an hour (`expires_at` says exactly); its
//! quota grows with the organisation, unlike a user's token. The token is
//! asked for at `POST {base}/app/installations/{id}/access_tokens` with a
//! JWT the app signs (see `jwt.rs`), kept until [`REFRESH_BEFORE`] its
//! expiry (a quarter of its life for short-lived ones), and forgotten when
//! the server refuses it (401), so the request is sent once more with a new
//! one. The private key is read at start (a missing or foreign key fails
//! there) and never shown. A rotated key is picked up without a restart:
//! before each mint the key file's stamp (modification time and length) is
//! compared with the one read, and a changed file is read again. A file
//! that changed into something that is not a key (caught half-written)
//! leaves the key in hand in use, with a warning, until it is fixed.

use super::jwt::mint_app_jwt;
use crate::token::FileStamp;
use crate::urls::resolve;
use chrono::{DateTime, Utc};
use dorafleet_core::{Secret, TaskError};
use openssl::pkey::{PKey, Private};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long before its `expires_at` an installation token is replaced.
pub(crate) const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// Why a GitHub App credential cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AppTokenError {
    /// The private key file cannot be read.
    #[error("cannot read the GitHub App private key {path}: {reason} (check private_key_file)")]
    KeyFile {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The file holds no RSA private key in PEM.
    #[error(
        "the GitHub App private key {path} is not an RSA private key in PEM (download a new one from the app's settings)"
    )]
    NotAnRsaKey {
        /// The configured path.
        path: PathBuf,
    },
}

/// The app's private key; shown as `***`.
struct AppKey(PKey<Private>);

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(***)")
    }
}

/// A token in hand and when to replace it.
#[derive(Debug, Clone)]
struct Installed {
    token: Secret,
    refresh_at: DateTime<Utc>,
}

/// The key in hand, and the stamp of the file it was read from.
#[derive(Debug)]
struct LoadedKey {
    stamp: FileStamp,
    key: AppKey,
    /// The stamp of a changed file that held no key, warned about once.
    refused: Option<FileStamp>,
}

/// One installation of a GitHub App (see the module docs).
#[derive(Debug)]
pub(crate) struct AppInstallation {
    app_id: u64,
    installation_id: u64,
    key_file: PathBuf,
    key: std::sync::Mutex<LoadedKey>,
    /// Held while a token is minted, so concurrent requests mint one.
    cached: tokio::sync::Mutex<Option<Installed>>,
}

#[derive(serde::Deserialize)]
struct AccessToken {
    token: String,
    expires_at: DateTime<Utc>,
}

impl AppInstallation {
    /// Reads the private key; mints nothing yet.
    pub(crate) fn open(
        app_id: u64,
        installation_id: u64,
        key_file: &Path,
    ) -> Result<AppInstallation, AppTokenError> {
        let (stamp, key) = read_key(key_file)?;
        Ok(AppInstallation {
            app_id,
            installation_id,
            key_file: key_file.to_owned(),
            key: std::sync::Mutex::new(LoadedKey {
                stamp,
                key,
                refused: None,
            }),
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// The key to sign with now: read again when the file changed since it
    /// was read (see the module docs).
    fn signing_key(&self) -> PKey<Private> {
        let mut loaded = self.key.lock().unwrap_or_else(|p| p.into_inner());
        let now = FileStamp::of(&self.key_file).ok();
        if let Some(stamp) = now.filter(|s| *s != loaded.stamp && Some(*s) != loaded.refused) {
            match read_key(&self.key_file) {
                Ok((stamp, key)) => {
                    tracing::info!(app_id = self.app_id, path = %self.key_file.display(),
                        "GitHub App private key changed on disk; new tokens are minted with the new key");
                    *loaded = LoadedKey {
                        stamp,
                        key,
                        refused: None,
                    };
                }
                Err(e) => {
                    tracing::warn!(app_id = self.app_id, error = %e,
                        "the GitHub App private key file changed but holds no usable key; \
                         minting with the key read before until it does");
                    loaded.refused = Some(stamp);
                }
            }
        }
        loaded.key.0.clone()
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "GitHub App {} installation {}",
            self.app_id, self.installation_id
        )
    }

    /// The installation token to send now, minted when there is none or it
    /// is due for replacement.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        base_url: &reqwest::Url,
    ) -> Result<Secret, TaskError> {
        let mut cached = self.cached.lock().await;
        if let Some(installed) = cached.as_ref().filter(|i| Utc::now() < i.refresh_at) {
            return Ok(installed.token.clone());
        }
        let installed = self.mint(http, base_url).await?;
        let token = installed.token.clone();
        *cached = Some(installed);
        Ok(token)
    }

    /// Forgets `used` if it is still the token in hand (another request
    /// may have replaced it already, or be minting right now). Asking again
    /// always gets a token minted after `used` was refused.
    pub(crate) fn forget(&self, used: &Secret) -> bool {
        if let Ok(mut cached) = self.cached.try_lock()
            && cached.as_ref().is_some_and(|i| &i.token == used)
        {
            *cached = None;
        }
        true
    }

    async fn mint(
        &self,
        http: &reqwest::Client,
        base_url: &reqwest::Url,
    ) -> Result<Installed, TaskError> {
        let what = format!(
            "github POST /app/installations/{}/access_tokens",
            self.installation_id
        );
        let jwt = mint_app_jwt(&self.signing_key(), self.app_id, Utc::now())
            .map_err(|e| TaskError::permanent_from(format!("{what}: cannot sign the JWT"), e))?;
        let jwt = Secret::new(jwt);
        let url = resolve(
            base_url,
            &format!("/app/installations/{}/access_tokens", self.installation_id),
        )
        .map_err(|e| TaskError::permanent_from(what.clone(), e))?;
        let response = http
            .post(url)
            .bearer_auth(jwt.expose())
            .send()
            .await
            .map_err(|e| TaskError::transient_from(format!("{what}: no answer"), e))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let body = dorafleet_core::secret::scrub_owned(body);
        if !status.is_success() {
            let excerpt: String = body.chars().take(300).collect();
            let message = format!(
                "{what}: HTTP {status}: {excerpt} (check app_id {}, installation_id {} and private_key_file of the credential)",
                self.app_id, self.installation_id
            );
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                TaskError::transient(message)
            } else {
                TaskError::permanent(message)
            });
        }
        let answer: AccessToken = serde_json::from_str(&body).map_err(|e| {
            TaskError::permanent_from(format!("{what}: the answer is not an access token"), e)
        })?;
        let now = Utc::now();
        let life = (answer.expires_at - now).to_std().unwrap_or_default();
        let early = REFRESH_BEFORE.min(life / 4);
        tracing::info!(
            app_id = self.app_id,
            installation_id = self.installation_id,
            expires_at = %answer.expires_at,
            "GitHub App installation token minted"
        );
        Ok(Installed {
            token: Secret::new(answer.token),
            refresh_at: answer.expires_at - chrono::Duration::from_std(early).unwrap_or_default(),
        })
    }
}

/// Reads and parses the private key at `path`, with the stamp of the file
/// read (taken first: a write after it changes the stamp again).
fn read_key(path: &Path) -> Result<(FileStamp, AppKey), AppTokenError> {
    let unreadable = |e: std::io::Error| AppTokenError::KeyFile {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let stamp = FileStamp::of(path).map_err(unreadable)?;
    let pem = std::fs::read_to_string(path).map_err(unreadable)?;
    // Registered, so that a text quoting the key is scrubbed.
    let pem = Secret::new(pem);
    let key = PKey::private_key_from_pem(pem.expose().as_bytes())
        .ok()
        .filter(|k| k.rsa().is_ok())
        .ok_or_else(|| AppTokenError::NotAnRsaKey {
            path: path.to_owned(),
        })?;
    Ok((stamp, AppKey(key)))
}
