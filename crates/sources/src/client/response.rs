//! What a response may be, whatever the server does: redirects followed
//! only within the configured origin, a body never read beyond its limit,
//! the request's own credentials redacted from what an error quotes, and
//! transport failures classified. Kept apart from the client so the rules
//! of trust on one answer read in one place.

use dorafleet_core::TaskError;
use reqwest::Url;

/// Longest body excerpt quoted in an error message.
pub(super) const EXCERPT_CHARS: usize = 200;

/// Redirects followed in a row within the configured origin.
pub(super) const MAX_REDIRECTS: usize = 5;

/// Why the client refused to follow a redirect. Carried as the cause of the
/// reqwest error, so that [`transport_error`] can tell it apart.
#[derive(Debug, thiserror::Error)]
pub(super) enum RedirectRefusal {
    /// The same rule as for `Link` targets (see `urls::resolve`): the token
    /// goes with every request, and an answer from elsewhere is not the
    /// source's.
    #[error(
        "refusing a redirect to {found}: not the configured origin {expected}; the answer is neither read nor stored"
    )]
    ForeignOrigin {
        /// The origin the redirect points at.
        found: String,
        /// The origin of the configured base URL.
        expected: String,
    },
    /// Redirects within the origin that do not end.
    #[error("more than {MAX_REDIRECTS} redirects in a row, last to {last}")]
    TooMany {
        /// The last redirect target.
        last: String,
    },
}

/// Follows redirects only within `base`'s origin (scheme, host and port),
/// at most [`MAX_REDIRECTS`] in a row; any other hop fails the request.
pub(super) fn same_origin_redirects(base: &Url) -> reqwest::redirect::Policy {
    let expected = base.origin();
    reqwest::redirect::Policy::custom(move |attempt| {
        let found = attempt.url().origin();
        if found != expected {
            let refusal = RedirectRefusal::ForeignOrigin {
                found: found.ascii_serialization(),
                expected: expected.ascii_serialization(),
            };
            attempt.error(refusal)
        } else if attempt.previous().len() > MAX_REDIRECTS {
            let last = attempt.url().to_string();
            attempt.error(RedirectRefusal::TooMany { last })
        } else {
            attempt.follow()
        }
    })
}

/// Reads at most `limit` bytes of `response`'s body. The flag says the body
/// held more: reading stopped there, and the rest was never received into
/// memory (at most one network chunk beyond the limit is seen).
pub(super) async fn read_at_most(
    response: &mut reqwest::Response,
    limit: u64,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let expected = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(expected.min(limit).min(1 << 20));
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The credentials of one request, as they could come back in a body that
/// echoes the request (the token itself, and the `Authorization` value,
/// e.g. Basic's base64 of `user:token`).
pub(super) struct Secrets(Vec<String>);

impl Secrets {
    pub(super) fn of(token: Option<&str>, authorization: Option<&str>) -> Secrets {
        let mut secrets = Vec::new();
        let mut add = |s: &str| {
            let s = s.trim();
            if !s.is_empty() {
                secrets.push(s.to_owned());
                // JSON may escape `/` (base64 has them).
                if s.contains('/') {
                    secrets.push(s.replace('/', "\\/"));
                }
            }
        };
        if let Some(token) = token {
            add(token);
        }
        if let Some(value) = authorization {
            add(value
                .split_once(' ')
                .map_or(value, |(_, credentials)| credentials));
        }
        // Longest first, so that a secret inside another is not half-replaced.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Secrets(secrets)
    }

    pub(super) fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.0 {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        text
    }
}

/// Timeouts, refused connections and cut-off bodies are worth retrying; a
/// request reqwest could not even build is not.
/// The reqwest error is kept as the cause: its chain names what really failed
/// (DNS, TLS, a refused connection), which its own message often does not.
/// A redirect the client refused (to another origin, or one too many) is
/// permanent: the server answers the same way next time.
pub(super) fn transport_error(what: &str, error: reqwest::Error, base: &Url) -> TaskError {
    if error.is_builder() {
        return TaskError::permanent_from(format!("{what}: cannot build request"), error);
    }
    if error.is_redirect() {
        let mut cause = std::error::Error::source(&error);
        while let Some(e) = cause {
            if let Some(refusal) = e.downcast_ref::<RedirectRefusal>() {
                let message = format!("{what}: {refusal}");
                return TaskError::permanent_from(message, error);
            }
            cause = e.source();
        }
        let origin = base.origin().ascii_serialization();
        return TaskError::permanent_from(
            format!("{what}: redirect refused (configured origin {origin})"),
            error,
        );
    }
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    TaskError::transient_from(format!("{what}: {kind}"), error)
}

/// `: <first 200 characters of the body, whitespace collapsed>`, or nothing.
pub(super) fn excerpt(body: &str) -> String {
    let collapsed = dorafleet_core::secret::scrub(body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if collapsed.is_empty() {
        return String::new();
    }
    let mut cut: String = collapsed.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < collapsed.len() {
        cut.push('…');
    }
    format!(": {cut}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_in_error_messages() {
        let body = "x ".repeat(500);
        let shown = excerpt(&body);
        assert!(shown.chars().count() < 210, "{}", shown.len());
        assert!(shown.ends_with('…'));
        assert_eq!(excerpt("  \n"), "");
    }
}
