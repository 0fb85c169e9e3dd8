//! One typed configuration for every role, layered: built-in defaults, then a
//! TOML file, then environment variables `DORAFLEET_SECTION__KEY` (double
//! underscore between levels, e.g. `DORAFLEET_SOURCES__GITHUB__TOKEN`).
//!
//! Invalid configuration is rejected at start with the offending key named;
//! a pipeline that starts with a typo in its config would compute wrong
//! numbers quietly, which is the one thing dorafleet must never do.

use crate::model::Source;
mod broker;
mod definitions;
mod env;
mod levels;
mod monitor;
mod sensors;
mod serve;
mod settings;
mod sources;
mod teams;
mod validate;

pub use broker::BrokerConfig;
pub use definitions::{Definitions, IdentityConfig, glob_match};
pub use env::ENV_VARS;
pub use levels::{
    Bound, DAYS_PER_MONTH, DEFAULT_LEVELS_YEAR, LEVEL_YEARS, LevelThresholds, LevelsConfig,
    LevelsError, no_level_reason,
};
pub use monitor::{AlertRuleName, MonitorConfig};
pub use sensors::SensorsConfig;
pub use serve::{DEFAULT_SERVE_BIND, ServeConfig};
pub use settings::{
    ObservabilityConfig, OtlpProtocol, QualityConfig, SyncConfig, WarehouseConfig, WorkerConfig,
};
pub use sources::{
    Credential, CredentialConfig, CredentialKind, DEFAULT_CREDENTIAL, DEFAULT_MAX_PAGES_PER_TASK,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUESTS_IN_FLIGHT_PER_TASK, JiraApi,
    MAX_REQUESTS_IN_FLIGHT_PER_TASK, SourceConfig, SourcesConfig,
};
pub use teams::TeamConfig;

use crate::retry::RetryPolicy;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole configuration; each field is one section of the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[warehouse]`: where bronze, silver and gold are stored.
    pub warehouse: WarehouseConfig,
    /// `[broker]`: the fleet's RabbitMQ.
    pub broker: BrokerConfig,
    /// `[sources.github]`, `[sources.jira]`, `[sources.jenkins]`.
    pub sources: SourcesConfig,
    /// `[retry]`: backoff and retry budget of failed tasks.
    pub retry: RetryPolicy,
    /// `[worker]`: how a worker runs tasks.
    pub worker: WorkerConfig,
    /// `[sync]`: how far back a first sync reaches.
    pub sync: SyncConfig,
    /// `[definitions]`: what counts as a deployment, an incident, a bot.
    pub definitions: Definitions,
    /// `[levels]`: which DORA report year's performance levels apply.
    pub levels: LevelsConfig,
    /// `[quality]`: how much bad data an extract tolerates.
    pub quality: QualityConfig,
    /// `[sensors]`: the volume sensor that holds suspicious days out of gold.
    pub sensors: SensorsConfig,
    /// `[observability]`: traces and metrics.
    pub observability: ObservabilityConfig,
    /// `[monitor]`: alert rules and where alerts go.
    pub monitor: MonitorConfig,
    /// `[serve]`: where `dorafleet serve` listens and its operator token.
    pub serve: ServeConfig,
    /// `[[teams]]`: the teams and their repos, projects and jobs.
    pub teams: Vec<TeamConfig>,
    /// `[[identities]]`: one person's identities across the tools.
    pub identities: Vec<IdentityConfig>,
    /// What "now" is for every role built from this configuration: the
    /// system clock; never read from the file (tests and simulations set a
    /// manual one).
    #[serde(skip)]
    pub clock: crate::Clock,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file that was asked for does not exist.
    #[error("config file {path} does not exist (set DORAFLEET_CONFIG or pass --config)")]
    MissingFile {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// A value is missing, mistyped or out of range; the message names the key.
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
            // A value quoted back by a type error may be a URL with a password.
            .map_err(|e| ConfigError::Invalid(crate::secret::scrub_owned(e.to_string())))?;
        config.validate()?;
        config.register_secrets();
        Ok(config)
    }

    /// Register every secret of this configuration for
    /// [`scrub`](crate::secret::scrub): the tokens, the broker and webhook
    /// URLs (already registered as [`Secret`](crate::Secret)s when read)
    /// and the passwords of the warehouse URL and of source base URLs.
    /// Loading registers them; call it again for a configuration built in
    /// code.
    pub fn register_secrets(&self) {
        use crate::secret::{register, register_url_password};
        register_url_password(&self.warehouse.url);
        register(self.broker.url.expose());
        if let Some(hook) = &self.monitor.webhook_url {
            register(hook.expose());
        }
        for source in Source::ALL {
            let s = self.sources.get(source);
            register_url_password(s.base_url.as_str());
            if let Some(token) = &s.token {
                register(token.expose());
            }
        }
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

    /// The current instant on [`clock`](Self::clock).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
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
    fn urls_and_durations_are_typed_when_read_and_keep_their_keys() {
        let c = Config::from_toml(
            "[sources.jenkins]\nbase_url = \"https://ci.example.com/jenkins\"\ntimeout_ms = 2500\n\
             [broker]\nwait_tiers_ms = [500, 60000]\nconfirm_timeout_ms = 750",
        )
        .unwrap();
        assert_eq!(
            c.sources.jenkins.base_url.host_str(),
            Some("ci.example.com")
        );
        assert_eq!(
            c.sources.jenkins.timeout,
            std::time::Duration::from_millis(2_500)
        );
        assert_eq!(c.broker.wait_tiers[1], std::time::Duration::from_secs(60));
        assert_eq!(
            c.broker.confirm_timeout,
            std::time::Duration::from_millis(750)
        );

        for (text, key) in [
            ("[sources.github]\nbase_url = \"not a url\"", "base_url"),
            (
                "[sources.github]\nbase_url = \"ftp://example.com\"",
                "sources.github.base_url",
            ),
            ("[sources.jira]\ntimeout_ms = 0", "sources.jira.timeout_ms"),
            (
                "[sources.jira]\nmax_pages_per_task = 0",
                "sources.jira.max_pages_per_task",
            ),
            (
                "[sources.github]\nrequests_in_flight_per_task = 0",
                "sources.github.requests_in_flight_per_task",
            ),
            (
                "[sources.jenkins]\nrequests_in_flight_per_task = 65",
                "sources.jenkins.requests_in_flight_per_task",
            ),
            (
                "[sources.github]\nmax_response_bytes = 0",
                "sources.github.max_response_bytes",
            ),
            (
                "[worker]\ntask_deadline_secs = 0",
                "worker.task_deadline_secs",
            ),
            (
                "[broker]\nwait_tiers_ms = [1000, 0]",
                "broker.wait_tiers_ms",
            ),
        ] {
            let err = Config::from_toml(text).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
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
    fn loading_registers_every_configured_secret() {
        let c = Config::from_toml(
            "[warehouse]\nurl = \"mongodb://dw:wh_pw_cfg_1@db:27017/dorafleet\"\n\
             [broker]\nurl = \"amqp://fleet:br_pw_cfg_1@rabbit:5672/%2f\"\n\
             [sources.jira]\nbase_url = \"https://me:src_pw_cfg_1@jira.example\"\n\
             [sources.github]\ntoken = \"ghp_tok_cfg_1\"\n\
             [monitor]\nwebhook_url = \"https://hooks.example/T0/B0/hook_cfg_1\"",
        )
        .unwrap();
        let text = "wh_pw_cfg_1 br_pw_cfg_1 src_pw_cfg_1 ghp_tok_cfg_1 \
                    https://hooks.example/T0/B0/hook_cfg_1 mongodb://db:27017/dorafleet";
        assert_eq!(
            crate::secret::scrub(text),
            "*** *** *** *** *** mongodb://db:27017/dorafleet"
        );
        assert!(c.sources.github.token.is_some());
    }

    #[test]
    fn a_missing_config_file_is_named() {
        let err = Config::load(Some(Path::new("/nonexistent/dorafleet.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dorafleet.toml"));
    }
}
