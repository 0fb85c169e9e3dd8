//! What a response that is not a page means: a rate limit (the credential
//! that heard it pauses, here and, through its schedule, in the whole
//! fleet), a transient failure, or a permanent one; and a refused token,
//! which the client may answer by minting a new one.

use super::SourceClient;
use super::response::excerpt;
use crate::credentials::Credential;
use crate::server_limits::{RateLimitHeaders, RateLimitRefusal};
use chrono::Utc;
use dorafleet_core::{Secret, TaskError};
use reqwest::StatusCode;
use std::time::Duration;

/// Why one send produced no page.
pub(super) enum Refused {
    /// 401: the token was refused; `used` is what was sent.
    Unauthorized {
        error: TaskError,
        used: Option<Secret>,
    },
    /// Anything else.
    Other(TaskError),
}

impl From<TaskError> for Refused {
    fn from(error: TaskError) -> Self {
        Refused::Other(error)
    }
}

impl SourceClient {
    /// Tell the rest of the fleet to hold back too (best effort: a failure
    /// only means other workers may hear the server's 429 themselves).
    pub(super) async fn pause_fleet(&self, credential: &Credential, pause: Duration) {
        if let Some(fleet) = self.inner.fleet.get() {
            let until = Utc::now() + chrono::Duration::from_std(pause).unwrap_or_default();
            if let Err(e) = fleet.pause_until(&credential.schedule, until).await {
                tracing::warn!(source = %self.inner.source, credential = %credential.name, error = %e,
                    "could not share a server pause with the fleet");
            }
        }
    }

    /// Classifies a response that is not a page.
    pub(super) fn refusal(
        &self,
        credential: &Credential,
        what: &str,
        status: StatusCode,
        limits: &RateLimitHeaders,
        now: chrono::DateTime<Utc>,
        body: &str,
    ) -> TaskError {
        let code = status.as_u16();
        match limits.refusal(self.inner.source, code, body, now) {
            RateLimitRefusal::Wait(wait) => {
                self.inner.lock_stats().server_pauses += 1;
                return self.pause(credential, what, code, wait);
            }
            RateLimitRefusal::NoTimeNamed => {
                self.inner.lock_stats().server_pauses += 1;
                return TaskError::transient(format!(
                    "{what}: HTTP {code} (rate limited, no Retry-After or reset header)"
                ));
            }
            RateLimitRefusal::NotRateLimited => {}
        }
        if code == 503 {
            // Jira Cloud also sheds load with 503 + Retry-After.
            if let Some(wait) = limits.retry_after {
                return self.pause(credential, what, code, wait);
            }
        }
        if status.is_server_error() || code == 408 {
            return TaskError::transient(format!("{what}: HTTP {code}{}", excerpt(body)));
        }
        TaskError::permanent(format!("{what}: HTTP {code}{}", excerpt(body)))
    }

    fn pause(&self, credential: &Credential, what: &str, code: u16, wait: Duration) -> TaskError {
        let after = credential.gate.pause_for(wait);
        tracing::warn!(source = %self.inner.source, credential = %credential.name, status = code,
            pause_ms = after.as_millis() as u64, "server asked us to wait; pausing this credential");
        TaskError::RetryAfter {
            after,
            message: format!(
                "{what}: HTTP {code}, retry after {:.1}s",
                after.as_secs_f64()
            ),
        }
    }
}
