//! The Prometheus metrics of every role, in one process-wide registry.
//!
//! Instrumented code calls the small recording functions here (one place
//! names every metric and label); `/metrics` encodes the registry. Counters
//! only count what this process did: Prometheus sums them across the fleet.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    stage: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    stage: String,
    tier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    stage: String,
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    source: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LayerLabels {
    layer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScheduleLabels {
    schedule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SensorLabels {
    sensor: String,
}

type Seconds = Counter<f64, AtomicU64>;
type Timestamp = Gauge<f64, AtomicU64>;

/// Backoff tiers the retry counter is bucketed by (seconds).
const RETRY_TIERS: [u64; 6] = [1, 5, 30, 120, 600, 2700];

struct Metrics {
    registry: Registry,
    tasks: Family<TaskLabels, Counter>,
    task_seconds: Family<StageLabels, Histogram, fn() -> Histogram>,
    retries: Family<RetryLabels, Counter>,
    dead_letters: Family<RouteLabels, Counter>,
    api_requests: Family<ApiLabels, Counter>,
    rate_limit_wait: Family<SourceLabels, Seconds>,
    request_slots: Family<ScheduleLabels, Counter>,
    request_slot_writes: Family<ScheduleLabels, Counter>,
    records: Family<LayerLabels, Counter>,
    freshness: Family<SourceLabels, Timestamp>,
    queue_depth: Family<QueueLabels, Gauge>,
    holds: Family<SensorLabels, Counter>,
    held_runs: Gauge,
    gold_changes: Counter,
    alerts: Family<RuleLabels, Counter>,
    alert_send_failures: Family<SinkLabels, Counter>,
    alert_latency: Histogram,
}

fn task_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("dorafleet");
        let m = Metrics {
            tasks: Family::default(),
            task_seconds: Family::new_with_constructor(task_histogram),
            retries: Family::default(),
            dead_letters: Family::default(),
            api_requests: Family::default(),
            rate_limit_wait: Family::default(),
            request_slots: Family::default(),
            request_slot_writes: Family::default(),
            records: Family::default(),
            freshness: Family::default(),
            queue_depth: Family::default(),
            holds: Family::default(),
            held_runs: Gauge::default(),
            gold_changes: Counter::default(),
            alerts: Family::default(),
            alert_send_failures: Family::default(),
            alert_latency: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            registry: Registry::default(),
        };
        registry.register(
            "tasks",
            "Task attempts finished, by stage and outcome (done, retrying, dead)",
            m.tasks.clone(),
        );
        registry.register(
            "task_duration_seconds",
            "Time a task attempt ran, by stage",
            m.task_seconds.clone(),
        );
        registry.register(
            "retries",
            "Retries scheduled, by stage and backoff tier (upper bound)",
            m.retries.clone(),
        );
        registry.register(
            "holds",
            "Holds placed by data-quality sensors (no gold for the held days), by sensor",
            m.holds.clone(),
        );
        registry.register(
            "held_runs",
            "Runs that ended held by a sensor and wait for `runs release` or `runs rerun`",
            m.held_runs.clone(),
        );
        registry.register(
            "dead_letters",
            "Tasks and messages dead-lettered, by stage and source",
            m.dead_letters.clone(),
        );
        registry.register(
            "api_requests",
            "Requests to source APIs, by source and HTTP status (or error)",
            m.api_requests.clone(),
        );
        registry.register(
            "rate_limit_wait_seconds",
            "Time requests waited for the rate budget or a server pause, by source",
            m.rate_limit_wait.clone(),
        );
        registry.register(
            "request_slots",
            "Slots of the fleet-wide request budget this process took, by schedule (one per request)",
            m.request_slots.clone(),
        );
        registry.register(
            "request_slot_writes",
            "Warehouse writes that reserved those slots, by schedule (requests waiting together share one)",
            m.request_slot_writes.clone(),
        );
        registry.register(
            "records",
            "Records written, by layer (bronze pages' records, silver, gold)",
            m.records.clone(),
        );
        registry.register(
            "source_last_extracted_timestamp_seconds",
            "Newest source timestamp extracted, by source (freshness = time() - this)",
            m.freshness.clone(),
        );
        registry.register(
            "queue_depth",
            "Messages ready in a broker queue (sampled by the coordinator)",
            m.queue_depth.clone(),
        );
        registry.register(
            "monitor_gold_changes",
            "Gold changes the monitor handled",
            m.gold_changes.clone(),
        );
        registry.register(
            "alerts_delivered",
            "Alerts delivered to every sink, by rule",
            m.alerts.clone(),
        );
        registry.register(
            "alert_send_failures",
            "Failed attempts to send an alert, by sink (each is retried)",
            m.alert_send_failures.clone(),
        );
        registry.register(
            "alert_latency_seconds",
            "From the gold write to the alert's delivery",
            m.alert_latency.clone(),
        );
        Metrics { registry, ..m }
    })
}

/// The registry in Prometheus text format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &metrics().registry);
    out
}

/// A task attempt ended: `outcome` is `done`, `retrying` or `dead`.
pub fn task_finished(stage: &str, outcome: &str, ran: Duration) {
    let m = metrics();
    m.tasks
        .get_or_create(&TaskLabels {
            stage: stage.into(),
            outcome: outcome.into(),
        })
        .inc();
    m.task_seconds
        .get_or_create(&StageLabels {
            stage: stage.into(),
        })
        .observe(ran.as_secs_f64());
}

/// A retry was scheduled `delay` from now.
pub fn retry_scheduled(stage: &str, delay: Duration) {
    let tier = RETRY_TIERS
        .iter()
        .find(|t| delay <= Duration::from_secs(**t))
        .map_or_else(|| "+Inf".to_owned(), |t| format!("{t}s"));
    metrics()
        .retries
        .get_or_create(&RetryLabels {
            stage: stage.into(),
            tier,
        })
        .inc();
}

/// A task or message was dead-lettered (`unknown` labels for a message
/// that was not a task, `none` for a task without a source).
pub fn dead_lettered(stage: &str, source: &str) {
    metrics()
        .dead_letters
        .get_or_create(&RouteLabels {
            stage: stage.into(),
            source: source.into(),
        })
        .inc();
}

/// One API response (`status` a code, or `error` for a transport failure)
/// and the time the request waited for its turn.
pub fn api_request(source: &str, status: &str, waited: Duration) {
    let m = metrics();
    m.api_requests
        .get_or_create(&ApiLabels {
            source: source.into(),
            status: status.into(),
        })
        .inc();
    m.rate_limit_wait
        .get_or_create(&SourceLabels {
            source: source.into(),
        })
        .inc_by(waited.as_secs_f64());
}

/// One warehouse write reserved `slots` request slots of `schedule`.
pub fn request_slots_reserved(schedule: &str, slots: u64) {
    let m = metrics();
    let labels = ScheduleLabels {
        schedule: schedule.into(),
    };
    m.request_slot_writes.get_or_create(&labels).inc();
    m.request_slots.get_or_create(&labels).inc_by(slots);
}

/// `n` records were written to `layer` (`bronze`, `silver` or `gold`).
pub fn records_written(layer: &str, n: u64) {
    metrics()
        .records
        .get_or_create(&LayerLabels {
            layer: layer.into(),
        })
        .inc_by(n);
}

/// The newest source timestamp an extract of `source` reached (epoch seconds).
pub fn extracted_up_to(source: &str, epoch_seconds: f64) {
    let gauge = metrics().freshness.get_or_create(&SourceLabels {
        source: source.into(),
    });
    if epoch_seconds > gauge.get() {
        gauge.set(epoch_seconds);
    }
}

/// A data-quality sensor placed a hold (the held days get no gold).
pub fn hold_placed(sensor: &str) {
    metrics()
        .holds
        .get_or_create(&SensorLabels {
            sensor: sensor.into(),
        })
        .inc();
}

/// How many runs are currently held by a sensor (a gauge, set, not added to).
pub fn held_runs(runs: usize) {
    metrics().held_runs.set(runs as i64);
}

/// The monitor handled one gold change.
pub fn gold_change_handled() {
    metrics().gold_changes.inc();
}

/// An alert reached every sink; `latency` from its gold write, when known.
pub fn alert_delivered(rule: &str, latency: Option<Duration>) {
    let m = metrics();
    m.alerts
        .get_or_create(&RuleLabels { rule: rule.into() })
        .inc();
    if let Some(latency) = latency {
        m.alert_latency.observe(latency.as_secs_f64());
    }
}

/// An attempt to send an alert to `sink` failed (it is retried).
pub fn alert_send_failed(sink: &str) {
    metrics()
        .alert_send_failures
        .get_or_create(&SinkLabels { sink: sink.into() })
        .inc();
}

/// The messages ready in `queue`, as last sampled (a gauge).
pub fn queue_depth(queue: &str, depth: u32) {
    metrics()
        .queue_depth
        .get_or_create(&QueueLabels {
            queue: queue.into(),
        })
        .set(i64::from(depth));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_text_format() {
        task_finished("extract", "done", Duration::from_millis(30));
        retry_scheduled("extract", Duration::from_millis(4_200));
        api_request("github", "200", Duration::from_millis(500));
        records_written("gold", 4);
        request_slots_reserved("github/app", 3);
        alert_delivered("change_failure_rate", Some(Duration::from_millis(120)));
        alert_send_failed("webhook");
        let text = render();
        assert!(
            text.contains(r#"dorafleet_alerts_delivered_total{rule="change_failure_rate"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dorafleet_alert_send_failures_total{sink="webhook"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("dorafleet_alert_latency_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"dorafleet_tasks_total{stage="extract",outcome="done"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dorafleet_retries_total{stage="extract",tier="5s"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dorafleet_api_requests_total{source="github",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dorafleet_records_total{layer="gold"} 4"#),
            "{text}"
        );
        assert!(
            text.contains("dorafleet_task_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains(r#"dorafleet_request_slots_total{schedule="github/app"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dorafleet_request_slot_writes_total{schedule="github/app"} 1"#),
            "{text}"
        );
    }
}
