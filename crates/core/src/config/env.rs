//! Every environment variable dorafleet reads, in one place, for
//! `dorafleet config env` and the documentation.

/// Every environment variable dorafleet reads, with what it sets. Nested keys
/// of the config file map to `DORAFLEET_` + path joined by `__`, upper case.
pub const ENV_VARS: &[(&str, &str)] = &[
    (
        "DORAFLEET_CONFIG",
        "path of the TOML config file (default: dorafleet.toml if present)",
    ),
    (
        "DORAFLEET_WAREHOUSE__URL",
        "warehouse URL: sqlite:dorafleet.db, or mongodb://host:27017/dorafleet?replicaSet=rs0",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__BASE_URL",
        "API base URL of github / jira / jenkins",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__TOKEN",
        "API token (never logged)",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__TOKEN_FILE",
        "file holding the API token, re-read when it changes",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__CREDENTIALS",
        "several credentials, each with its own budget, as one inline list: '[{name=\"bot-1\", token_file=\"/run/secrets/bot1\"}, {name=\"app\", app_id=1, installation_id=2, private_key_file=\"/run/secrets/app.pem\"}]' (replaces TOKEN / TOKEN_FILE)",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__USER",
        "user for basic auth (Jira e-mail, Jenkins user)",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__REQUESTS_PER_SECOND",
        "request budget for that source",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__TIMEOUT_MS",
        "per-request timeout",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__PAGE_SIZE",
        "records per page requested",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__MAX_PAGES_PER_TASK",
        "pages one extract task may fetch before it fails permanently (default 10000)",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__REQUESTS_IN_FLIGHT_PER_TASK",
        "requests one extract task keeps in flight, stored in order (1-64, default 4)",
    ),
    (
        "DORAFLEET_SOURCES__<SOURCE>__MAX_RESPONSE_BYTES",
        "largest response body accepted, enforced while streaming (default 33554432 = 32 MiB)",
    ),
    (
        "DORAFLEET_RETRY__BASE_MS / __FACTOR / __CAP_MS / __MAX_ATTEMPTS",
        "task retry policy",
    ),
    (
        "DORAFLEET_WORKER__CONCURRENCY",
        "tasks a worker runs at once",
    ),
    (
        "DORAFLEET_BROKER__PREFETCH",
        "most unacked deliveries a worker holds: its concurrency plus 32 for outcomes awaiting their confirm, up to this (default 64; lower it for long tasks and few workers)",
    ),
    (
        "DORAFLEET_WORKER__NAME",
        "worker name recorded in attempt histories",
    ),
    (
        "DORAFLEET_WORKER__TASK_DEADLINE_SECS",
        "wall-clock limit of one task attempt; past it the attempt fails as transient and resumes from its checkpoint (default 1800)",
    ),
    (
        "DORAFLEET_SYNC__INITIAL_DAYS",
        "days extracted on the first run of a scope",
    ),
    (
        "DORAFLEET_SYNC__EARLIEST / __WATCH_HOURS / __CLOCK_SKEW_SECS",
        "earliest day any task may cover; hours unfinished records are re-read; tolerated clock skew",
    ),
    (
        "DORAFLEET_QUALITY__MAX_REJECTED_RATIO",
        "share of an extract task's records that may fail validation (0.0-1.0, default 0.05)",
    ),
    (
        "DORAFLEET_SENSORS__ENABLED / __BASELINE_WEEKS / __MIN_HISTORY_WEEKS / __DROP_THRESHOLD / __DEVIATION_THRESHOLD / __MIN_EXPECTED",
        "volume sensor: baseline weeks, minimum history, breach thresholds",
    ),
    (
        "DORAFLEET_LEVELS__YEAR",
        "DORA report year of the performance levels: 2021, 2023 or 2024 (default 2024; `dorafleet metrics --levels-year` overrides it)",
    ),
    (
        "DORAFLEET_OBSERVABILITY__JAEGER_URL",
        "Jaeger UI base URL, for trace links",
    ),
    (
        "DORAFLEET_MONITOR__WEBHOOK_URL",
        "Slack-compatible webhook for alerts (never logged); unset: stdout only",
    ),
    (
        "DORAFLEET_MONITOR__<KEY>",
        "alert rules and thresholds, e.g. __CHANGE_FAILURE_RATE_ABOVE, __POLL_INTERVAL_MS",
    ),
    (
        "DORAFLEET_OBSERVABILITY__OTLP_ENDPOINT",
        "OTLP collector to export traces to, e.g. http://localhost:4317 (unset: no export)",
    ),
    (
        "DORAFLEET_OBSERVABILITY__OTLP_PROTOCOL",
        "grpc (default, port 4317) or http (protobuf, port 4318)",
    ),
    (
        "DORAFLEET_SERVE__BIND",
        "address `dorafleet serve` listens on (default 127.0.0.1:8080)",
    ),
    (
        "DORAFLEET_SERVE__TOKEN_FILE",
        "file holding the bearer token of `dorafleet serve`'s operator actions (unset: they are refused)",
    ),
    (
        "DORAFLEET_ACTOR",
        "who operator actions (replay, discard, release) are audited as; default: the OS user@host",
    ),
    ("RUST_LOG", "log filter, e.g. info,dorafleet=debug"),
];
