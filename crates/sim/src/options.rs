//! What to simulate: the seed and size of the organisation, the covered date
//! range, the faults active from the start, the GitHub hourly budget,
//! where the simulated clock starts, and which dialect each source speaks.

use crate::faults::FaultRule;
use chrono::{DateTime, NaiveDate, Utc};
use dorafleet_core::Source;
use serde::{Deserialize, Serialize};

/// Everything that shapes one simulator run; [`Default`] gives the values
/// documented on each field.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Seed of the generated organisation and of the fault draws. Default 42.
    pub seed: u64,
    /// Days covered, ending at `end_date` (exclusive). Default 90.
    pub days: u32,
    /// Number of teams (at least 1). Default 5.
    pub teams: usize,
    /// GitHub repositories per team (at least 2). Default 2: `<team>-api`,
    /// deployed through GitHub Deployments, and `<team>-web`, deployed by a
    /// Jenkins job. Each one more is a service `<team>-svc<N>` deployed
    /// through GitHub Deployments, so 200 teams of 5 make a 1,000-repository
    /// organisation. The extra repositories draw from a random stream of
    /// their own, so at the default the world is the same as without them.
    pub repos_per_team: usize,
    /// Data covers `[end_date - days, end_date)` UTC. Default: today (UTC).
    pub end_date: NaiveDate,
    /// Faults active from the start.
    pub faults: Vec<FaultRule>,
    /// Requests per hour before GitHub answers 403, counted per token (and
    /// once for all requests without one). Default 5000.
    pub github_hourly_limit: u32,
    /// The instant the simulator's clock starts at (it stays there until set
    /// or advanced, see [`SimState::set_now`](crate::SimState::set_now)).
    /// Default `None`: the end of the covered range, where the world looks
    /// finished up to the last day.
    pub clock: Option<DateTime<Utc>>,
    /// Which GitHub is served (`github_flavour`): `cloud` (github.com,
    /// the default) or `enterprise` (GitHub Enterprise Server).
    pub github_flavour: GithubFlavour,
    /// Enterprise only: answer with `x-ratelimit-limit: 0` and
    /// `x-ratelimit-remaining: 0` (how some GitHub Enterprise Server
    /// versions report that rate limiting is disabled) instead of sending no
    /// rate-limit header at all. Default `false`.
    pub github_zero_rate_limits: bool,
    /// How Jenkins lays out its jobs (`jenkins_flavour`): `flat` (the
    /// default) or `folders` (a folder per team, the deploy job a
    /// multibranch pipeline).
    pub jenkins_flavour: crate::model::JenkinsFlavour,
    /// When set, Jenkins answers 401 to a request whose credentials are not
    /// this API token (basic auth with any user, or a bearer token), like a
    /// Jenkins that refuses anonymous reads. Default `None`: no check.
    pub jenkins_token: Option<String>,
    /// Which Jira is served (`jira_flavour`): `cloud` (REST v3, the
    /// default) or `datacenter` (Jira Data Center / Server, REST v2).
    pub jira_flavour: JiraFlavour,
    /// The time zone of the Jira API user (`jira_user_time_zone`, an IANA
    /// name; default UTC): `/myself` names it, and JQL date literals are
    /// read in it, as Jira does.
    pub jira_user_time_zone: chrono_tz::Tz,
    /// When set, a GitHub App the simulator mints installation tokens for
    /// (`POST /app/installations/{id}/access_tokens`); a `ghs_` token it did
    /// not mint, or that has expired, is answered 401. Default `None`.
    pub github_app: Option<crate::GithubAppOptions>,
}

/// The Jira dialect the simulator speaks. The organisation and its ground
/// truth are the same in every flavour; only the HTTP face changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JiraFlavour {
    /// Jira Cloud: REST v3, the enhanced search `/rest/api/3/search/jql`
    /// (`nextPageToken`, `isLast`) and its approximate count; the v2 and
    /// old v3 searches answer 410 Gone. `serverInfo` says `Cloud`.
    #[default]
    Cloud,
    /// Jira Data Center / Server: REST v2, `/rest/api/2/search` paged by
    /// `startAt`/`maxResults` with a `total`, an issue's changelog through
    /// `/rest/api/2/issue/{key}?expand=changelog`; nothing under
    /// `/rest/api/3`. `serverInfo` says `DataCenter`.
    Datacenter,
}

impl JiraFlavour {
    /// `cloud` or `datacenter`.
    pub fn as_str(self) -> &'static str {
        match self {
            JiraFlavour::Cloud => "cloud",
            JiraFlavour::Datacenter => "datacenter",
        }
    }
}

impl std::fmt::Display for JiraFlavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JiraFlavour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cloud" => Ok(JiraFlavour::Cloud),
            "datacenter" | "data_center" | "server" => Ok(JiraFlavour::Datacenter),
            other => Err(format!(
                "unknown Jira flavour `{other}`; expected cloud or datacenter"
            )),
        }
    }
}

/// The GitHub dialect the simulator speaks. The organisation and its ground
/// truth are the same in every flavour; only the HTTP face changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GithubFlavour {
    /// github.com: the API under `/github` (standing in for
    /// `https://api.github.com`), `x-ratelimit-*` headers counting an
    /// hourly budget (`github_hourly_limit`), 403 once it is spent.
    #[default]
    Cloud,
    /// GitHub Enterprise Server with rate limiting disabled: the API under
    /// `/api/v3` (as `https://HOST/api/v3`), `Link` and body URLs with that
    /// prefix, no hourly budget, and no `x-ratelimit-*` header (or `0/0`,
    /// see `github_zero_rate_limits`). Secondary rate limits are still
    /// injected by the `secondary` fault.
    Enterprise,
}

impl GithubFlavour {
    /// `cloud` or `enterprise`.
    pub fn as_str(self) -> &'static str {
        match self {
            GithubFlavour::Cloud => "cloud",
            GithubFlavour::Enterprise => "enterprise",
        }
    }

    /// The path the GitHub API is served under: `/github` or `/api/v3`.
    pub fn path_prefix(self) -> &'static str {
        match self {
            GithubFlavour::Cloud => "/github",
            GithubFlavour::Enterprise => "/api/v3",
        }
    }
}

impl std::fmt::Display for GithubFlavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for GithubFlavour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cloud" | "github.com" => Ok(GithubFlavour::Cloud),
            "enterprise" | "ghes" | "enterprise_server" => Ok(GithubFlavour::Enterprise),
            other => Err(format!(
                "unknown GitHub flavour `{other}`; expected cloud or enterprise"
            )),
        }
    }
}

impl SimOptions {
    /// The path `source`'s API is served under, as a source base URL
    /// continues the server's address: `/github` (`/api/v3` for GitHub
    /// Enterprise Server), `/jira`, `/jenkins`.
    pub fn base_path(&self, source: Source) -> String {
        match source {
            Source::Github => self.github_flavour.path_prefix().to_owned(),
            other => format!("/{other}"),
        }
    }
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 42,
            days: 90,
            teams: 5,
            repos_per_team: 2,
            end_date: Utc::now().date_naive(),
            faults: Vec::new(),
            github_hourly_limit: 5000,
            clock: None,
            github_flavour: GithubFlavour::default(),
            github_zero_rate_limits: false,
            jenkins_flavour: crate::model::JenkinsFlavour::Flat,
            jenkins_token: None,
            jira_flavour: JiraFlavour::default(),
            jira_user_time_zone: chrono_tz::Tz::UTC,
            github_app: None,
        }
    }
}
