//! The checks serde cannot express, each error naming the offending key:
//! a pipeline that starts with a typo in its config would compute wrong
//! numbers quietly.

use super::sources::{CredentialKind, MAX_REQUESTS_IN_FLIGHT_PER_TASK, SourceConfig};
use super::{Config, ConfigError};
use crate::model::Source;
use std::collections::{HashMap, HashSet};

impl Config {
    /// Checks serde cannot express; each error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, why: &str| Err(ConfigError::Invalid(format!("`{key}` {why}")));
        for source in Source::ALL {
            let s = self.sources.get(source);
            let key = |field: &str| format!("sources.{source}.{field}");
            if !matches!(s.base_url.scheme(), "http" | "https") || !s.base_url.has_host() {
                return invalid(
                    key("base_url"),
                    "must be an http:// or https:// URL with a host",
                );
            }
            if s.timeout.is_zero() {
                return invalid(key("timeout_ms"), "must be at least 1");
            }
            if !(1..=100).contains(&s.page_size) {
                return invalid(key("page_size"), "must be between 1 and 100");
            }
            if s.max_pages_per_task == 0 {
                return invalid(key("max_pages_per_task"), "must be at least 1");
            }
            if !(1..=MAX_REQUESTS_IN_FLIGHT_PER_TASK).contains(&s.requests_in_flight_per_task) {
                return invalid(
                    key("requests_in_flight_per_task"),
                    &format!("must be between 1 and {MAX_REQUESTS_IN_FLIGHT_PER_TASK}"),
                );
            }
            if s.max_response_bytes == 0 {
                return invalid(key("max_response_bytes"), "must be at least 1");
            }
            validate_credentials(source, s).map_err(ConfigError::Invalid)?;
        }
        if self.broker.prefix.trim().is_empty() {
            return invalid("broker.prefix".into(), "is empty");
        }
        if self.broker.prefetch == 0 {
            return invalid("broker.prefetch".into(), "must be at least 1");
        }
        if self.broker.wait_tiers.is_empty() || self.broker.wait_tiers.iter().any(|t| t.is_zero()) {
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
        self.levels.validate().map_err(ConfigError::Invalid)?;
        self.serve.validate().map_err(ConfigError::Invalid)?;
        if self.worker.concurrency == 0 {
            return invalid("worker.concurrency".into(), "must be at least 1");
        }
        if self.worker.task_deadline_secs == 0 {
            return invalid("worker.task_deadline_secs".into(), "must be at least 1");
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
}

/// `sources.<source>.credentials`: named uniquely and safely (the name is a
/// schedule key and shows in logs), each exactly one kind of secret, not
/// beside the single `token` / `token_file`, and GitHub Apps only on GitHub.
fn validate_credentials(source: Source, s: &SourceConfig) -> Result<(), String> {
    if s.credentials.is_empty() {
        return Ok(());
    }
    if s.token.is_some() || s.token_file.is_some() {
        return Err(format!(
            "`sources.{source}.credentials` is set beside `sources.{source}.token` / `token_file`; move that token into the list (or drop the list)"
        ));
    }
    let mut names = HashSet::new();
    for (i, c) in s.credentials.iter().enumerate() {
        let key = format!("sources.{source}.credentials[{i}]");
        let name_ok = !c.name.is_empty()
            && c.name.len() <= 64
            && c.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !name_ok {
            return Err(format!(
                "`{key}.name` must be 1-64 letters, digits, `-`, `_` or `.`"
            ));
        }
        if !names.insert(c.name.as_str()) {
            return Err(format!("`{key}.name` repeats `{}`", c.name));
        }
        match c.kind() {
            Err(why) => return Err(format!("`{key}` {why}")),
            Ok(CredentialKind::GithubApp { .. }) if source != Source::Github => {
                return Err(format!(
                    "`{key}` is a GitHub App, which only `sources.github` can use"
                ));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}
