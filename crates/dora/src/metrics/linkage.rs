//! Which deployment shipped a change (docs/metrics.md, "Which deployment
//! shipped a change"): the first deployment of the change's repository, in
//! order of finishing, whose deployed commit contains the merge commit, read
//! from the default branch's history; time decides only where the history
//! cannot. Then the hygiene of the lead-time samples that linkage yields.
//!
//! Kept apart from the metric arithmetic because it is the one place where
//! records of two tools meet, and the one most worth reading by hand.

use chrono::{DateTime, Utc};
use dorafleet_core::Definitions;
use dorafleet_warehouse::{SilverChange, SilverCommit, SilverDeployment};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Whether a deployed commit contains a merge commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contains {
    /// The merge commit lies on the deployed commit's first-parent line.
    Yes,
    /// The line passes below the merge without meeting it (or ends).
    No,
    /// The history cannot tell: a commit unknown, or the line leaves it.
    Unknown,
}

/// The default-branch history of a team's repositories, by (repo, sha).
#[derive(Debug, Default)]
pub struct History<'a> {
    commits: HashMap<(&'a str, &'a str), &'a SilverCommit>,
}

/// A first-parent walk longer than this is taken for a loop in hostile data.
const MAX_WALK: usize = 1_000_000;

impl<'a> History<'a> {
    /// The history of these commits.
    pub fn new(commits: &'a [SilverCommit]) -> Self {
        History {
            commits: commits
                .iter()
                .map(|c| ((c.repo.as_str(), c.sha.as_str()), c))
                .collect(),
        }
    }

    /// Whether `deployed` (a commit of `repo`) contains `merge`, a commit
    /// made at `merged_at`: walk the first parents from `deployed` until
    /// `merge` (yes), a commit older than the merge or a root (no), or the
    /// end of the known history (unknown).
    pub fn contains(
        &self,
        repo: &str,
        deployed: Option<&str>,
        merge: Option<&str>,
        merged_at: DateTime<Utc>,
    ) -> Contains {
        let (Some(mut sha), Some(merge)) = (deployed, merge) else {
            return Contains::Unknown;
        };
        for _ in 0..MAX_WALK {
            if sha == merge {
                return Contains::Yes;
            }
            let Some(commit) = self.commits.get(&(repo, sha)) else {
                return Contains::Unknown;
            };
            if commit.committed_at < merged_at {
                return Contains::No;
            }
            match commit.parents.first() {
                Some(parent) => sha = parent.as_str(),
                None => return Contains::No,
            }
        }
        Contains::Unknown
    }
}

/// Where the coverage of each repository begins: the later of its GitHub
/// scope's and its deploy jobs' coverage starts. A repository not named is
/// taken as covered from the beginning of time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CoverageStarts(pub BTreeMap<String, DateTime<Utc>>);

impl CoverageStarts {
    pub(crate) fn start_of(&self, repo: &str) -> Option<DateTime<Utc>> {
        self.0.get(repo).copied()
    }

    /// The latest start: from then on every deployment of the team is read.
    pub fn latest(&self) -> Option<DateTime<Utc>> {
        self.0.values().max().copied()
    }
}

/// Why a lead-time sample was dropped or a change not credited.
pub const FIRST_COMMIT_AFTER_DEPLOYMENT: &str = "first commit after deployment";
/// A sample longer than `max_lead_time_days`.
pub const OLDER_THAN_THE_MAXIMUM: &str = "older than the maximum";
/// A change merged before its repository's coverage began.
pub const MERGED_BEFORE_COVERAGE: &str = "merged before coverage";

/// An incident with no covered deployment in its link window, the window
/// reaching back before coverage: its failed deployment may be unread.
pub const INCIDENT_LINK_BEFORE_COVERAGE: &str = "incident link before coverage";

/// What linkage did with a team's changes: how each shipped change was
/// linked, and what was left out and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LinkTally {
    /// Changes linked to their deployment through the commit history.
    pub by_history: u64,
    /// Changes linked by time, the deployment's commit being unknown.
    pub by_time: u64,
    /// Merged changes no deployment has shipped yet.
    pub not_yet_deployed: u64,
    /// Changes or samples left out, by reason.
    pub dropped: BTreeMap<String, u64>,
}

impl LinkTally {
    /// Count one change, sample or incident left out for `reason`.
    pub fn count(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_owned()).or_default() += 1;
    }
}

/// A change shipped by a deployment, with its lead-time sample when the
/// sample passed hygiene.
#[derive(Debug, Clone, PartialEq)]
pub struct Shipped<'a> {
    /// The change.
    pub change: &'a SilverChange,
    /// Index of the shipping deployment in the sorted deployments.
    pub deployment: usize,
    /// Linked by time: the history could not tell.
    pub by_time: bool,
    /// Hours from first commit to the deployment's finish; `None` when dropped.
    pub lead_time: Option<f64>,
    /// Why the sample was dropped, when it was.
    pub dropped: Option<&'static str>,
}

/// The changes each deployment shipped. `deployments` are the team's
/// deployments sorted by finish (see `super::compute`).
pub fn ship<'a>(
    defs: &Definitions,
    changes: &'a [SilverChange],
    commits: &[SilverCommit],
    deployments: &[&SilverDeployment],
    starts: &CoverageStarts,
    tally: &mut LinkTally,
) -> Vec<Shipped<'a>> {
    let history = History::new(commits);
    let mut by_repo: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, d) in deployments.iter().enumerate() {
        by_repo.entry(d.repo.as_str()).or_default().push(i);
    }
    let max_hours = f64::from(defs.max_lead_time_days) * 24.0;
    let mut shipped = Vec::new();
    for change in changes {
        let candidates = by_repo.get(change.repo.as_str()).map_or(&[][..], |v| v);
        let mut found = None;
        for &i in candidates {
            let d = deployments[i];
            let Some(finished) = d.finished_at else {
                continue;
            };
            if finished < change.merged_at {
                continue;
            }
            match history.contains(
                &d.repo,
                d.sha.as_deref(),
                change.merge_sha.as_deref(),
                change.merged_at,
            ) {
                Contains::Yes => found = Some((i, false)),
                Contains::No => continue,
                Contains::Unknown if d.started_at >= change.merged_at => found = Some((i, true)),
                Contains::Unknown => continue,
            }
            break;
        }
        let Some((i, by_time)) = found else {
            tally.not_yet_deployed += 1;
            continue;
        };
        let before_coverage = starts
            .start_of(&change.repo)
            .is_some_and(|start| change.merged_at < start);
        if before_coverage && !defs.credit_changes_before_coverage {
            tally.count(MERGED_BEFORE_COVERAGE);
            continue;
        }
        if by_time {
            tally.by_time += 1;
        } else {
            tally.by_history += 1;
        }
        let finished = deployments[i].finished_at.unwrap_or(change.merged_at);
        let hours = super::hours_between(change.first_commit_at, finished);
        let dropped = if hours < 0.0 {
            Some(FIRST_COMMIT_AFTER_DEPLOYMENT)
        } else if hours > max_hours {
            Some(OLDER_THAN_THE_MAXIMUM)
        } else {
            None
        };
        if let Some(reason) = dropped {
            tally.count(reason);
        }
        shipped.push(Shipped {
            change,
            deployment: i,
            by_time,
            lead_time: dropped.is_none().then_some(hours),
            dropped,
        });
    }
    shipped
}
