//! The runtime sections: where the warehouse is, how much bad data an
//! extract tolerates, where traces and metrics go, how many tasks a worker
//! runs, how far back a first sync reaches.

use serde::Deserialize;

/// The `[warehouse]` section: where bronze, silver and gold are stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WarehouseConfig {
    /// `sqlite:PATH` (embedded) or `mongodb://…` / `mongodb+srv://…` (a
    /// replica set; the path names the database, default `dorafleet`).
    pub url: String,
    /// Bronze pages fetched longer ago than this are deleted at the start of a
    /// run (0 keeps them forever).
    pub bronze_retention_days: u32,
}

impl Default for WarehouseConfig {
    fn default() -> Self {
        WarehouseConfig {
            url: "sqlite:dorafleet.db".into(),
            bronze_retention_days: 30,
        }
    }
}

/// How much bad data an extract tolerates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Share (0.0–1.0) of an extract task's records that may be rejected by
    /// schema validation before the task fails permanently (and is
    /// dead-lettered with a sample of the rejections). Up to it, the run goes
    /// on without them and their count is reported.
    pub max_rejected_ratio: f64,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            max_rejected_ratio: 0.05,
        }
    }
}

/// Where operators look at traces and metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObservabilityConfig {
    /// Jaeger UI base URL; a trace opens at `{jaeger_url}/trace/{trace_id}`.
    pub jaeger_url: String,
    /// Where long-running roles serve `/metrics`, `/healthz` and `/readyz`
    /// (e.g. `127.0.0.1:9464`); unset: not served.
    pub metrics_addr: Option<String>,
    /// OTLP collector every role exports its spans to (Jaeger takes OTLP on
    /// `http://localhost:4317` for gRPC, `http://localhost:4318` for HTTP);
    /// unset: spans are not exported.
    pub otlp_endpoint: Option<String>,
    /// How spans travel to `otlp_endpoint` (default gRPC).
    pub otlp_protocol: OtlpProtocol,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        ObservabilityConfig {
            jaeger_url: "http://localhost:16686".into(),
            metrics_addr: None,
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::Grpc,
        }
    }
}

/// How spans travel to the OTLP collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    /// OTLP over gRPC (the default).
    #[default]
    Grpc,
    /// HTTP with protobuf bodies (`POST /v1/traces`).
    Http,
}

/// The `[worker]` section: how a worker runs tasks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Tasks a worker runs at once.
    pub concurrency: usize,
    /// The worker's name in attempt histories and events; unset: host-pid
    /// (see [`WorkerConfig::resolved_name`]).
    pub name: Option<String>,
    /// Wall-clock limit of one task attempt, in seconds (at least 1). An
    /// attempt past it is stopped and fails as transient: it may succeed
    /// later and resumes from its checkpoint. Such an attempt counts as one
    /// without progress, so a task that hits the deadline
    /// `retry.max_attempts` times in a row is dead-lettered.
    pub task_deadline_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            name: None,
            task_deadline_secs: 1_800,
        }
    }
}

impl WorkerConfig {
    /// `task_deadline_secs` as a duration.
    pub fn task_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.task_deadline_secs)
    }

    /// The name recorded in attempt histories: configured, or host-pid.
    pub fn resolved_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
            format!("{host}-{}", std::process::id())
        })
    }
}

/// The `[sync]` section: how far back a first sync reaches, the earliest
/// instant any task may cover, and how long records that can still change
/// are watched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// How far back the first run of a scope reaches, in days.
    pub initial_days: u32,
    /// The earliest day (UTC) any run, task or backfill may cover. Windows
    /// are clamped to it when planned, and a worker refuses a task that
    /// reaches before it. Default 2000-01-01.
    pub earliest: chrono::NaiveDate,
    /// How long a record that can still change (a deployment without a
    /// final status, a build still running) is read again by later runs,
    /// counted from its creation, in hours. Past it, the record stays as it
    /// was last seen. Default 168 (7 days).
    pub watch_hours: u32,
    /// How far ahead of a worker's clock a task's window may end (the
    /// coordinator that planned it runs on another machine), in seconds.
    /// Windows reaching further into the future are refused. Default 300.
    pub clock_skew_secs: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            initial_days: 90,
            earliest: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date"),
            watch_hours: 168,
            clock_skew_secs: 300,
        }
    }
}

impl SyncConfig {
    /// Midnight UTC of [`earliest`](Self::earliest).
    pub fn earliest_instant(&self) -> chrono::DateTime<chrono::Utc> {
        self.earliest.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    /// [`watch_hours`](Self::watch_hours) as a duration.
    pub fn watch(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.watch_hours))
    }

    /// [`clock_skew_secs`](Self::clock_skew_secs) as a duration.
    pub fn clock_skew(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::from(self.clock_skew_secs))
    }
}
