//! Each repository's default-branch (`main`) history, derived from its
//! merged pull requests rather than stored: the merge commits in merge order,
//! each with the previous main commit as first parent and the pull request's
//! head as second, on top of a root commit older than the organisation.
//!
//! Deriving it keeps it consistent by construction with the pull requests a
//! view shows: the history of [`Repo::as_of`] `t` is exactly the commits
//! committed by `t`. The ground truth asks it which deployments contain which
//! merges; the HTTP layer lists it (`GET /repos/{o}/{r}/commits`).

use super::Repo;
use chrono::{DateTime, Utc};

/// One commit of a repository's main history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MainCommit {
    /// Commit SHA: the pull request's `merge_commit_sha`, or the root's.
    pub sha: String,
    /// Position on main: 0 for the root, then 1, 2, … in merge order.
    pub ordinal: usize,
    /// Parent SHAs: none for the root; else `[previous main commit, PR head]`
    /// (just the previous main commit if the pull request had no commits).
    pub parents: Vec<String>,
    /// Committer date: the merge time (the root: a day before the organisation).
    pub committed_at: DateTime<Utc>,
    /// GitHub login of the author (the pull request's author); `None` for the root.
    pub author_login: Option<String>,
    /// Number of the merged pull request; `None` for the root.
    pub pull_number: Option<u64>,
    /// Commit message.
    pub message: String,
}

impl Repo {
    /// The main history, oldest first: the root commit, then one merge commit
    /// per merged pull request in merge order (ties by number).
    pub fn main_history(&self) -> Vec<MainCommit> {
        let mut merged: Vec<_> = self
            .pulls
            .iter()
            .filter_map(|p| p.merged_at.map(|m| (m, p)))
            .collect();
        merged.sort_by_key(|(m, p)| (*m, p.number));
        let mut history = vec![MainCommit {
            sha: self.root_sha.clone(),
            ordinal: 0,
            parents: Vec::new(),
            committed_at: self.root_committed_at,
            author_login: None,
            pull_number: None,
            message: "Initial commit".into(),
        }];
        for (merged_at, pull) in merged {
            let previous = history.last().map(|c| c.sha.clone()).unwrap_or_default();
            let mut parents = vec![previous];
            if !pull.head_sha().is_empty() {
                parents.push(pull.head_sha().to_owned());
            }
            history.push(MainCommit {
                sha: pull.merge_commit_sha.clone(),
                ordinal: history.len(),
                parents,
                committed_at: merged_at,
                author_login: Some(pull.author_login.clone()),
                pull_number: Some(pull.number),
                message: format!(
                    "Merge pull request #{} from {}/{}\n\n{}",
                    pull.number, self.owner, pull.head_ref, pull.title
                ),
            });
        }
        history
    }

    /// The main commit with this SHA, if it is one.
    pub fn main_commit(&self, sha: &str) -> Option<MainCommit> {
        self.main_history().into_iter().find(|c| c.sha == sha)
    }

    /// The head of main at `t`: the latest merge at or before `t`, else the root.
    pub fn main_head_at(&self, t: DateTime<Utc>) -> MainCommit {
        let mut history = self.main_history();
        let last = history
            .iter()
            .rposition(|c| c.ordinal == 0 || c.committed_at <= t)
            .unwrap_or(0);
        history.swap_remove(last)
    }

    /// Whether main commit `commit` contains main commit `merge` (is it or
    /// descends from it along first parents); `None` when either is not a
    /// main commit of this repository.
    pub fn main_contains(&self, commit: &str, merge: &str) -> Option<bool> {
        let history = self.main_history();
        let ordinal = |sha: &str| history.iter().find(|c| c.sha == sha).map(|c| c.ordinal);
        Some(ordinal(merge)? <= ordinal(commit)?)
    }
}
