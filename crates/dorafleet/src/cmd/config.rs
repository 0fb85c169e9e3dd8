//! `dorafleet config`: validate the configuration, list the environment variables.

use clap::{Args, Subcommand};
use dorafleet_core::config::ENV_VARS;
use dorafleet_core::secret::redact_url;
use dorafleet_core::{Config, Source};
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
    Check,
    /// List every environment variable dorafleet reads.
    Env,
}

pub fn run(config: Option<&Path>, args: ConfigArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        ConfigAction::Env => {
            for (name, what) in ENV_VARS {
                println!("{name:<64} {what}");
            }
        }
        ConfigAction::Check => {
            let c = super::load_config(config)?;
            print!("{}", check_report(&c));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `config check` prints for a valid configuration: secrets hidden
/// (tokens are not shown, URL passwords are masked as `***`).
fn check_report(c: &Config) -> String {
    let mut out = String::from("configuration is valid\n");
    out += &format!(
        "warehouse: {}\n",
        dorafleet_operations::connect::warehouse_label(c)
    );
    for source in Source::ALL {
        let s = c.sources.get(source);
        let token = match (&s.token, &s.token_file) {
            (Some(_), _) => "token set".to_owned(),
            (None, Some(f)) => format!("token file {}", f.display()),
            (None, None) => "no token".to_owned(),
        };
        out += &format!(
            "{source:<8} {} ({} req/s, {token})\n",
            redact_url(&s.base_url),
            s.requests_per_second
        );
    }
    out += &format!(
        "teams: {}\n",
        c.teams
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_check_masks_the_password_of_every_url_and_shows_no_token() {
        let c = Config::from_toml(
            "[warehouse]\nurl = \"mongodb://dw:WH_pw_check@db:27017/dorafleet\"\n\
             [sources.jira]\nbase_url = \"https://user:PW_check_1@jira.example\"\n\
             token = \"jira_tok_check_1\"",
        )
        .unwrap();
        let report = check_report(&c);
        assert!(
            report.contains("https://user:***@jira.example/"),
            "{report}"
        );
        for secret in ["PW_check_1", "WH_pw_check", "jira_tok_check_1"] {
            assert!(!report.contains(secret), "{secret} in {report}");
        }
        assert!(report.contains("token set"), "{report}");
    }
}
