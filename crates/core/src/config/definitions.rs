//! The parts of the configuration that define what the metrics mean: which
//! environments and jobs are production deployments, which issues are
//! incidents, who is a bot, who is who across tools. The DORA performance
//! levels are in `levels.rs`.
//!
//! Every metric's definition is fingerprinted from exactly the settings it
//! depends on, so changing one (say, excluding P4 incidents) gives the
//! affected metrics a new definition version and leaves the others alone.

use crate::model::{Metric, Source};
use serde::{Deserialize, Serialize};

/// What the metrics count: production deployments, incidents, bots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Definitions {
    /// GitHub deployment environments that count as production.
    pub production_environments: Vec<String>,
    /// Jira issue types that are incidents.
    pub incident_issue_types: Vec<String>,
    /// Incident priorities left out of change failure rate and recovery time.
    pub excluded_priorities: Vec<String>,
    /// Logins (GitHub) and users (Jenkins) matching any of these glob patterns
    /// are bots; `*` matches any run of characters.
    pub bot_patterns: Vec<String>,
    /// The sources whose deployments count: GitHub deployments in a
    /// production environment, and Jenkins builds of the teams' configured
    /// `deploy_jobs` (production by that configuration, whatever
    /// `production_environments` says). Drop one to count the other alone,
    /// e.g. when Jenkins triggers the GitHub deployments it would double.
    pub deployment_sources: Vec<Source>,
    /// An incident links to the team's last deployment before it only when
    /// that deployment finished at most this many hours earlier (168: a
    /// week, past any weekend or long weekend, short of the weeks-old links
    /// an unbounded rule makes).
    pub incident_link_window_hours: u32,
    /// Lead-time samples longer than this many days are dropped as
    /// impossible (counted), like negative ones.
    pub max_lead_time_days: u32,
    /// Credit changes merged before the coverage of their repository (or
    /// of its deploy job) began to the first deployment after it. Off: such
    /// a deployment would absorb every old change; they are counted instead.
    pub credit_changes_before_coverage: bool,
    /// Jira statuses of the Done category. An issue without a
    /// `resolutiondate` that sits in one of these (or in its current status
    /// when Jira says that status is in the Done category) is resolved at
    /// the instant it last entered that category.
    pub done_statuses: Vec<String>,
    /// Head branches (and GitHub deployment refs) of rework: glob patterns.
    pub rework_branch_patterns: Vec<String>,
    /// Pull request titles of rework: glob patterns.
    pub rework_title_patterns: Vec<String>,
    /// A change whose title or head branch names the key of one of the
    /// team's incidents is rework.
    pub rework_incident_keys: bool,
}

impl Default for Definitions {
    fn default() -> Self {
        Definitions {
            production_environments: vec!["production".into()],
            incident_issue_types: vec!["Incident".into()],
            excluded_priorities: Vec::new(),
            bot_patterns: vec!["*[bot]".into()],
            deployment_sources: vec![Source::Github, Source::Jenkins],
            incident_link_window_hours: 168,
            max_lead_time_days: 365,
            credit_changes_before_coverage: false,
            done_statuses: vec!["Done".into(), "Closed".into(), "Resolved".into()],
            rework_branch_patterns: vec!["hotfix/*".into(), "hotfix-*".into(), "revert-*".into()],
            rework_title_patterns: vec!["Revert *".into(), "hotfix*".into(), "[hotfix]*".into()],
            rework_incident_keys: true,
        }
    }
}

impl Definitions {
    /// Whether `login` matches one of `bot_patterns`.
    pub fn is_bot(&self, login: &str) -> bool {
        self.bot_patterns.iter().any(|p| glob_match(p, login))
    }

    /// Whether `environment` is one of `production_environments` (ignoring case).
    pub fn is_production_environment(&self, environment: &str) -> bool {
        self.production_environments
            .iter()
            .any(|e| e.eq_ignore_ascii_case(environment))
    }

    /// Whether a successful, finished deployment from `source` in
    /// `environment` counts as a production deployment: its source must be
    /// one of `deployment_sources`; a GitHub deployment must be in a
    /// production environment; a Jenkins build only reaches silver as a
    /// deployment when its job is a configured deploy job, which makes it
    /// production.
    pub fn counts_as_deployment(&self, source: Source, environment: &str) -> bool {
        self.deployment_sources.contains(&source)
            && match source {
                Source::Jenkins => true,
                Source::Github | Source::Jira => self.is_production_environment(environment),
            }
    }

    /// The sources `metric` is computed from, under these definitions: its
    /// gate opens for a team's day only when every scope of each of them
    /// covers the day. Deployments come from `deployment_sources`; lead time
    /// adds GitHub (the changes), the failure rate and recovery time add
    /// Jira (the incidents). Part of the versioned definition through
    /// `deployment_sources`, which the fingerprint already holds.
    pub fn inputs(&self, metric: Metric) -> Vec<Source> {
        if metric == Metric::TimeToRestoreService {
            return vec![Source::Jira];
        }
        let mut sources = self.deployment_sources.clone();
        let extra: &[Source] = match metric {
            Metric::DeploymentFrequency | Metric::TimeToRestoreService => &[],
            Metric::LeadTimeForChanges => &[Source::Github],
            Metric::ChangeFailureRate | Metric::FailedDeploymentRecoveryTime => &[Source::Jira],
            Metric::DeploymentReworkRate => &[Source::Github, Source::Jira],
        };
        sources.extend_from_slice(extra);
        sources.sort();
        sources.dedup();
        sources
    }

    /// Whether a Jira status name is one of `done_statuses` (ignoring case).
    pub fn is_done_status(&self, status: &str) -> bool {
        self.done_statuses
            .iter()
            .any(|s| s.eq_ignore_ascii_case(status.trim()))
    }

    /// Whether a pull request's title or head branch marks rework by the
    /// patterns (the incident-key rule needs the incidents; see the dora crate).
    pub fn is_rework_by_pattern(&self, title: &str, head_ref: &str) -> bool {
        self.rework_title_patterns
            .iter()
            .any(|p| glob_match(p, title))
            || self
                .rework_branch_patterns
                .iter()
                .any(|p| glob_match(p, head_ref))
    }

    /// Whether an issue of this type and priority counts as an incident.
    pub fn counts_as_incident(&self, issue_type: &str, priority: Option<&str>) -> bool {
        self.incident_issue_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(issue_type))
            && !priority.is_some_and(|p| {
                self.excluded_priorities
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(p))
            })
    }

    /// A stable fingerprint of the settings `metric` depends on. Bot patterns
    /// are applied when silver is built, so they are part of every metric
    /// built on changes.
    pub fn fingerprint(&self, metric: Metric) -> String {
        let mut parts: Vec<(&str, Vec<String>)> = vec![(
            "production_environments",
            sorted(&self.production_environments),
        )];
        // Part of the fingerprint only when changed, so that the versions
        // recorded before the setting existed stay the versions of today.
        if self.deployment_sources != Definitions::default().deployment_sources {
            let names: Vec<String> = self
                .deployment_sources
                .iter()
                .map(|s| s.to_string())
                .collect();
            parts.push(("deployment_sources", sorted(&names)));
        }
        let incidents = |parts: &mut Vec<(&str, Vec<String>)>| {
            parts.push(("incident_issue_types", sorted(&self.incident_issue_types)));
            parts.push(("excluded_priorities", sorted(&self.excluded_priorities)));
        };
        let link_window = vec![self.incident_link_window_hours.to_string()];
        let resolution = sorted(&self.done_statuses);
        match metric {
            Metric::DeploymentFrequency => {}
            Metric::LeadTimeForChanges => {
                parts.push(("bot_patterns", sorted(&self.bot_patterns)));
                parts.push(("rules", vec![RULES_V2.into()]));
                parts.push((
                    "max_lead_time_days",
                    vec![self.max_lead_time_days.to_string()],
                ));
                parts.push((
                    "credit_changes_before_coverage",
                    vec![self.credit_changes_before_coverage.to_string()],
                ));
            }
            Metric::ChangeFailureRate => {
                incidents(&mut parts);
                parts.push(("rules", vec![RULES_V2.into()]));
                parts.push(("incident_link_window_hours", link_window));
            }
            Metric::FailedDeploymentRecoveryTime => {
                incidents(&mut parts);
                parts.push(("rules", vec![RULES_V2.into()]));
                parts.push(("incident_link_window_hours", link_window));
                parts.push(("done_statuses", resolution));
            }
            Metric::DeploymentReworkRate => {
                incidents(&mut parts);
                parts.push(("bot_patterns", sorted(&self.bot_patterns)));
                parts.push((
                    "rework_branch_patterns",
                    sorted(&self.rework_branch_patterns),
                ));
                parts.push(("rework_title_patterns", sorted(&self.rework_title_patterns)));
                parts.push((
                    "rework_incident_keys",
                    vec![self.rework_incident_keys.to_string()],
                ));
            }
            Metric::TimeToRestoreService => {
                parts.clear();
                incidents(&mut parts);
                parts.push(("done_statuses", resolution));
            }
        }
        let text = format!("{}:{parts:?}", metric.as_str());
        // FNV-1a: stable across builds and platforms, unlike DefaultHasher.
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{hash:016x}")
    }
}

/// The rule set of the metrics whose rules changed in version 2 (commit
/// linkage and sample hygiene for lead time, the link window for the failure
/// rate, recovery from the failed deployment): part of their fingerprints, so
/// gold computed by the version-1 rules gets a new definition version.
const RULES_V2: &str = "v2";

fn sorted(v: &[String]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_lowercase()).collect();
    v.sort();
    v.dedup();
    v
}

/// `*` matches any run of characters; everything else literally, case-insensitively.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (
        pattern.to_lowercase().chars().collect(),
        text.to_lowercase().chars().collect(),
    );
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// One person and their identity in each tool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// The id the person's work is counted under.
    pub contributor_id: String,
    /// The person's GitHub logins (matched ignoring case).
    pub github: Vec<String>,
    /// The person's Jira users (matched ignoring case).
    pub jira: Vec<String>,
    /// The person's Jenkins users (matched ignoring case).
    pub jenkins: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_patterns_match_with_wildcards_and_ignore_case() {
        let d = Definitions::default();
        assert!(d.is_bot("dependabot[bot]"));
        assert!(d.is_bot("GitHub-Actions[BOT]"));
        assert!(!d.is_bot("mkowal"));
        assert!(glob_match("ci-*-bot", "ci-release-bot"));
        assert!(!glob_match("ci-*-bot", "ci-release"));
    }

    #[test]
    fn excluding_a_priority_changes_only_the_incident_metrics_fingerprints() {
        let before = Definitions::default();
        let after = Definitions {
            excluded_priorities: vec!["P4".into()],
            ..Definitions::default()
        };
        for metric in Metric::ALL {
            let changed = before.fingerprint(metric) != after.fingerprint(metric);
            let incident_based = matches!(
                metric,
                Metric::ChangeFailureRate
                    | Metric::FailedDeploymentRecoveryTime
                    | Metric::DeploymentReworkRate
                    | Metric::TimeToRestoreService
            );
            assert_eq!(changed, incident_based, "{metric}");
        }
        assert!(!after.counts_as_incident("Incident", Some("p4")));
        assert!(after.counts_as_incident("incident", Some("P1")));
        assert!(!after.counts_as_incident("Bug", Some("P1")));
    }

    #[test]
    fn the_deployment_sources_are_part_of_the_definition_only_once_changed() {
        let default = Definitions::default();
        let github_only = Definitions {
            deployment_sources: vec![Source::Github],
            ..Definitions::default()
        };
        assert!(default.counts_as_deployment(Source::Jenkins, "anything"));
        assert!(!github_only.counts_as_deployment(Source::Jenkins, "production"));
        assert!(github_only.counts_as_deployment(Source::Github, "Production"));
        assert!(!github_only.counts_as_deployment(Source::Github, "staging"));
        assert_ne!(
            default.fingerprint(Metric::DeploymentFrequency),
            github_only.fingerprint(Metric::DeploymentFrequency)
        );
        // The fingerprint of the defaults is the one stored before the setting existed.
        assert_eq!(
            default.fingerprint(Metric::DeploymentFrequency),
            FINGERPRINT_V1_DF
        );
    }

    /// `Definitions::default().fingerprint(DeploymentFrequency)` before
    /// `deployment_sources` was added.
    const FINGERPRINT_V1_DF: &str = "97cd28a760e243ab";

    #[test]
    fn each_metric_names_the_sources_it_is_computed_from() {
        let d = Definitions::default();
        let (gh, jira, jenkins) = (Source::Github, Source::Jira, Source::Jenkins);
        assert_eq!(d.inputs(Metric::DeploymentFrequency), vec![gh, jenkins]);
        assert_eq!(d.inputs(Metric::LeadTimeForChanges), vec![gh, jenkins]);
        assert_eq!(d.inputs(Metric::ChangeFailureRate), vec![gh, jira, jenkins]);
        assert_eq!(
            d.inputs(Metric::FailedDeploymentRecoveryTime),
            vec![gh, jira, jenkins]
        );
        let jenkins_only = Definitions {
            deployment_sources: vec![jenkins],
            ..Definitions::default()
        };
        assert_eq!(
            jenkins_only.inputs(Metric::DeploymentFrequency),
            vec![jenkins]
        );
        assert_eq!(
            jenkins_only.inputs(Metric::LeadTimeForChanges),
            vec![gh, jenkins]
        );
    }

    #[test]
    fn fingerprints_ignore_order_and_case() {
        let a = Definitions {
            production_environments: vec!["prod".into(), "Production".into()],
            ..Definitions::default()
        };
        let b = Definitions {
            production_environments: vec!["production".into(), "PROD".into()],
            ..Definitions::default()
        };
        assert_eq!(
            a.fingerprint(Metric::DeploymentFrequency),
            b.fingerprint(Metric::DeploymentFrequency)
        );
    }
}
