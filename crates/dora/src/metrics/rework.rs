//! Deployment rework (docs/metrics.md, "Deployment rework rate"): a
//! deployment is rework when a change it shipped names one of the team's
//! incidents, or its title or branch (or the deployment's ref) matches the
//! configured patterns. The rules are text rules on purpose: they are what
//! teams write when they ship a fix, and an operator can read and tune them.

use dorafleet_core::Definitions;
use dorafleet_core::config::glob_match;
use dorafleet_warehouse::{SilverChange, SilverDeployment};
use std::collections::BTreeSet;

/// The rework rules of one team: its incident keys and the patterns.
#[derive(Debug)]
pub struct Rework<'a> {
    defs: &'a Definitions,
    incident_keys: BTreeSet<String>,
}

impl<'a> Rework<'a> {
    /// Rules for a team whose incidents have these keys.
    pub fn new(defs: &'a Definitions, incident_keys: impl IntoIterator<Item = String>) -> Self {
        Rework {
            defs,
            incident_keys: incident_keys
                .into_iter()
                .map(|k| k.to_ascii_uppercase())
                .collect(),
        }
    }

    /// Whether a change marks its deployment as rework.
    pub fn is_rework_change(&self, change: &SilverChange) -> bool {
        let title = change.title.as_deref().unwrap_or("");
        let branch = change.head_ref.as_deref().unwrap_or("");
        self.defs.is_rework_by_pattern(title, branch)
            || (self.defs.rework_incident_keys
                && (self.names_an_incident(title) || self.names_an_incident(branch)))
    }

    /// Whether the deployment's own ref is a rework branch.
    pub fn is_rework_ref(&self, deployment: &SilverDeployment) -> bool {
        deployment.ref_name.as_deref().is_some_and(|r| {
            self.defs
                .rework_branch_patterns
                .iter()
                .any(|p| glob_match(p, r))
        })
    }

    /// Whether `text` names one of the incident keys as a word: the
    /// characters around it are not letters or digits (`PAY-12` is in
    /// `hotfix/PAY-12` and `Fix PAY-12: …`, not in `PAY-123` or `XPAY-12`).
    fn names_an_incident(&self, text: &str) -> bool {
        if self.incident_keys.is_empty() || text.is_empty() {
            return false;
        }
        let upper = text.to_ascii_uppercase();
        let bytes = upper.as_bytes();
        self.incident_keys.iter().any(|key| {
            upper.match_indices(key.as_str()).any(|(at, _)| {
                let before = at.checked_sub(1).map(|i| bytes[i]);
                let after = bytes.get(at + key.len()).copied();
                !before.is_some_and(|b| b.is_ascii_alphanumeric())
                    && !after.is_some_and(|b| b.is_ascii_alphanumeric())
            })
        })
    }
}
