//! Secrets out of everything telemetry sends out of the process: every log
//! line and every exported span goes through
//! [`dorafleet_core::secret::scrub`], which masks the configured tokens and
//! passwords and any URL's password. The error texts are already scrubbed
//! where they are built; this is the last gate, for text that reached a log
//! or a span some other way (a library's error, a field nobody thought of).

use dorafleet_core::secret::scrub;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::borrow::Cow;
use std::io::{self, Write};
use tracing_subscriber::fmt::MakeWriter;

/// A [`MakeWriter`] whose writers scrub what they are given: each writer
/// collects one event's output and writes it, scrubbed, when flushed or
/// dropped (the fmt layer makes one writer per event), so a secret split
/// across two `write` calls is still found whole.
#[derive(Debug, Clone)]
pub struct ScrubbingMakeWriter<M> {
    inner: M,
}

impl<M> ScrubbingMakeWriter<M> {
    /// Scrub everything written through `inner`.
    pub fn new(inner: M) -> Self {
        ScrubbingMakeWriter { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for ScrubbingMakeWriter<M> {
    type Writer = ScrubbingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter {
            inner: self.inner.make_writer(),
            pending: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        ScrubbingWriter {
            inner: self.inner.make_writer_for(meta),
            pending: Vec::new(),
        }
    }
}

/// The writer of [`ScrubbingMakeWriter`].
#[derive(Debug)]
pub struct ScrubbingWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> ScrubbingWriter<W> {
    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.pending);
        let text = String::from_utf8_lossy(&bytes);
        self.inner.write_all(scrub(&text).as_bytes())
    }
}

impl<W: Write> Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for ScrubbingWriter<W> {
    fn drop(&mut self) {
        // A log line that cannot be written has nowhere to be reported.
        let _ = self.write_pending();
        let _ = self.inner.flush();
    }
}

/// A [`SpanExporter`] that scrubs every span before handing it on: its
/// name, string attributes, events (tracing events inside a span, with
/// their fields, become span events) and status description.
#[derive(Debug)]
pub struct ScrubbingExporter<E> {
    inner: E,
}

impl<E> ScrubbingExporter<E> {
    /// Scrub every span before `inner` exports it.
    pub fn new(inner: E) -> Self {
        ScrubbingExporter { inner }
    }
}

impl<E: SpanExporter> SpanExporter for ScrubbingExporter<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.inner
            .export(batch.into_iter().map(scrub_span).collect())
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// `span` with every text it carries scrubbed.
pub fn scrub_span(mut span: SpanData) -> SpanData {
    scrub_cow(&mut span.name);
    scrub_attributes(&mut span.attributes);
    for event in &mut span.events.events {
        scrub_cow(&mut event.name);
        scrub_attributes(&mut event.attributes);
    }
    for link in &mut span.links.links {
        scrub_attributes(&mut link.attributes);
    }
    if let opentelemetry::trace::Status::Error { description } = &mut span.status {
        scrub_cow(description);
    }
    span
}

fn scrub_cow(text: &mut Cow<'static, str>) {
    if let Cow::Owned(clean) = scrub(text) {
        *text = Cow::Owned(clean);
    }
}

fn scrub_attributes(attributes: &mut [KeyValue]) {
    for kv in attributes {
        match &mut kv.value {
            Value::String(s) => scrub_string_value(s),
            Value::Array(Array::String(list)) => list.iter_mut().for_each(scrub_string_value),
            _ => {}
        }
    }
}

fn scrub_string_value(value: &mut StringValue) {
    if let Cow::Owned(clean) = scrub(value.as_str()) {
        *value = StringValue::from(clean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_secret_written_in_pieces_is_scrubbed_whole() {
        let _token = dorafleet_core::Secret::new("tok_log_unit_1");
        let buffer = Buffer::default();
        let make = ScrubbingMakeWriter::new({
            let b = buffer.clone();
            move || b.clone()
        });
        {
            let mut w = make.make_writer();
            w.write_all(b"error: Bearer tok_lo").unwrap();
            w.write_all(b"g_unit_1 from amqp://u:pw@h\n").unwrap();
        }
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "error: Bearer *** from amqp://u:***@h\n");
    }

    #[test]
    fn spans_are_scrubbed_in_attributes_events_and_status() {
        use opentelemetry::trace::{
            SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
        };
        let _token = dorafleet_core::Secret::new("tok_span_unit_1");
        let span = SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes([1; 16]),
                SpanId::from_bytes([1; 8]),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "task".into(),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: vec![KeyValue::new("error", "echo tok_span_unit_1")],
            dropped_attributes_count: 0,
            events: opentelemetry_sdk::trace::SpanEvents::default(),
            links: opentelemetry_sdk::trace::SpanLinks::default(),
            status: Status::error("HTTP 401 tok_span_unit_1"),
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("t").build(),
        };
        let mut span = span;
        span.events.events.push(opentelemetry::trace::Event::new(
            "retrying",
            std::time::SystemTime::now(),
            vec![KeyValue::new("error", "amqp://u:pw_span@h tok_span_unit_1")],
            0,
        ));
        let clean = scrub_span(span);
        let text = format!(
            "{:?} {:?} {:?}",
            clean.attributes, clean.events, clean.status
        );
        assert!(!text.contains("tok_span_unit_1"), "{text}");
        assert!(!text.contains("pw_span"), "{text}");
        assert!(text.contains("echo ***"), "{text}");
    }
}
