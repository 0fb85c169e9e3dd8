//! Where alerts go: a Slack-compatible webhook and stdout. A send either
//! succeeds or fails with a reason; [`send_until_delivered`] retries a failing
//! sink with capped exponential backoff until it succeeds or the monitor shuts
//! down — an alert is never dropped because a webhook was down.

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use serde_json::Value;
use std::io::Write;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Somewhere alerts are delivered to.
#[async_trait]
pub trait AlertSink: Send + Sync + std::fmt::Debug {
    /// A short name for logs and metrics.
    fn name(&self) -> &'static str;
    /// Send one alert payload; `Err` says why it did not arrive.
    async fn send(&self, payload: &Value) -> Result<(), String>;
}

/// Posts each alert as JSON to a webhook URL; any 2xx answer is delivery.
#[derive(Debug)]
pub struct WebhookSink {
    client: reqwest::Client,
    url: dorafleet_core::Secret,
}

impl WebhookSink {
    /// A sink posting to `url`, each request limited to `timeout`; `Err` if
    /// the HTTP client cannot be built.
    pub fn new(url: dorafleet_core::Secret, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        Ok(WebhookSink { client, url })
    }
}

#[async_trait]
impl AlertSink for WebhookSink {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, payload: &Value) -> Result<(), String> {
        // The URL carries the webhook's token: errors are reported without it.
        let response = self
            .client
            .post(self.url.expose())
            .json(payload)
            .send()
            .await
            .map_err(|e| format!("webhook unreachable: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {status}"))
        }
    }
}

/// Prints each alert as one JSON line on stdout.
#[derive(Debug, Default)]
pub struct StdoutSink;

#[async_trait]
impl AlertSink for StdoutSink {
    fn name(&self) -> &'static str {
        "stdout"
    }

    async fn send(&self, payload: &Value) -> Result<(), String> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{payload}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))
    }
}

/// How a failing sink is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetrySchedule {
    /// The shortest delay between attempts; backoff grows from there.
    pub base: Duration,
    /// The longest delay: backoff stops growing there.
    pub cap: Duration,
}

/// Send until the sink takes it. Returns `false` only when `shutdown` came
/// first (the alert was then not delivered, and must not be recorded).
pub async fn send_until_delivered(
    sink: &dyn AlertSink,
    payload: &Value,
    schedule: RetrySchedule,
    shutdown: &CancellationToken,
) -> bool {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(schedule.base)
        .with_max_delay(schedule.cap.max(schedule.base))
        .with_jitter()
        .without_max_times()
        .build();
    let mut attempt = 1u32;
    loop {
        match sink.send(payload).await {
            Ok(()) => return true,
            Err(why) => {
                dorafleet_telemetry::metrics::alert_send_failed(sink.name());
                let delay = delays.next().unwrap_or(schedule.cap);
                warn!(
                    sink = sink.name(),
                    alert_id = %payload["alert_id"],
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %why,
                    "alert not delivered; retrying"
                );
                tokio::select! {
                    () = shutdown.cancelled() => return false,
                    () = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
            }
        }
    }
}
