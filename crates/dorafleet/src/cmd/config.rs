//! `dorafleet config`: validate the configuration, list the environment variables.

use super::config_report::check_report;
use clap::{Args, Subcommand};
use dorafleet_core::config::ENV_VARS;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Load and validate the configuration, then print what it resolves to (secrets hidden).
    Check(CheckArgs),
    /// List every environment variable dorafleet reads.
    Env,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Also make one cheap authenticated request per configured source
    /// (GitHub `/rate_limit`, Jira `/rest/api/2/myself`, Jenkins
    /// `/whoAmI/api/json`) and report what each answers; exits non-zero when
    /// one fails, naming the key to change.
    #[arg(long)]
    probe: bool,
}

pub fn run(config: Option<&Path>, args: ConfigArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        ConfigAction::Env => {
            for (name, what) in ENV_VARS {
                println!("{name:<64} {what}");
            }
        }
        ConfigAction::Check(check) => {
            let c = super::load_config(config)?;
            print!("{}", check_report(&c));
            if check.probe {
                let handle = tokio::runtime::Handle::current();
                let probes = tokio::task::block_in_place(|| handle.block_on(probe::all(&c)));
                let mut failed = false;
                for p in &probes {
                    println!("{}", p.line());
                    failed |= !p.ok;
                }
                if failed {
                    println!("connection check FAILED");
                    return Ok(ExitCode::FAILURE);
                }
                println!("connection check OK");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `config check --probe`: one cheap authenticated request per source,
/// through the same client the extract uses (so the token is read and sent
/// as it will be, and never shown).
mod probe {
    use dorafleet_core::{Config, ErrorClass, Source, TaskError};
    use dorafleet_sources::{PageRequest, SourceClient};
    use serde_json::Value;

    /// What one source answered.
    pub(super) struct Probe {
        pub source: Source,
        pub ok: bool,
        /// What it sees (OK) or what went wrong and what to change.
        pub text: String,
    }

    impl Probe {
        pub(super) fn line(&self) -> String {
            let verdict = if self.ok { "OK    " } else { "FAILED" };
            format!("probe {:<8} {verdict} {}", self.source.as_str(), self.text)
        }
    }

    /// The sources some team reads (every source when no team reads any).
    fn configured(c: &Config) -> Vec<Source> {
        let used: Vec<Source> = Source::ALL
            .into_iter()
            .filter(|s| c.teams.iter().any(|t| !t.targets(*s).is_empty()))
            .collect();
        if used.is_empty() {
            Source::ALL.to_vec()
        } else {
            used
        }
    }

    pub(super) async fn all(c: &Config) -> Vec<Probe> {
        let mut out = Vec::new();
        for source in configured(c) {
            out.push(one(c, source).await);
        }
        out
    }

    /// The requests to try, in order: the first that is not a 404 decides
    /// (a 404 means this server does not offer that one: an older version,
    /// GitHub Enterprise Server with rate limiting off). The last ones read
    /// one record of the first configured target.
    fn candidates(c: &Config, source: Source) -> Vec<String> {
        let first = c
            .teams
            .iter()
            .find_map(|t| t.targets(source).first().cloned());
        match source {
            Source::Github => {
                let mut paths = vec!["/rate_limit".to_owned()];
                if let Some(repo) = first {
                    paths.push(format!("/repos/{repo}/pulls?per_page=1&state=all"));
                }
                paths
            }
            Source::Jira => {
                let mut paths = vec![
                    "/rest/api/2/myself".to_owned(),
                    "/rest/api/3/myself".to_owned(),
                    "/rest/api/2/serverInfo".to_owned(),
                ];
                if let Some(project) = first {
                    paths.push(format!(
                        "/rest/api/3/search/jql?jql=project%3D{project}&maxResults=1&fields=key"
                    ));
                }
                paths
            }
            Source::Jenkins => {
                let mut paths = vec!["/whoAmI/api/json".to_owned()];
                if let Some(job) = first {
                    paths.push(format!(
                        "{}/api/json?tree=name",
                        dorafleet_sources::jenkins::job_url_path(&job)
                    ));
                }
                paths
            }
        }
    }

    async fn one(c: &Config, source: Source) -> Probe {
        let settings = c.sources.get(source);
        let client = match SourceClient::new(source, settings) {
            Ok(client) => client,
            Err(e) => {
                return Probe {
                    source,
                    ok: false,
                    text: e.to_string(),
                };
            }
        };
        let mut last = None;
        for path in candidates(c, source) {
            let request = PageRequest::new("probe", path.trim_start_matches('/'), 1);
            match client.get(&request).await {
                Ok(page) => {
                    let body: Value = serde_json::from_str(&page.body).unwrap_or(Value::Null);
                    return Probe {
                        source,
                        ok: true,
                        text: format!("{}: {}", path_only(&path), sees(source, &path, &body)),
                    };
                }
                Err(e) => {
                    let refusal = Refusal::of(&e);
                    if refusal.status == Some(404) {
                        last = Some((path, e));
                        continue;
                    }
                    return failure(c, source, &path, &e);
                }
            }
        }
        match last {
            Some((path, e)) => failure(c, source, &path, &e),
            None => Probe {
                source,
                ok: false,
                text: "nothing to ask".into(),
            },
        }
    }

    fn path_only(path: &str) -> &str {
        path.split('?').next().unwrap_or(path)
    }

    /// What an answer tells: who the credentials are, the server, the budget.
    fn sees(source: Source, path: &str, body: &Value) -> String {
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let mut parts = Vec::new();
        match source {
            Source::Github => {
                if let Some(core) = body.pointer("/resources/core") {
                    parts.push(format!(
                        "rate limit {} of {} left",
                        core["remaining"], core["limit"]
                    ));
                } else if path.contains("/pulls") {
                    parts.push(format!("can read the pull requests of {}", repo_of(path)));
                }
            }
            Source::Jira => {
                if let Some(name) = text(body, "displayName") {
                    parts.push(format!("user {name}"));
                }
                if let Some(mail) = text(body, "emailAddress") {
                    parts.push(format!("<{mail}>"));
                }
                if let Some(zone) = text(body, "timeZone") {
                    parts.push(format!("time zone {zone}"));
                }
                if let Some(kind) = text(body, "deploymentType") {
                    parts.push(format!("deployment {kind}"));
                }
                if let Some(version) = text(body, "version") {
                    parts.push(format!("version {version}"));
                }
                if path.contains("/search") {
                    parts.push("can search the first configured project".into());
                }
            }
            Source::Jenkins => {
                if let Some(name) = text(body, "name") {
                    if body.get("anonymous").and_then(Value::as_bool) == Some(true) {
                        parts.push(
                            "anonymous: no credentials were accepted; only what anonymous users may read is visible (set sources.jenkins.user and token)".into(),
                        );
                    } else if path.contains("whoAmI") {
                        parts.push(format!("user {name}"));
                    } else {
                        parts.push(format!("can read job {name}"));
                    }
                }
            }
        }
        if parts.is_empty() {
            "answered".into()
        } else {
            parts.join(", ")
        }
    }

    fn repo_of(path: &str) -> &str {
        path.strip_prefix("/repos/")
            .and_then(|rest| rest.split("/pulls").next())
            .unwrap_or(path)
    }

    /// A refusal as the client reported it: `… HTTP {status}: {body excerpt}`.
    struct Refusal {
        status: Option<u16>,
        message: String,
    }

    impl Refusal {
        fn of(e: &TaskError) -> Refusal {
            let text = e.message();
            let Some(at) = text.find(": HTTP ") else {
                return Refusal {
                    status: None,
                    message: text.to_owned(),
                };
            };
            let rest = &text[at + ": HTTP ".len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let body = rest[digits.len()..]
                .trim_start_matches(|c: char| c == ':' || c == ',' || c.is_whitespace());
            Refusal {
                status: digits.parse().ok(),
                message: server_message(body),
            }
        }
    }

    /// The server's own words in an error body: GitHub's `message`, Jira's
    /// `errorMessages`, an HTML page's title; else the excerpt.
    fn server_message(body: &str) -> String {
        let body = body.trim_end_matches('…');
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            if let Some(m) = v.get("message").and_then(Value::as_str) {
                return m.to_owned();
            }
            if let Some(m) = v
                .get("errorMessages")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
            {
                return m.to_owned();
            }
        }
        for (open, close) in [("<title>", "</title>"), ("\"message\":\"", "\"")] {
            if let Some(start) = body.find(open) {
                let rest = &body[start + open.len()..];
                if let Some(end) = rest.find(close) {
                    return rest[..end].trim().to_owned();
                }
            }
        }
        if body.is_empty() {
            "(no message)".into()
        } else {
            body.to_owned()
        }
    }

    fn name(source: Source) -> &'static str {
        match source {
            Source::Github => "GitHub",
            Source::Jira => "Jira",
            Source::Jenkins => "Jenkins",
        }
    }

    /// The key that holds the credential, as configured.
    fn token_key(c: &Config, source: Source) -> String {
        let s = c.sources.get(source);
        if !s.credentials.is_empty() {
            return format!("sources.{source}.credentials (the probe used one of them)");
        }
        match (&s.token_file, &s.token) {
            (Some(_), _) => format!("sources.{source}.token_file"),
            (None, Some(_)) => format!("sources.{source}.token"),
            (None, None) => format!("sources.{source}.token (none is set)"),
        }
    }

    fn failure(c: &Config, source: Source, path: &str, e: &TaskError) -> Probe {
        let refusal = Refusal::of(e);
        let who = name(source);
        let token = token_key(c, source);
        let user = format!("sources.{source}.user");
        let text = match refusal.status {
            Some(status @ (401 | 403)) => {
                let what = match source {
                    Source::Github => format!(
                        "check {token}; the token needs read access to repository contents, pull requests and deployments (fine-grained: Contents, Pull requests, Deployments read-only; classic: repo)"
                    ),
                    Source::Jira if status == 401 => format!(
                        "check {token} and {user}: Jira Cloud wants the account's e-mail as {user} and an API token; Data Center a personal access token without {user} (sent as a bearer token), or {user} with the password where basic auth is allowed"
                    ),
                    Source::Jira => format!(
                        "the account behind {token} lacks a permission: it needs Browse projects on every configured project"
                    ),
                    Source::Jenkins if status == 401 => format!(
                        "check {user} (a Jenkins user id) and {token} (an API token of that user: User > Security > API Token)"
                    ),
                    Source::Jenkins => format!(
                        "the user in {user} lacks a permission: it needs Overall/Read and Job/Read"
                    ),
                };
                format!("{status} from {who}: {} — {what}", refusal.message)
            }
            Some(404) => format!(
                "404 from {who} at {}: {} — check sources.{source}.base_url ({})",
                path_only(path),
                refusal.message,
                match source {
                    Source::Github =>
                        "https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server",
                    Source::Jira => "the site's root, e.g. https://your-domain.atlassian.net",
                    Source::Jenkins =>
                        "the root URL with its context path, e.g. https://ci.example.com/jenkins",
                }
            ),
            Some(status) => format!("{status} from {who}: {}", refusal.message),
            None => match e.class() {
                ErrorClass::RateLimited => format!("{who} asks to wait: {}", refusal.message),
                _ => format!(
                    "cannot reach {who}: {} — check sources.{source}.base_url and the network",
                    refusal.message
                ),
            },
        };
        Probe {
            source,
            ok: false,
            text,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_server_message_is_read_from_json_html_or_the_excerpt() {
            assert_eq!(
                server_message(r#"{"message":"Bad credentials","documentation_url":"x"}"#),
                "Bad credentials"
            );
            assert_eq!(
                server_message(r#"{"errorMessages":["You are not authenticated."],"errors":{}}"#),
                "You are not authenticated."
            );
            assert_eq!(
                server_message(
                    "<html><head><title>Error 401 Invalid password/token for user: x</title>"
                ),
                "Error 401 Invalid password/token for user: x"
            );
            let e = TaskError::permanent(
                "github GET /rate_limit: HTTP 401: {\"message\":\"Bad credentials\"}",
            );
            let r = Refusal::of(&e);
            assert_eq!(
                (r.status, r.message.as_str()),
                (Some(401), "Bad credentials")
            );
        }
    }
}
