//! An OTLP receiver for tests and benchmarks, on both wire protocols Jaeger
//! accepts: OTLP/HTTP (`POST /v1/traces`, a protobuf body) and OTLP/gRPC
//! (the `TraceService/Export` call over HTTP/2 without TLS, a
//! length-prefixed protobuf message answered with `grpc-status` trailers).
//! Both decode `ExportTraceServiceRequest` with the OpenTelemetry protocol
//! types and keep every span they are sent. Tests point a fleet's
//! `observability.otlp_endpoint` at it and read the spans back as Jaeger
//! would have stored them.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body::Frame;
use http_body_util::StreamBody;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One exported span, flattened.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// `service.name` of the process that exported it.
    pub service: String,
    pub name: String,
    /// Lower-case hex, as in a `traceparent`.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub attributes: BTreeMap<String, String>,
    /// (name, attributes) of each span event, in order.
    pub events: Vec<(String, BTreeMap<String, String>)>,
}

impl ReceivedSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// The wire protocol an export arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Http,
    Grpc,
}

/// The gRPC method OTLP exporters call for traces.
const GRPC_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[derive(Debug, Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    /// Every request as decoded, in its `Debug` form: every string a span
    /// carries (names, attributes, events, resource) is somewhere in here.
    texts: Vec<String>,
    /// The wire of each request, in arrival order.
    wires: Vec<Wire>,
}

/// A running receiver; it stops with the runtime that runs it.
#[derive(Debug, Clone)]
pub struct OtlpReceiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Received>>,
}

impl OtlpReceiver {
    pub async fn start() -> OtlpReceiver {
        Self::start_on("127.0.0.1:0").await
    }

    /// A receiver listening on `addr` (e.g. a Docker network's gateway, for
    /// exporters in containers).
    pub async fn start_on(addr: &str) -> OtlpReceiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/healthz", axum::routing::get(health))
            .route("/v1/traces", post(export_http))
            .route(GRPC_EXPORT_PATH, post(export_grpc))
            .with_state(Arc::clone(&received));
        tokio::spawn(async move { axum::serve(listener, app).await });
        OtlpReceiver { addr, received }
    }

    /// The base URL to configure as `observability.otlp_endpoint`, for
    /// either protocol.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.lock().spans.clone()
    }

    pub fn span_count(&self) -> usize {
        self.lock().spans.len()
    }

    pub fn requests(&self) -> usize {
        self.lock().wires.len()
    }

    /// How many export requests arrived over `wire`.
    pub fn requests_over(&self, wire: Wire) -> usize {
        self.lock().wires.iter().filter(|w| **w == wire).count()
    }

    /// Everything received, as text, for searching.
    pub fn all_text(&self) -> String {
        self.lock().texts.join("\n")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `GET /healthz`: 200 with how many spans arrived (the stand-in for
/// Jaeger's health check in the compose override).
async fn health(State(received): State<Arc<Mutex<Received>>>) -> String {
    let received = received.lock().unwrap_or_else(|p| p.into_inner());
    format!("{} spans\n", received.spans.len())
}

async fn export_http(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> Response {
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    keep(&received, &request, Wire::Http);
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

/// A unary gRPC call: the body is one message framed as a compression flag
/// byte and a big-endian `u32` length; the answer is one framed message
/// followed by trailers carrying `grpc-status` (0 is OK, 3 invalid argument).
async fn export_grpc(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> Response {
    let decoded = match body.as_ref() {
        [0, len @ ..] if len.len() >= 4 => {
            let length = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let message = &len[4..];
            if message.len() == length {
                ExportTraceServiceRequest::decode(message).map_err(|e| e.to_string())
            } else {
                Err(format!("framed {length} bytes, got {}", message.len()))
            }
        }
        [1, ..] => Err("compressed messages are not accepted".to_owned()),
        _ => Err("not a gRPC message frame".to_owned()),
    };
    let status = match decoded {
        Ok(request) => {
            keep(&received, &request, Wire::Grpc);
            "0"
        }
        Err(_) => "3",
    };
    let reply = ExportTraceServiceResponse::default().encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend((reply.len() as u32).to_be_bytes());
    framed.extend(reply);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(status));
    let frames = futures::stream::iter([
        Ok::<_, Infallible>(Frame::data(Bytes::from(framed))),
        Ok(Frame::trailers(trailers)),
    ]);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/grpc")
        .body(Body::new(StreamBody::new(frames)))
        .expect("a static gRPC response")
}

fn keep(received: &Mutex<Received>, request: &ExportTraceServiceRequest, wire: Wire) {
    let mut spans = Vec::new();
    for resource_spans in &request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| attributes(&r.attributes).remove("service.name"))
            .unwrap_or_default();
        for scope in &resource_spans.scope_spans {
            for span in &scope.spans {
                spans.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                    events: span
                        .events
                        .iter()
                        .map(|e| (e.name.clone(), attributes(&e.attributes)))
                        .collect(),
                });
            }
        }
    }
    let mut r = received.lock().unwrap_or_else(|p| p.into_inner());
    r.wires.push(wire);
    r.texts.push(format!("{request:?}"));
    r.spans.extend(spans);
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map_or_else(String::new, text),
            )
        })
        .collect()
}

fn text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
