//! The W3C trace context over message headers: how one pipeline run stays
//! one trace while its tasks cross the broker between processes.
//!
//! Publishers call [`inject_current`] and send the result as message
//! headers (`traceparent`, `tracestate`); consumers call [`set_parent`] on
//! the span of the work a message starts. A process that exports no spans
//! has no context to inject, so its messages carry no `traceparent` and its
//! consumers start fresh traces: nothing here fails.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::BTreeMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Message headers as the broker carries them.
pub type Headers = BTreeMap<String, String>;

/// The header naming the parent span.
pub const TRACEPARENT: &str = "traceparent";

struct HeaderWriter<'a>(&'a mut Headers);

impl Injector for HeaderWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct HeaderReader<'a>(&'a Headers);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The context of `span` as headers (empty when no spans are exported).
pub fn inject(span: &tracing::Span) -> Headers {
    let mut headers = Headers::new();
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderWriter(&mut headers));
    }
    headers
}

/// The context of the current span as headers.
pub fn inject_current() -> Headers {
    inject(&tracing::Span::current())
}

/// Make the context carried by `headers` (if any) the parent of `span`;
/// returns whether there was one. Call before the span is first entered.
pub fn set_parent(span: &tracing::Span, headers: &Headers) -> bool {
    let cx = TraceContextPropagator::new().extract(&HeaderReader(headers));
    if !cx.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(cx).is_ok()
}

/// The `traceparent` of `span`, to persist and continue the trace later
/// (e.g. a run resumed by a restarted coordinator).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    inject(span).remove(TRACEPARENT)
}

/// Make the persisted `traceparent` the parent of `span`.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) -> bool {
    let headers = Headers::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    set_parent(span, &headers)
}

/// The trace id (32 hex digits) of the current span, if spans are exported.
pub fn current_trace_id() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The trace id inside a `traceparent` header value.
pub fn trace_id_of(traceparent: &str) -> Option<String> {
    let id = traceparent.split('-').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0'))
        .then(|| id.to_owned())
}

/// A subscriber that gives spans W3C contexts without exporting them: for
/// tests and tools that check propagation in one process
/// (`tracing::subscriber::set_default(local_subscriber())`).
pub fn local_subscriber() -> impl tracing::Subscriber + Send + Sync {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    tracing_subscriber::Registry::default()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("dorafleet")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_injected_by_one_span_parents_another() {
        let _guard = tracing::subscriber::set_default(local_subscriber());
        let publish = tracing::info_span!("publish");
        let headers = inject(&publish);
        let traceparent = headers.get(TRACEPARENT).expect("a traceparent").clone();
        let consume = tracing::info_span!("task");
        assert!(set_parent(&consume, &headers));
        assert_eq!(
            trace_id_of(&traceparent),
            consume.in_scope(current_trace_id),
            "the consumer's span continues the publisher's trace"
        );
        let resumed = tracing::info_span!("publish later");
        assert!(continue_trace(&resumed, &traceparent));
        assert_eq!(
            trace_id_of(&traceparent),
            resumed.in_scope(current_trace_id)
        );
        assert!(!set_parent(&tracing::info_span!("orphan"), &Headers::new()));
    }

    #[test]
    fn without_an_exporter_nothing_is_injected_and_nothing_fails() {
        let span = tracing::info_span!("publish");
        assert!(inject(&span).is_empty());
        assert!(traceparent(&span).is_none());
        assert!(current_trace_id().is_none());
    }

    #[test]
    fn the_trace_id_is_read_out_of_a_traceparent() {
        assert_eq!(
            trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_id_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id_of("garbage"), None);
    }
}
