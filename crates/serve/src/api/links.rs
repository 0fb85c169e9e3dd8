//! Links back to where a record came from, derived from the configured
//! source base URLs: the API root `https://api.github.com` becomes the web
//! root `https://github.com` (a GitHub Enterprise `…/api/v3` loses that
//! suffix); Jira's and Jenkins' base URLs are their web roots as given.

use dorafleet_core::{Config, Source};

/// The web roots of the three sources, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRoots {
    /// `https://github.com` or the Enterprise host.
    pub github: String,
    /// The Jira site.
    pub jira: String,
    /// The Jenkins root.
    pub jenkins: String,
}

impl WebRoots {
    /// The web roots of `config`'s sources.
    pub fn of(config: &Config) -> Self {
        let base = |s: Source| {
            let mut url = config.sources.get(s).base_url.clone();
            // Never link with credentials in the URL.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string().trim_end_matches('/').to_owned()
        };
        let github = base(Source::Github);
        let github = if github.eq_ignore_ascii_case("https://api.github.com") {
            "https://github.com".to_owned()
        } else {
            github.strip_suffix("/api/v3").unwrap_or(&github).to_owned()
        };
        WebRoots {
            github,
            jira: base(Source::Jira),
            jenkins: base(Source::Jenkins),
        }
    }

    /// A pull request: `{github}/{owner/repo}/pull/{number}`.
    pub fn pull_request(&self, repo: &str, number: u64) -> String {
        format!("{}/{repo}/pull/{number}", self.github)
    }

    /// A Jira issue: `{jira}/browse/{KEY}`.
    pub fn issue(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.jira)
    }

    /// A Jenkins build: `{jenkins}/job/{job}/{number}/` (a job in folders,
    /// `a/b`, is `job/a/job/b`).
    pub fn build(&self, job: &str, number: &str) -> String {
        let path = job
            .split('/')
            .map(|part| format!("job/{part}"))
            .collect::<Vec<_>>()
            .join("/");
        format!("{}/{path}/{number}/", self.jenkins)
    }

    /// A deployment by its key: a Jenkins build (`job#number`) or a GitHub
    /// deployment (`owner/repo#id`, linked to the repository's
    /// deployments of its environment: GitHub has no page per deployment).
    pub fn deployment(&self, source: Source, key: &str, environment: &str) -> String {
        let (name, id) = key.rsplit_once('#').unwrap_or((key, ""));
        match source {
            Source::Jenkins => self.build(name, id),
            _ => format!("{}/{name}/deployments/{environment}", self.github),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_lead_to_the_web_pages_of_the_configured_sources() {
        let config = Config::from_toml(
            "[sources.jira]\nbase_url = \"https://acme.atlassian.net/\"\n\
             [sources.jenkins]\nbase_url = \"https://ci.acme.dev/jenkins\"",
        )
        .unwrap();
        let roots = WebRoots::of(&config);
        assert_eq!(
            roots.pull_request("acme/api", 42),
            "https://github.com/acme/api/pull/42"
        );
        assert_eq!(
            roots.issue("PAY-7"),
            "https://acme.atlassian.net/browse/PAY-7"
        );
        assert_eq!(
            roots.deployment(Source::Jenkins, "deploy-api#17", "production"),
            "https://ci.acme.dev/jenkins/job/deploy-api/17/"
        );
        assert_eq!(
            roots.build("team/deploy", "3"),
            "https://ci.acme.dev/jenkins/job/team/job/deploy/3/"
        );
        assert_eq!(
            roots.deployment(Source::Github, "acme/api#991", "production"),
            "https://github.com/acme/api/deployments/production"
        );
        let enterprise =
            Config::from_toml("[sources.github]\nbase_url = \"https://git.acme.dev/api/v3\"")
                .unwrap();
        assert_eq!(
            WebRoots::of(&enterprise).pull_request("a/b", 1),
            "https://git.acme.dev/a/b/pull/1"
        );
    }
}
