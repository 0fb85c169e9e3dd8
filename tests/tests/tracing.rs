//! Traces across processes: a coordinator and workers of the real binary,
//! the local RabbitMQ between them, and an in-test OTLP receiver (HTTP and
//! gRPC) in place of Jaeger. A pipeline run must arrive as one trace whose parent
//! links cross the queue, with retries and dead-lettering on it as events.

use dorafleet_system_tests::{fleet_support, otlp_receiver};

use dorafleet_broker::Broker;
use dorafleet_warehouse::LetterFilter;
use fleet_support::{Fleet, eventually, finish};
use otlp_receiver::{OtlpReceiver, ReceivedSpan, Wire};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Point every process the fleet starts at the receiver, over OTLP/HTTP.
fn export_to(fleet: &mut Fleet, receiver: &OtlpReceiver) {
    export_over(fleet, receiver, "http");
}

/// Point every process the fleet starts at the receiver, over `protocol`.
fn export_over(fleet: &mut Fleet, receiver: &OtlpReceiver, protocol: &str) {
    fleet.env.push((
        "DORAFLEET_OBSERVABILITY__OTLP_ENDPOINT".into(),
        receiver.endpoint(),
    ));
    fleet.env.push((
        "DORAFLEET_OBSERVABILITY__OTLP_PROTOCOL".into(),
        protocol.into(),
    ));
}

/// The spans of every task attempt a worker ran.
fn worker_tasks(spans: &[ReceivedSpan]) -> Vec<&ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.service == "dorafleet-worker" && s.name.starts_with("task "))
        .collect()
}

/// The spans of every attempt of one task.
fn task_spans<'a>(spans: &'a [ReceivedSpan], task_id: &str) -> Vec<&'a ReceivedSpan> {
    worker_tasks(spans)
        .into_iter()
        .filter(|s| s.attr("task_id") == Some(task_id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_run_is_one_trace_whose_parent_links_cross_the_queue() {
    let receiver = OtlpReceiver::start().await;
    // One GitHub request fails once (a retry); one Jenkins job always fails
    // (its task is dead-lettered, the other team still reaches gold).
    let mut fleet = Fleet::start(2, &["github:503#1"], 100).await;
    let doomed_job = fleet.sim.state().organisation().team_configs()[0].jenkins_jobs[0].clone();
    fleet
        .sim
        .state()
        .add_fault(format!("jenkins~{doomed_job}:503@1").parse().unwrap());
    fleet
        .env
        .push(("DORAFLEET_RETRY__MAX_ATTEMPTS".into(), "3".into()));
    export_to(&mut fleet, &receiver);
    fleet.spawn_worker("a");
    fleet.spawn_worker("b");
    let out = finish(fleet.spawn_range_coordinator(), RUN_LIMIT).await;
    assert!(
        out.status.code().is_some(),
        "the coordinator exited: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spans = spans_once_the_workers_stop(&mut fleet, &receiver).await;
    let runs: Vec<_> = spans.iter().filter(|s| s.name == "run").collect();
    assert_eq!(runs.len(), 1, "one run span");
    let run = runs[0];
    assert_eq!(run.service, "dorafleet-coordinator");
    assert!(run.parent_span_id.is_empty(), "the run span is the root");
    let trace = &run.trace_id;

    let publishes: Vec<_> = spans
        .iter()
        .filter(|s| s.service == "dorafleet-coordinator" && s.name.starts_with("publish "))
        .collect();
    let tasks = worker_tasks(&spans);
    for stage in ["extract", "normalize", "aggregate"] {
        assert!(
            publishes.iter().any(|s| s.attr("stage") == Some(stage)),
            "the coordinator published {stage} tasks"
        );
        assert!(
            tasks.iter().any(|s| s.attr("stage") == Some(stage)),
            "workers ran {stage} tasks"
        );
    }
    for span in publishes.iter().chain(&tasks) {
        assert_eq!(&span.trace_id, trace, "{} is on the run's trace", span.name);
    }
    for publish in &publishes {
        assert_eq!(
            publish.parent_span_id, run.span_id,
            "{} is a child of the run",
            publish.name
        );
    }
    // Across the queue: each first attempt's parent is the coordinator's publish of it.
    for task in tasks.iter().filter(|t| t.attr("attempt") == Some("1")) {
        let task_id = task.attr("task_id").unwrap();
        let publish = publishes
            .iter()
            .find(|p| p.attr("task_id") == Some(task_id))
            .unwrap_or_else(|| panic!("a publish span for task {task_id}"));
        assert_eq!(
            task.parent_span_id, publish.span_id,
            "{} continues the publish of its task",
            task.name
        );
    }
    for name in ["normalize", "aggregate", "gold write"] {
        let inner: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
        assert!(!inner.is_empty(), "{name} spans");
        for span in inner {
            assert_eq!(&span.trace_id, trace, "{name} is on the run's trace");
            assert!(
                tasks.iter().any(|t| t.span_id == span.parent_span_id),
                "{name} is inside a task span"
            );
        }
    }

    // API requests: a span each, named by route template, inside their task.
    let requests: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("GET "))
        .collect();
    assert!(
        requests
            .iter()
            .all(|r| r.attr("http.request.method") == Some("GET"))
    );
    assert!(
        requests
            .iter()
            .all(|r| tasks.iter().any(|t| t.span_id == r.parent_span_id)),
        "every request is inside its task's span"
    );
    assert!(
        requests
            .iter()
            .all(|r| !r.attr("http.route").unwrap_or("/").contains('/')),
        "routes are templates, not URLs"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.attr("http.response.status_code") == Some("503"))
    );
    assert!(
        requests
            .iter()
            .any(|r| r.attr("http.response.status_code") == Some("200"))
    );
    assert!(
        requests
            .iter()
            .all(|r| r.attributes.contains_key("rate_limit_wait_ms"))
    );

    // The GitHub task that met the 503 shows its retry, and its next attempt
    // is a child of the attempt that scheduled it (through the wait queue).
    let retried = tasks
        .iter()
        .find(|t| {
            t.attr("source") == Some("github") && t.events.iter().any(|(n, _)| n == "retrying")
        })
        .expect("a GitHub task span with a retry event");
    let (_, retry) = retried
        .events
        .iter()
        .find(|(n, _)| n == "retrying")
        .unwrap();
    assert_eq!(retry.get("attempt").map(String::as_str), Some("1"));
    assert_eq!(retry.get("class").map(String::as_str), Some("transient"));
    assert!(retry.contains_key("delay_ms"));
    let attempts = task_spans(&spans, retried.attr("task_id").unwrap());
    let second = attempts
        .iter()
        .find(|t| t.attr("attempt") == Some("2"))
        .expect("the second attempt's span");
    assert_eq!(second.parent_span_id, retried.span_id);
    assert_eq!(&second.trace_id, trace);

    // The doomed Jenkins task: dead-lettered on its last attempt, and the
    // archived dead letter's trace id opens this very trace.
    let dead = tasks
        .iter()
        .find(|t| t.events.iter().any(|(n, _)| n == "dead-lettering"))
        .expect("a task span with a dead-lettering event");
    assert_eq!(dead.attr("source"), Some("jenkins"));
    assert_eq!(dead.attr("attempt"), Some("3"));
    let letters = archived_letters(&fleet, 1).await;
    assert_eq!(letters[0].letter.trace_id.as_deref(), Some(trace.as_str()));
    let shown = fleet
        .command(&["dlq", "show", &letters[0].letter.id.to_string()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(&format!("http://localhost:16686/trace/{trace}")),
        "dlq show links the trace: {shown}"
    );
    let _ = fleet.broker().await.delete_topology().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_resumed_by_a_restarted_coordinator_stays_one_trace() {
    let receiver = OtlpReceiver::start().await;
    let mut fleet = Fleet::start(2, &["github:latency=20@1"], 100).await;
    export_to(&mut fleet, &receiver);
    fleet.spawn_worker("a");
    let mut first = fleet.spawn_range_coordinator();
    eventually(RUN_LIMIT, "an extract done", || async {
        let w = fleet.warehouse();
        let Some(run) = w.runs(1).await.unwrap().into_iter().next() else {
            return false;
        };
        w.run_tasks(run.run_id)
            .await
            .unwrap()
            .iter()
            .any(|t| t.state == dorafleet_warehouse::TaskState::Done)
    })
    .await;
    first.kill().unwrap();
    let _ = first.wait();
    let run = fleet.warehouse().runs(1).await.unwrap().remove(0);
    let traceparent = run
        .traceparent
        .expect("the run's trace context is recorded");
    let (trace, run_span) = match traceparent.split('-').collect::<Vec<_>>()[..] {
        [_, trace, span, _] => (trace.to_owned(), span.to_owned()),
        _ => panic!("not a traceparent: {traceparent}"),
    };

    let out = finish(fleet.spawn_coordinator(&["--resume-only"]), RUN_LIMIT).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spans = spans_once_the_workers_stop(&mut fleet, &receiver).await;
    // The aggregate tasks were published by the second coordinator (the
    // first was killed after one extract), under the first one's run span.
    let aggregates: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "publish aggregate")
        .collect();
    assert!(!aggregates.is_empty(), "aggregate tasks were published");
    for publish in spans.iter().filter(|s| s.name.starts_with("publish ")) {
        assert_eq!(
            publish.trace_id, trace,
            "{} is on the run's trace",
            publish.name
        );
        assert_eq!(
            publish.parent_span_id, run_span,
            "{} is a child of the run",
            publish.name
        );
    }
    let tasks: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("task "))
        .collect();
    assert!(tasks.iter().any(|t| t.attr("stage") == Some("aggregate")));
    assert!(
        tasks.iter().all(|t| t.trace_id == trace),
        "every task is on the run's trace"
    );
    let _ = fleet.broker().await.delete_topology().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_exporting_over_grpc_delivers_the_whole_run_as_one_trace() {
    let receiver = OtlpReceiver::start().await;
    let mut fleet = Fleet::start(1, &[], 100).await;
    export_over(&mut fleet, &receiver, "grpc");
    fleet.spawn_worker("a");
    let out = finish(fleet.spawn_range_coordinator(), RUN_LIMIT).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spans = spans_once_the_workers_stop(&mut fleet, &receiver).await;

    assert!(receiver.requests_over(Wire::Grpc) > 0);
    assert_eq!(receiver.requests_over(Wire::Http), 0, "nothing over HTTP");
    let run = spans
        .iter()
        .find(|s| s.name == "run")
        .expect("the coordinator's run span");
    assert!(run.parent_span_id.is_empty(), "the run span is the root");
    let tasks = worker_tasks(&spans);
    for stage in ["extract", "normalize", "aggregate"] {
        assert!(
            tasks.iter().any(|t| t.attr("stage") == Some(stage)),
            "the worker exported its {stage} spans"
        );
    }
    assert!(
        tasks.iter().all(|t| t.trace_id == run.trace_id),
        "every task is on the run's trace"
    );
    let _ = fleet.broker().await.delete_topology().await;
}

/// Stops the workers (they must exit cleanly, flushing their spans) and
/// returns every span received once the gold writes' spans are in: the
/// receiver may still be decoding the last batch when the workers are gone.
async fn spans_once_the_workers_stop(
    fleet: &mut Fleet,
    receiver: &OtlpReceiver,
) -> Vec<ReceivedSpan> {
    let statuses = fleet_stop_keeping(fleet).await;
    assert!(
        statuses.iter().all(|s| s.success()),
        "workers stopped cleanly: {statuses:?}"
    );
    eventually(Duration::from_secs(30), "the gold writes' spans", || {
        let spans = receiver.spans();
        async move { spans.iter().any(|s| s.name == "gold write") }
    })
    .await;
    receiver.spans()
}

/// The archived dead letters once there are `n`: the coordinator may have
/// exited before archiving the last one, so archive what is left first.
async fn archived_letters(fleet: &Fleet, n: usize) -> Vec<dorafleet_warehouse::ArchivedLetter> {
    let broker: Arc<dyn Broker> = Arc::new(fleet.broker().await);
    let stop = CancellationToken::new();
    let archiver = tokio::spawn(dorafleet_coordinator::archive::archive_dead_letters(
        broker,
        fleet.warehouse(),
        stop.clone(),
        |_| {},
    ));
    let all = || async {
        fleet
            .warehouse()
            .archived_letters(&LetterFilter::default())
            .await
            .unwrap()
    };
    eventually(
        Duration::from_secs(30),
        "the dead letters archived",
        || async { all().await.len() >= n },
    )
    .await;
    stop.cancel();
    archiver.await.unwrap().unwrap();
    let letters = all().await;
    assert_eq!(letters.len(), n, "{n} dead letter(s)");
    letters
}

/// Stop the workers (SIGTERM, so they flush their spans) and keep the
/// fleet for inspection.
async fn fleet_stop_keeping(fleet: &mut Fleet) -> Vec<std::process::ExitStatus> {
    let mut statuses = Vec::new();
    for child in &fleet.workers {
        fleet_support::terminate(child.id());
    }
    for child in &mut fleet.workers {
        statuses.push(fleet_support::wait_with_deadline(
            child,
            Duration::from_secs(20),
        ));
    }
    fleet.workers.clear();
    statuses
}
