//! What `dorafleet config check` prints for a valid configuration: where
//! each source is and how it authenticates, never a secret.

use dorafleet_core::config::CredentialKind;
use dorafleet_core::secret::redact_url;
use dorafleet_core::{Config, Source};

/// What `config check` prints for a valid configuration: secrets hidden
/// (tokens are not shown, URL passwords are masked as `***`).
pub(super) fn check_report(c: &Config) -> String {
    let mut out = String::from("configuration is valid\n");
    out += &format!(
        "warehouse: {}\n",
        dorafleet_operations::connect::warehouse_label(c)
    );
    for source in Source::ALL {
        let s = c.sources.get(source);
        if !s.credentials.is_empty() {
            let credentials: Vec<String> = s
                .effective_credentials()
                .iter()
                .map(|cred| {
                    let kind = match &cred.kind {
                        CredentialKind::Token(_) => "token set".to_owned(),
                        CredentialKind::TokenFile(f) => format!("token file {}", f.display()),
                        CredentialKind::GithubApp {
                            app_id,
                            installation_id,
                            ..
                        } => format!("GitHub App {app_id}, installation {installation_id}"),
                        CredentialKind::Anonymous => "no token".to_owned(),
                    };
                    format!("{}: {kind}, {} req/s", cred.name, cred.requests_per_second)
                })
                .collect();
            out += &format!(
                "{source:<8} {} ({} credentials: {})\n",
                redact_url(&s.base_url),
                credentials.len(),
                credentials.join("; ")
            );
            continue;
        }
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

    #[test]
    fn config_check_names_each_credential_without_its_secret() {
        let c = Config::from_toml(
            "[sources.github]\nbase_url = \"https://api.github.com\"\n\
             credentials = [{ name = \"bot-1\", token = \"gh_secret_one\" }, \
             { name = \"bot-2\", token_file = \"/run/gh2\", requests_per_second = 3 }]",
        )
        .unwrap();
        let report = check_report(&c);
        assert!(report.contains("2 credentials"), "{report}");
        assert!(report.contains("bot-1: token set"), "{report}");
        assert!(
            report.contains("bot-2: token file /run/gh2, 3 req/s"),
            "{report}"
        );
        assert!(!report.contains("gh_secret_one"), "{report}");
    }
}
