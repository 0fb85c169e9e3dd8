//! The operator token: operator actions (releasing a hold, replaying dead
//! letters) need `Authorization: Bearer <token>` equal to the token in
//! `[serve] token_file`. The file is read like the sources' token files: its
//! content trimmed, registered as a secret (so no log or error ever shows
//! it), and read again when it changes, so a rotated token works without a
//! restart. Without a token file every operator action is refused (403);
//! the read-only API needs no token.

use crate::AppState;
use crate::error::Problem;
use axum::http::HeaderMap;
use dorafleet_core::Secret;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Who operator actions through the API are audited as.
pub const ACTOR: &str = "serve";

/// The operator token: fixed (tests, a token given in code) or a file
/// re-read when it changes.
#[derive(Debug)]
pub struct OperatorToken {
    source: TokenSource,
}

#[derive(Debug)]
enum TokenSource {
    Fixed(Secret),
    File {
        path: PathBuf,
        cached: Mutex<Option<(FileStamp, Secret)>>,
    },
}

/// What tells a change of the token file without reading it: its
/// modification time and length.
type FileStamp = (Option<SystemTime>, u64);

/// Why the token file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the operator token file {path} (serve.token_file): {reason}")]
pub struct TokenFileError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

impl OperatorToken {
    /// A fixed token (registered as a secret).
    pub fn fixed(token: &str) -> Self {
        OperatorToken {
            source: TokenSource::Fixed(Secret::new(token.trim())),
        }
    }

    /// The token in `path`, read now (an unreadable or empty file fails at
    /// start) and again whenever the file changes.
    pub fn from_file(path: &Path) -> Result<Self, TokenFileError> {
        let token = OperatorToken {
            source: TokenSource::File {
                path: path.to_owned(),
                cached: Mutex::new(None),
            },
        };
        token.current()?;
        Ok(token)
    }

    /// The token to compare with now.
    fn current(&self) -> Result<Secret, TokenFileError> {
        match &self.source {
            TokenSource::Fixed(secret) => Ok(secret.clone()),
            TokenSource::File { path, cached } => {
                let fail = |reason: String| TokenFileError {
                    path: path.display().to_string(),
                    reason,
                };
                let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
                let stamp = (meta.modified().ok(), meta.len());
                let mut cached = cached.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((_, secret)) = cached.as_ref().filter(|(seen, _)| *seen == stamp) {
                    return Ok(secret.clone());
                }
                let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
                let secret = Secret::new(text.trim());
                if secret.is_empty() {
                    return Err(fail("the file is empty".into()));
                }
                *cached = Some((stamp, secret.clone()));
                Ok(secret)
            }
        }
    }
}

/// Let an operator action through when the request carries the configured
/// bearer token: 403 when none is configured, 401 without it or with
/// another one. Returns who the action is audited as.
pub fn require_operator(state: &AppState, headers: &HeaderMap) -> Result<&'static str, Problem> {
    let Some(token) = &state.operator_token else {
        return Err(Problem::forbidden(
            "operator actions are disabled: no operator token is configured. Put a token in a \
             file and name it in `[serve] token_file` (or DORAFLEET_SERVE__TOKEN_FILE), restart \
             `dorafleet serve`, then send `Authorization: Bearer <token>`",
        ));
    };
    let expected = token.current().map_err(|e| {
        Problem::forbidden(format!(
            "operator actions are disabled: {e}; fix the file and try again"
        ))
    })?;
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let Some(given) = given else {
        return Err(Problem::unauthorized(
            "this is an operator action: send `Authorization: Bearer <token>` with the token of \
             `[serve] token_file`",
        ));
    };
    let bearer = given
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match bearer {
        Some(t) if constant_time_eq(t.as_bytes(), expected.expose().as_bytes()) => Ok(ACTOR),
        Some(_) => Err(Problem::unauthorized(
            "the bearer token is not the operator token of `[serve] token_file`",
        )),
        None => Err(Problem::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

/// Compare without returning early on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_token_file_is_read_again_and_an_empty_one_is_refused() {
        let dir =
            std::env::temp_dir().join(format!("dorafleet-serve-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first-token\n").unwrap();
        let token = OperatorToken::from_file(&path).unwrap();
        assert_eq!(token.current().unwrap().expose(), "first-token");
        std::fs::write(&path, "the-second-token-is-longer\n").unwrap();
        assert_eq!(
            token.current().unwrap().expose(),
            "the-second-token-is-longer"
        );
        std::fs::write(&path, "  \n").unwrap();
        assert!(OperatorToken::from_file(&path).is_err());
        assert!(OperatorToken::from_file(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
