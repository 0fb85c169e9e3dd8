//! One typed configuration for every role, layered: built-in defaults, then a
//! TOML file, then environment variables `DORAFLEET_SECTION__KEY` (double
//! underscore between levels, e.g. `DORAFLEET_SOURCES__GITHUB__TOKEN`).
//!
//! Invalid configuration is rejected at start with the offending key named;
//! a pipeline that starts with a typo in its config would compute wrong
//! numbers quietly, which is the one thing dorafleet must never do.

use crate::model::Source;
mod definitions;
mod monitor;
mod sensors;

pub use definitions::{Definitions, IdentityConfig, LevelThresholds, glob_match};
pub use monitor::{AlertRuleName, MonitorConfig};
pub use sensors::SensorsConfig;

use crate::retry::RetryPolicy;
use crate::secret::Secret;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

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
        "DORAFLEET_RETRY__BASE_MS / __FACTOR / __CAP_MS / __MAX_ATTEMPTS",
        "task retry policy",
    ),
    (
        "DORAFLEET_WORKER__CONCURRENCY",
        "tasks a worker runs at once",
    ),
    (
        "DORAFLEET_WORKER__NAME",
        "worker name recorded in attempt histories",
    ),
    (
        "DORAFLEET_SYNC__INITIAL_DAYS",
        "days extracted on the first run of a scope",
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
    ("RUST_LOG", "log filter, e.g. info,dorafleet=debug"),
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub warehouse: WarehouseConfig,
    pub broker: BrokerConfig,
    pub sources: SourcesConfig,
    pub retry: RetryPolicy,
    pub worker: WorkerConfig,
    pub sync: SyncConfig,
    pub definitions: Definitions,
    pub levels: LevelThresholds,
    pub quality: QualityConfig,
    pub sensors: SensorsConfig,
    pub observability: ObservabilityConfig,
    pub monitor: MonitorConfig,
    pub teams: Vec<TeamConfig>,
    pub identities: Vec<IdentityConfig>,
}

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
    #[default]
    Grpc,
    /// HTTP with protobuf bodies (`POST /v1/traces`).
    Http,
}

/// The fleet's message broker (RabbitMQ).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// AMQP URL; it carries the password, so it is a secret.
    pub url: Secret,
    /// Prefix of every exchange and queue name: fleets sharing a broker
    /// (or tests sharing one) keep apart by prefix.
    pub prefix: String,
    /// Unacked deliveries a worker holds at once.
    pub prefetch: u16,
    /// Deliveries of one message before the broker dead-letters it (a
    /// message that crashes workers must not circulate forever).
    pub delivery_limit: u32,
    /// Backoff tiers: wait queues whose TTL sends retries back.
    pub wait_tiers_ms: Vec<u64>,
    pub confirm_timeout_ms: u64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            url: Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            prefix: "dorafleet".into(),
            prefetch: 16,
            delivery_limit: 5,
            wait_tiers_ms: vec![1_000, 5_000, 30_000, 120_000, 600_000, 2_700_000],
            confirm_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {
    pub github: SourceConfig,
    pub jira: SourceConfig,
    pub jenkins: SourceConfig,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            github: SourceConfig::with_base_url("https://api.github.com", 10),
            jira: SourceConfig::with_base_url("https://your-domain.atlassian.net", 5),
            jenkins: SourceConfig::with_base_url("http://localhost:8080", 10),
        }
    }
}

impl SourcesConfig {
    pub fn get(&self, source: Source) -> &SourceConfig {
        match source {
            Source::Github => &self.github,
            Source::Jira => &self.jira,
            Source::Jenkins => &self.jenkins,
        }
    }

    pub fn get_mut(&mut self, source: Source) -> &mut SourceConfig {
        match source {
            Source::Github => &mut self.github,
            Source::Jira => &mut self.jira,
            Source::Jenkins => &mut self.jenkins,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    pub base_url: String,
    pub token: Option<Secret>,
    /// Read before every request batch and re-read when the file changes, so a
    /// rotated token is picked up without a restart.
    pub token_file: Option<PathBuf>,
    /// Basic-auth user (Jira Cloud e-mail, Jenkins user); without it the token
    /// is sent as a bearer token.
    pub user: Option<String>,
    pub requests_per_second: u32,
    pub timeout_ms: u64,
    pub page_size: u32,
}

impl SourceConfig {
    pub fn with_base_url(base_url: &str, requests_per_second: u32) -> Self {
        SourceConfig {
            base_url: base_url.into(),
            token: None,
            token_file: None,
            user: None,
            requests_per_second,
            timeout_ms: 30_000,
            page_size: 100,
        }
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig::with_base_url("http://localhost", 10)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    pub concurrency: usize,
    pub name: Option<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            name: None,
        }
    }
}

impl WorkerConfig {
    /// The name recorded in attempt histories: configured, or host-pid.
    pub fn resolved_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
            format!("{host}-{}", std::process::id())
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// How far back the first run of a scope reaches, in days.
    pub initial_days: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig { initial_days: 90 }
    }
}

/// A team and the places its work shows up in each tool.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeamConfig {
    pub id: String,
    /// `owner/repo`
    pub github_repos: Vec<String>,
    /// Jira project keys.
    pub jira_projects: Vec<String>,
    /// Jenkins job names (deploy and CI jobs alike: all are extracted).
    pub jenkins_jobs: Vec<String>,
    /// Jenkins jobs whose successful builds are production deployments, and
    /// the repo (`owner/repo`) each one deploys.
    pub deploy_jobs: BTreeMap<String, String>,
}

impl TeamConfig {
    /// The extract targets of this team for one source.
    pub fn targets(&self, source: Source) -> &[String] {
        match source {
            Source::Github => &self.github_repos,
            Source::Jira => &self.jira_projects,
            Source::Jenkins => &self.jenkins_jobs,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} does not exist (set DORAFLEET_CONFIG or pass --config)")]
    MissingFile { path: PathBuf },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Load defaults ← `file` (if given, it must exist) ← environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile {
                    path: path.to_owned(),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        // Every setting lives in a section (`DORAFLEET_SECTION__KEY`): other
        // `DORAFLEET_*` variables (scripts' own knobs) are not config keys.
        let settings = Env::prefixed("DORAFLEET_")
            .filter(|key| key.as_str().contains("__"))
            .split("__");
        Self::extract(figment.merge(settings))
    }

    /// Parse a TOML document (no environment), for tests and generated configs.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::extract(Figment::new().merge(Toml::string(text)))
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks serde cannot express; each error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, why: &str| Err(ConfigError::Invalid(format!("`{key}` {why}")));
        for source in Source::ALL {
            let s = self.sources.get(source);
            let key = |field: &str| format!("sources.{source}.{field}");
            if !(s.base_url.starts_with("http://") || s.base_url.starts_with("https://")) {
                return invalid(key("base_url"), "must start with http:// or https://");
            }
            if s.requests_per_second == 0 {
                return invalid(key("requests_per_second"), "must be at least 1");
            }
            if s.timeout_ms == 0 {
                return invalid(key("timeout_ms"), "must be at least 1");
            }
            if !(1..=100).contains(&s.page_size) {
                return invalid(key("page_size"), "must be between 1 and 100");
            }
        }
        if self.broker.prefix.trim().is_empty() {
            return invalid("broker.prefix".into(), "is empty");
        }
        if self.broker.prefetch == 0 {
            return invalid("broker.prefetch".into(), "must be at least 1");
        }
        if self.broker.wait_tiers_ms.is_empty() || self.broker.wait_tiers_ms.contains(&0) {
            return invalid(
                "broker.wait_tiers_ms".into(),
                "needs at least one tier, each above 0",
            );
        }
        if self.retry.max_attempts == 0 {
            return invalid("retry.max_attempts".into(), "must be at least 1");
        }
        if self.retry.factor < 1.0 {
            return invalid("retry.factor".into(), "must be at least 1.0");
        }
        if !(0.0..=1.0).contains(&self.quality.max_rejected_ratio) {
            return invalid(
                "quality.max_rejected_ratio".into(),
                "must be between 0.0 and 1.0",
            );
        }
        self.monitor.validate().map_err(ConfigError::Invalid)?;
        if self.worker.concurrency == 0 {
            return invalid("worker.concurrency".into(), "must be at least 1");
        }
        let mut seen = HashSet::new();
        let mut owner: HashMap<(&str, &str), &str> = HashMap::new();
        for (i, team) in self.teams.iter().enumerate() {
            for (kind, targets) in [
                ("github_repos", &team.github_repos),
                ("jira_projects", &team.jira_projects),
                ("jenkins_jobs", &team.jenkins_jobs),
            ] {
                for t in targets {
                    if let Some(other) = owner.insert((kind, t.as_str()), team.id.as_str()) {
                        return invalid(
                            format!("teams[{i}].{kind}"),
                            &format!("has `{t}`, already claimed by team `{other}`"),
                        );
                    }
                }
            }
            for (job, repo) in &team.deploy_jobs {
                if !team.jenkins_jobs.contains(job) {
                    return invalid(
                        format!("teams[{i}].deploy_jobs.{job}"),
                        "names a job missing from the team's jenkins_jobs",
                    );
                }
                if repo.split('/').count() != 2 {
                    return invalid(
                        format!("teams[{i}].deploy_jobs.{job}"),
                        &format!("has `{repo}`, expected owner/repo"),
                    );
                }
            }
            if team.id.trim().is_empty() {
                return invalid(format!("teams[{i}].id"), "is empty");
            }
            if !seen.insert(team.id.as_str()) {
                return invalid(format!("teams[{i}].id"), "repeats an earlier team id");
            }
            if let Some(repo) = team.github_repos.iter().find(|r| r.split('/').count() != 2) {
                return invalid(
                    format!("teams[{i}].github_repos"),
                    &format!("has `{repo}`, expected owner/repo"),
                );
            }
        }
        let mut aliases: HashMap<(&str, String), &str> = HashMap::new();
        for (i, person) in self.identities.iter().enumerate() {
            if person.contributor_id.trim().is_empty() {
                return invalid(format!("identities[{i}].contributor_id"), "is empty");
            }
            for (tool, names) in [
                ("github", &person.github),
                ("jira", &person.jira),
                ("jenkins", &person.jenkins),
            ] {
                for name in names {
                    if let Some(other) =
                        aliases.insert((tool, name.to_lowercase()), person.contributor_id.as_str())
                    {
                        return invalid(
                            format!("identities[{i}].{tool}"),
                            &format!("has `{name}`, already an alias of `{other}`"),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// How many extract scopes (team × source × target) a run over every
    /// source plans.
    pub fn extract_scopes(&self) -> usize {
        self.teams
            .iter()
            .map(|t| {
                Source::ALL
                    .iter()
                    .map(|s| t.targets(*s).len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// The team that owns a target of a source, if any.
    pub fn team_of(&self, source: Source, target: &str) -> Option<&TeamConfig> {
        self.teams
            .iter()
            .find(|t| t.targets(source).iter().any(|x| x == target))
    }

    /// The contributor behind a tool identity: the configured alias, or the
    /// identity itself (prefixed by the tool) when nobody claimed it.
    pub fn contributor_id(&self, source: Source, identity: &str) -> String {
        self.identities
            .iter()
            .find(|p| {
                let names = match source {
                    Source::Github => &p.github,
                    Source::Jira => &p.jira,
                    Source::Jenkins => &p.jenkins,
                };
                names.iter().any(|n| n.eq_ignore_ascii_case(identity))
            })
            .map_or_else(
                || format!("{source}:{identity}"),
                |p| p.contributor_id.clone(),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_file_fills_in_defaults() {
        let c = Config::from_toml("[[teams]]\nid = \"payments\"\ngithub_repos = [\"acme/ledger\"]")
            .unwrap();
        assert_eq!(c.teams[0].github_repos, vec!["acme/ledger"]);
        assert_eq!(c.retry.max_attempts, 6);
        assert_eq!(c.sources.github.page_size, 100);
        assert_eq!(c.quality.max_rejected_ratio, 0.05);
    }

    #[test]
    fn invalid_values_are_rejected_naming_the_key() {
        let err = Config::from_toml("[sources.jira]\nrequests_per_second = 0").unwrap_err();
        assert!(
            err.to_string().contains("sources.jira.requests_per_second"),
            "{err}"
        );

        let err =
            Config::from_toml("[sources.github]\nrequests_per_second = \"fast\"").unwrap_err();
        assert!(err.to_string().contains("requests_per_second"), "{err}");

        let err = Config::from_toml("[worker]\nconcurency = 3").unwrap_err();
        assert!(err.to_string().contains("concurency"), "{err}");

        let err = Config::from_toml("[quality]\nmax_rejected_ratio = 1.5").unwrap_err();
        assert!(
            err.to_string().contains("quality.max_rejected_ratio"),
            "{err}"
        );

        let err = Config::from_toml("[[teams]]\nid = \"a\"\n[[teams]]\nid = \"a\"").unwrap_err();
        assert!(err.to_string().contains("teams[1].id"), "{err}");
    }

    #[test]
    fn monitor_rules_and_thresholds_are_read_and_checked() {
        let c = Config::from_toml(
            "[monitor]\nrules = [\"change_failure_rate\"]\nchange_failure_rate_above = 0.5",
        )
        .unwrap();
        assert!(c.monitor.enabled(AlertRuleName::ChangeFailureRate));
        assert!(!c.monitor.enabled(AlertRuleName::StaleSource));
        assert_eq!(c.monitor.change_failure_rate_above, 0.5);
        assert_eq!(Config::default().monitor.rules, AlertRuleName::ALL);

        let err = Config::from_toml("[monitor]\nrules = [\"cfr\"]").unwrap_err();
        assert!(err.to_string().contains("cfr"), "{err}");
        let err = Config::from_toml("[monitor]\nchange_failure_rate_above = 2.0").unwrap_err();
        assert!(
            err.to_string()
                .contains("monitor.change_failure_rate_above"),
            "{err}"
        );
        let err = Config::from_toml("[monitor]\nwebhook_url = \"hooks.example\"").unwrap_err();
        assert!(err.to_string().contains("monitor.webhook_url"), "{err}");
    }

    #[test]
    fn a_missing_config_file_is_named() {
        let err = Config::load(Some(Path::new("/nonexistent/dorafleet.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dorafleet.toml"));
    }
}
