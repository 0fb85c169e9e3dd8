//! `[serve]`: where `dorafleet serve` listens and where the operator token
//! of its actions (releasing a hold, replaying dead letters) is read from.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Default of `serve.bind`: loopback only, so a first start exposes nothing.
pub const DEFAULT_SERVE_BIND: &str = "127.0.0.1:8080";

/// The `[serve]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// The address the API and the dashboard listen on (`IP:PORT`).
    pub bind: String,
    /// A file holding the bearer token operator actions need (surrounding
    /// whitespace ignored). Unset: every operator action is refused (403);
    /// the read-only API and dashboard work without it.
    pub token_file: Option<PathBuf>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            bind: DEFAULT_SERVE_BIND.into(),
            token_file: None,
        }
    }
}

impl ServeConfig {
    /// Checks serde cannot express; each error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.bind.trim().parse::<SocketAddr>().is_err() {
            return Err(format!(
                "`serve.bind` is `{}`, expected IP:PORT such as {DEFAULT_SERVE_BIND} (0.0.0.0:8080 listens on every interface)",
                self.bind
            ));
        }
        if self
            .token_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(
                "`serve.token_file` is empty: name a file holding the token, or leave it out"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn serve_binds_loopback_by_default_and_a_bad_address_names_the_key() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.serve.bind, "127.0.0.1:8080");
        assert!(c.serve.token_file.is_none());
        let c =
            Config::from_toml("[serve]\nbind = \"0.0.0.0:9000\"\ntoken_file = \"/run/secrets/t\"")
                .unwrap();
        assert_eq!(c.serve.bind, "0.0.0.0:9000");
        let err = Config::from_toml("[serve]\nbind = \"localhost\"").unwrap_err();
        assert!(err.to_string().contains("serve.bind"), "{err}");
        let err = Config::from_toml("[serve]\ntoken = \"x\"").unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
    }
}
