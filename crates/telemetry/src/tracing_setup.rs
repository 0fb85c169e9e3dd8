//! The one subscriber every role installs: an env-filtered log layer (human
//! or JSON, on stderr) and, when configured, an OpenTelemetry layer that
//! batches dorafleet's spans to an OTLP collector (Jaeger takes OTLP on 4317
//! for gRPC and 4318 for HTTP).
//!
//! The two layers filter separately: `RUST_LOG=warn` quiets the logs of a
//! worker without emptying its traces, and the exporter only ever sees
//! spans from dorafleet's crates, never those of the HTTP and gRPC stacks it
//! exports through (which would trace their own exports forever).
//!
//! Both layers scrub secrets ([`crate::scrub`]): each log line on its way to
//! the writer, each span on its way to the exporter.

use crate::scrub::{ScrubbingExporter, ScrubbingMakeWriter};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::time::Duration;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Plain text lines, for people at a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (Jaeger and collectors listen on 4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318, `POST /v1/traces`).
    Http,
}

/// Where spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpExport {
    /// The collector's base URL, e.g. `http://localhost:4317`; for HTTP,
    /// `/v1/traces` is appended unless the URL already ends with it.
    pub endpoint: String,
    /// gRPC or HTTP.
    pub protocol: OtlpProtocol,
}

/// What [`setup`] installs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Log filter when `RUST_LOG` is unset (`"warn"` for interactive
    /// commands, `"info"` for services).
    pub default_filter: String,
    /// Human-readable or JSON log lines.
    pub log_format: LogFormat,
    /// The role, exported as `service.name` (e.g. `dorafleet-worker`).
    pub service_name: String,
    /// `None`: logs only, no spans leave the process.
    pub otlp: Option<OtlpExport>,
}

/// Flushes and stops the span exporter when dropped (or on [`shutdown`](Self::shutdown)):
/// keep it alive until the process is about to exit.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// True when spans are being exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Export every span still buffered, then stop the exporter. Idempotent.
    pub fn shutdown(&mut self) {
        if let Some(provider) = self.provider.take() {
            // A collector that is down must not hold the process up for long.
            if let Err(err) = provider.shutdown_with_timeout(Duration::from_secs(5)) {
                eprintln!("warning: flushing traces failed: {err}");
            }
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "cannot export traces to {endpoint}: {reason} (check observability.otlp_endpoint and otlp_protocol)"
    )]
    /// The OTLP span exporter could not be built.
    Exporter {
        /// The configured collector endpoint.
        endpoint: String,
        /// Why the exporter could not be built.
        reason: String,
    },
}

/// Install the global subscriber and, when configured, the span exporter.
/// Must be called inside a Tokio runtime (the gRPC exporter uses it).
/// Calling it twice is harmless: the second call installs nothing and
/// returns a guard that exports nothing.
pub fn setup(settings: &Settings) -> Result<TelemetryGuard, SetupError> {
    let logs = log_layer(settings, std::io::stderr);
    let Some(otlp) = &settings.otlp else {
        let _ = Registry::default().with(logs).try_init();
        return Ok(TelemetryGuard { provider: None });
    };
    let provider = provider(otlp, &settings.service_name)?;
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("dorafleet"))
        .with_threads(false)
        .with_filter(FilterFn::new(|meta| {
            meta.target().starts_with("dorafleet") && *meta.level() <= Level::INFO
        }));
    if Registry::default()
        .with(logs)
        .with(spans)
        .try_init()
        .is_err()
    {
        return Ok(TelemetryGuard { provider: None });
    }
    Ok(TelemetryGuard {
        provider: Some(provider),
    })
}

/// The log layer [`setup`] installs, writing to `writer` instead of stderr
/// (tests capture logs with it): filtered by `RUST_LOG` or the settings'
/// default, human or JSON, every line scrubbed of secrets.
pub fn log_layer<S, W>(settings: &Settings, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(&settings.default_filter));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(ScrubbingMakeWriter::new(writer))
        .with_target(false);
    match settings.log_format {
        LogFormat::Human => logs.with_filter(filter).boxed(),
        LogFormat::Json => logs.json().with_filter(filter).boxed(),
    }
}

fn provider(otlp: &OtlpExport, service_name: &str) -> Result<SdkTracerProvider, SetupError> {
    let failed = |e: opentelemetry_otlp::ExporterBuildError| SetupError::Exporter {
        endpoint: otlp.endpoint.clone(),
        reason: e.to_string(),
    };
    let exporter = match otlp.protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(otlp.endpoint.clone())
            .build()
            .map_err(failed)?,
        OtlpProtocol::Http => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(http_traces_url(&otlp.endpoint))
            .build()
            .map_err(failed)?,
    };
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(ScrubbingExporter::new(exporter))
        .with_resource(resource)
        .build())
}

/// The OTLP/HTTP traces URL for a collector base URL.
fn http_traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

#[cfg(test)]
mod tests {
    use super::http_traces_url;

    #[test]
    fn an_http_endpoint_gets_the_traces_path_once() {
        assert_eq!(
            http_traces_url("http://localhost:4318"),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(
            http_traces_url("http://localhost:4318/"),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(
            http_traces_url("http://collector/v1/traces"),
            "http://collector/v1/traces"
        );
    }
}
