//! A hostile source: servers that echo the request headers (the
//! `Authorization` header with the token) in their error bodies, or into
//! the redirects they answer with (so the token reaches error texts through
//! a URL, not a body). Whatever the pipeline does with
//! those failures — log them, retry them, dead-letter and archive them,
//! trace them, count them — no secret leaves the process: not in the logs,
//! the warehouse (dead letters, run ledger, checkpoints: the whole SQLite
//! file), the spans or the metrics.

mod common;

use axum::http::{HeaderMap, StatusCode};
use dorafleet_core::{Secret, Source};
use dorafleet_standalone::{StandaloneOptions, run_standalone};
use dorafleet_warehouse::{Warehouse, sqlite::SqliteWarehouse};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;

const GITHUB_TOKEN: &str = "ghp_echoedBackToken0123456789";
const JIRA_USER: &str = "ops@acme.example";
const JIRA_TOKEN: &str = "jira-echoed-api-token-42";
/// base64 of `ops@acme.example:jira-echoed-api-token-42`, what Basic sends.
const JIRA_BASIC: &str = "b3BzQGFjbWUuZXhhbXBsZTpqaXJhLWVjaG9lZC1hcGktdG9rZW4tNDI=";
const JENKINS_TOKEN: &str = "jenkins-api-token-echoed-77";

/// Every request's headers, as the echo servers saw them.
type Seen = Arc<Mutex<Vec<String>>>;

/// A server that answers every request with `status` and a body quoting
/// every request header, `Authorization` included.
async fn echo_server(status: StatusCode, seen: Seen) -> String {
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let seen = Arc::clone(&seen);
        async move {
            let echoed: Vec<String> = headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
                .collect();
            let body = format!(
                "{{\"message\":\"echoed-headers\",\"request\":\"{}\"}}",
                echoed.join("\\n")
            );
            seen.lock().unwrap().push(echoed.join("\n"));
            (status, body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A server that redirects every request to a new path on itself that
/// quotes the request's `Authorization` header, forever.
async fn redirect_echo_server(seen: Seen) -> String {
    let hops = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let (seen, hops) = (Arc::clone(&seen), Arc::clone(&hops));
        async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .replace(' ', "%20");
            seen.lock().unwrap().push(format!("authorization: {auth}"));
            let hop = hops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (
                StatusCode::FOUND,
                [("location", format!("/echo/{hop}/{auth}"))],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps the spans handed to it, as a collector would receive them.
#[derive(Debug, Clone, Default)]
struct Collector(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collector {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

fn leaked_in(place: &str, text: &str) -> Vec<String> {
    [
        GITHUB_TOKEN,
        JIRA_TOKEN,
        JIRA_BASIC,
        JIRA_BASIC.trim_end_matches('='),
        JENKINS_TOKEN,
    ]
    .iter()
    .filter(|secret| text.contains(*secret))
    .map(|secret| format!("{secret} in {place}"))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_echoed_back_by_a_hostile_server_appears_in_no_log_stored_letter_span_or_metric() {
    // Logs through the real log layer, spans through the real exporter
    // wrapper, both captured in memory.
    let logs = Buffer::default();
    let spans = Collector::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(dorafleet_telemetry::scrub::ScrubbingExporter::new(
            spans.clone(),
        ))
        .build();
    let settings = dorafleet_telemetry::Settings {
        default_filter: "debug".into(),
        log_format: dorafleet_telemetry::LogFormat::Json,
        service_name: "secrets-test".into(),
        otlp: None,
    };
    let writer = logs.clone();
    let subscriber = tracing_subscriber::registry()
        .with(dorafleet_telemetry::log_layer(&settings, move || {
            writer.clone()
        }))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("dorafleet")));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let seen: Seen = Arc::default();
    let github = echo_server(StatusCode::INTERNAL_SERVER_ERROR, Arc::clone(&seen)).await;
    let jira = echo_server(StatusCode::UNAUTHORIZED, Arc::clone(&seen)).await;
    let jenkins = redirect_echo_server(Arc::clone(&seen)).await;

    let sim = common::sim(1, &[]).await;
    let mut config = common::config(&sim, 2);
    let set = |config: &mut dorafleet_core::Config, source, url: &str| {
        config.sources.get_mut(source).base_url = url.parse().unwrap();
    };
    set(&mut config, Source::Github, &github);
    set(&mut config, Source::Jira, &jira);
    set(&mut config, Source::Jenkins, &jenkins);
    config.sources.github.token = Some(Secret::new(GITHUB_TOKEN));
    config.sources.jira.token = Some(Secret::new(JIRA_TOKEN));
    config.sources.jira.user = Some(JIRA_USER.into());
    config.sources.jenkins.token = Some(Secret::new(JENKINS_TOKEN));
    config.register_secrets();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("warehouse.db");
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open(&db).unwrap());
    let summary = run_standalone(
        Some(common::window_of(3)),
        Arc::clone(&warehouse),
        common::clients(&config),
        Arc::new(config.clone()),
        StandaloneOptions {
            sources: Source::ALL.to_vec(),
            concurrency: 2,
            worker_name: "test".into(),
            deadline: Duration::from_secs(120),
        },
        |_| {},
    )
    .await
    .unwrap()
    .expect("a run was planned");

    // The secrets really went out and really came back.
    let seen = seen.lock().unwrap().join("\n");
    assert!(seen.contains(&format!("Bearer {GITHUB_TOKEN}")), "{seen}");
    assert!(seen.contains(&format!("Basic {JIRA_BASIC}")), "{seen}");
    assert!(
        seen.contains(&format!("Bearer%20{JENKINS_TOKEN}")),
        "{seen}"
    );
    // Every task failed, and its letter quotes the echo (scrubbed).
    let letters = warehouse.dead_letters(1_000).await.unwrap();
    assert_eq!(summary.dead, letters.len(), "{summary:?}");
    for source in Source::ALL {
        assert!(
            letters.iter().any(|l| l.source == Some(source)),
            "{source} was dead-lettered: {letters:#?}"
        );
    }
    let letter_text = serde_json::to_string(&letters).unwrap();
    assert!(letter_text.contains("echoed-headers"), "{letter_text}");
    assert!(letter_text.contains("HTTP 500"), "{letter_text}");
    assert!(letter_text.contains("HTTP 401"), "{letter_text}");
    assert!(letter_text.contains("/echo/"), "{letter_text}");

    provider.force_flush().unwrap();
    drop(warehouse);
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("dead-lettering"), "logs were captured");
    let spans = format!("{:?}", spans.0.lock().unwrap());
    assert!(
        spans.contains("error.class"),
        "spans were captured: {spans:.3000}"
    );
    let metrics = dorafleet_telemetry::metrics::render();
    assert!(metrics.contains("api_requests"), "{metrics}");

    let mut leaks = leaked_in("the logs", &logs);
    leaks.extend(leaked_in("the dead letters", &letter_text));
    leaks.extend(leaked_in("the spans", &spans));
    leaks.extend(leaked_in("the metrics", &metrics));
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let path = file.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        leaks.extend(leaked_in(
            &path.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        ));
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
}
