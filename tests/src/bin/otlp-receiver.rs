//! `otlp-receiver [ADDR]`: the tests' OTLP receiver as a process, standing in
//! for Jaeger where its image cannot be pulled (the compose override in
//! `deploy/compose/standins.yml`). It accepts OTLP/gRPC and OTLP/HTTP on one
//! port (default 0.0.0.0:4317), answers `GET /healthz` with the number of
//! spans received, and logs each new trace's first span once, so `docker
//! compose logs jaeger` shows what arrived.

use dorafleet_system_tests::otlp_receiver::OtlpReceiver;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:4317".into());
    let receiver = OtlpReceiver::start_on(&addr).await;
    println!(
        "otlp-receiver listening on {} (gRPC and HTTP)",
        receiver.addr
    );
    let mut traces = BTreeSet::new();
    let mut shutdown = Box::pin(tokio::signal::ctrl_c());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = terminate.recv() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        for span in receiver.spans() {
            if traces.insert(span.trace_id.clone()) {
                println!(
                    "trace {} from {}: first span {:?} ({} spans so far)",
                    span.trace_id,
                    span.service,
                    span.name,
                    receiver.span_count()
                );
            }
        }
    }
    println!(
        "otlp-receiver stopping: {} spans received",
        receiver.span_count()
    );
}
