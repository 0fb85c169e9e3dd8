//! Which deployment shipped which change, and which deployments are rework,
//! by the rules of docs/metrics.md ("Which deployment shipped a change",
//! "Deployment rework rate"), over plain events. Written apart from the
//! pipeline's implementation on purpose: the tests compare the two.

use super::events::{Change, Deployment};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The part of a repository's main history the pipeline can list: the main
/// commits committed at or after the coverage start (never the root), oldest
/// first. Main commits are committed in order, so this is a suffix of main.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListedHistory {
    commits: Vec<(String, DateTime<Utc>)>,
    index: BTreeMap<String, usize>,
}

impl ListedHistory {
    /// From `(sha, committed_at)` of the listed main commits, oldest first.
    pub(crate) fn new(commits: Vec<(String, DateTime<Utc>)>) -> ListedHistory {
        let index = commits
            .iter()
            .enumerate()
            .map(|(i, (sha, _))| (sha.clone(), i))
            .collect();
        ListedHistory { commits, index }
    }

    /// Whether the deployed commit contains merge commit `merge` (merged at
    /// `merged_at`): walks first parents from `deployed`; `Some(true)` on
    /// meeting `merge`, `Some(false)` on a commit committed before the merge,
    /// `None` (unknown) when `deployed` is unknown or unlisted or the walk
    /// runs out of listed history first.
    pub(crate) fn contains(
        &self,
        deployed: Option<&str>,
        merge: &str,
        merged_at: DateTime<Utc>,
    ) -> Option<bool> {
        let mut at = *self.index.get(deployed?)?;
        loop {
            let (sha, committed_at) = &self.commits[at];
            if sha == merge {
                return Some(true);
            }
            if *committed_at < merged_at {
                return Some(false);
            }
            at = at.checked_sub(1)?;
        }
    }
}

/// Index (into `deployments`) of the deployment that shipped `change`: the
/// first of its repository in order of finish (then start, then id) that
/// finished at or after the merge and contains it, or, where containment is
/// unknown, started at or after the merge.
pub(crate) fn shipping_deployment(
    deployments: &[Deployment],
    history: Option<&ListedHistory>,
    change: &Change,
) -> Option<usize> {
    let mut candidates: Vec<usize> = (0..deployments.len())
        .filter(|i| {
            let d = &deployments[*i];
            d.repo == change.repo && d.finished_at >= change.merged_at
        })
        .collect();
    candidates.sort_by_key(|i| deployments[*i].order_key());
    candidates.into_iter().find(|i| {
        let d = &deployments[*i];
        let known = history
            .and_then(|h| h.contains(d.commit.as_deref(), &change.merge_sha, change.merged_at));
        known.unwrap_or(d.started_at >= change.merged_at)
    })
}

/// The default rework rules: branch and title globs.
pub(crate) const REWORK_BRANCH_PATTERNS: [&str; 3] = ["hotfix/*", "hotfix-*", "revert-*"];
pub(crate) const REWORK_TITLE_PATTERNS: [&str; 3] = ["Revert *", "hotfix*", "[hotfix]*"];

/// Whether a shipped change makes its deployment rework: its title or head
/// branch names one of `incident_keys` as a word, its branch or its title
/// matches a pattern.
pub(crate) fn is_rework_change(change: &Change, incident_keys: &[String]) -> bool {
    let names_key = incident_keys
        .iter()
        .any(|k| names_word(&change.title, k) || names_word(&change.head_ref, k));
    names_key
        || REWORK_BRANCH_PATTERNS
            .iter()
            .any(|p| glob_matches(p, &change.head_ref))
        || REWORK_TITLE_PATTERNS
            .iter()
            .any(|p| glob_matches(p, &change.title))
}

/// Whether a GitHub deployment's ref makes it rework.
pub(crate) fn is_rework_ref(ref_name: &str) -> bool {
    REWORK_BRANCH_PATTERNS
        .iter()
        .any(|p| glob_matches(p, ref_name))
}

/// Whether `text` contains `word` (ignoring ASCII case) with neither an
/// alphanumeric character nor `-` right before or after it.
pub(crate) fn names_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let text: Vec<char> = text.to_ascii_uppercase().chars().collect();
    let word: Vec<char> = word.to_ascii_uppercase().chars().collect();
    let joins = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '-');
    (0..text.len().saturating_sub(word.len() - 1)).any(|start| {
        text[start..].starts_with(&word)
            && !joins(start.checked_sub(1).and_then(|i| text.get(i)))
            && !joins(text.get(start + word.len()))
    })
}

/// Glob match ignoring case: `*` matches any run of characters, everything
/// else itself.
pub(crate) fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    // Classic two-pointer wildcard matching with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}
