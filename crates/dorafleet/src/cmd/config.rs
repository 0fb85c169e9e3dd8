//! `dorafleet config`: validate the configuration, list the environment variables.

use clap::{Args, Subcommand};
use dorafleet_core::Source;
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
            println!("configuration is valid");
            println!(
                "warehouse: {}",
                dorafleet_operations::connect::warehouse_label(&c)
            );
            for source in Source::ALL {
                let s = c.sources.get(source);
                let token = match (&s.token, &s.token_file) {
                    (Some(_), _) => "token set".to_owned(),
                    (None, Some(f)) => format!("token file {}", f.display()),
                    (None, None) => "no token".to_owned(),
                };
                println!(
                    "{source:<8} {} ({} req/s, {token})",
                    s.base_url, s.requests_per_second
                );
            }
            println!(
                "teams: {}",
                c.teams
                    .iter()
                    .map(|t| t.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
