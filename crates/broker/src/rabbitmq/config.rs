//! How to reach RabbitMQ and how the topology is shaped.

use crate::BrokerError;
use std::fmt;
use std::time::Duration;

/// Connection and topology settings for [`RabbitBroker`](super::RabbitBroker).
///
/// Every role (coordinator, workers, archiver) must use the same `prefix`,
/// `delivery_limit` and `wait_tiers`: they are part of the queue arguments,
/// and RabbitMQ refuses to redeclare a queue with different ones.
#[derive(Clone, PartialEq, Eq)]
pub struct RabbitConfig {
    /// AMQP URL, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub url: String,
    /// Every exchange and queue name starts with it (`dorafleet`, or a unique test prefix).
    pub prefix: String,
    /// Unacked deliveries per consumer stream (`basic.qos`).
    pub prefetch: u16,
    /// Quorum `x-delivery-limit`: a task returned to its queue more often than
    /// this (workers crashing on it) is dead-lettered.
    pub delivery_limit: u32,
    /// Wait queues for delayed publishes; a delay goes to the smallest tier
    /// that is at least as long (the largest tier caps it).
    pub wait_tiers: Vec<Duration>,
    /// How long a publish waits for RabbitMQ's confirm.
    pub confirm_timeout: Duration,
}

impl Default for RabbitConfig {
    fn default() -> Self {
        RabbitConfig {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            prefix: "dorafleet".into(),
            prefetch: 8,
            delivery_limit: 5,
            wait_tiers: default_wait_tiers(),
            confirm_timeout: Duration::from_secs(10),
        }
    }
}

/// 1 s, 5 s, 30 s, 2 min, 10 min, 45 min.
pub fn default_wait_tiers() -> Vec<Duration> {
    [1, 5, 30, 120, 600, 2700]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

/// Longest prefix accepted: names must stay under AMQP's 255-byte short-string limit.
const MAX_PREFIX_BYTES: usize = 200;

impl RabbitConfig {
    /// The URL with its password replaced, for logs and error messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Reject settings RabbitMQ would refuse later, with what to change.
    pub(crate) fn validate(&self) -> Result<(), BrokerError> {
        let bad = |what: String| {
            Err(BrokerError::Unavailable(format!(
                "invalid RabbitMQ settings: {what}"
            )))
        };
        if self.prefix.is_empty() || self.prefix.len() > MAX_PREFIX_BYTES {
            return bad(format!(
                "the prefix must be 1 to {MAX_PREFIX_BYTES} bytes long (got {:?})",
                self.prefix
            ));
        }
        if self.prefetch == 0 {
            return bad("prefetch must be at least 1 (0 would mean unlimited)".into());
        }
        if self.delivery_limit == 0 {
            return bad("delivery_limit must be at least 1".into());
        }
        if self.wait_tiers.is_empty() {
            return bad("at least one wait tier is needed for delayed publishes".into());
        }
        for tier in &self.wait_tiers {
            let ms = tier.as_millis();
            if ms == 0 || ms > i32::MAX as u128 {
                return bad(format!(
                    "wait tier {tier:?} must be between 1 ms and {} ms",
                    i32::MAX
                ));
            }
        }
        if self.confirm_timeout.is_zero() {
            return bad("confirm_timeout must be positive".into());
        }
        Ok(())
    }

    /// Tiers in milliseconds, ascending, without duplicates.
    pub(crate) fn tier_millis(&self) -> Vec<u32> {
        let mut tiers: Vec<u32> = self
            .wait_tiers
            .iter()
            .map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX))
            .collect();
        tiers.sort_unstable();
        tiers.dedup();
        tiers
    }
}

impl fmt::Debug for RabbitConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitConfig")
            .field("url", &self.redacted_url())
            .field("prefix", &self.prefix)
            .field("prefetch", &self.prefetch)
            .field("delivery_limit", &self.delivery_limit)
            .field("wait_tiers", &self.wait_tiers)
            .field("confirm_timeout", &self.confirm_timeout)
            .finish()
    }
}

/// `amqp://user:secret@host/vhost` → `amqp://user:***@host/vhost`. A
/// malformed URL without `//` hides all that stands before its last `@`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return match url.rfind('@') {
            Some(at) => format!("***{}", &url[at..]),
            None => url.to_owned(),
        };
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..rest_start],
            &userinfo[..colon],
            &url[rest_start + at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_debug_output() {
        assert_eq!(
            redact_url("amqp://guest:s3cret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
        assert_eq!(redact_url("amqp://user@host/v"), "amqp://user@host/v");
        assert_eq!(redact_url("amqps://a:b@c@host/"), "amqps://a:***@host/");
        assert_eq!(redact_url("amqp:guest:s3cret@host/%2f"), "***@host/%2f");
        let config = RabbitConfig {
            url: "amqp://guest:s3cret@localhost".into(),
            ..RabbitConfig::default()
        };
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn tiers_are_sorted_and_validated() {
        let mut config = RabbitConfig {
            wait_tiers: vec![
                Duration::from_secs(5),
                Duration::from_secs(1),
                Duration::from_secs(5),
            ],
            ..RabbitConfig::default()
        };
        assert_eq!(config.tier_millis(), vec![1000, 5000]);
        assert!(config.validate().is_ok());
        config.wait_tiers.clear();
        assert!(config.validate().is_err());
        config.wait_tiers = vec![Duration::ZERO];
        assert!(config.validate().is_err());
        config = RabbitConfig {
            prefix: String::new(),
            ..RabbitConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
