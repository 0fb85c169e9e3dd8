//! The dead-letter archive as operators see it: each letter with its status
//! (dead → replaying → replayed, or discarded) and an audit trail of who did
//! what and when. Letters are never deleted.
//!
//! Replays claim, finish and give back letters in batches, each batch one
//! write on the backend (one transaction, or one bulk write of atomic
//! per-letter updates): a letter's claim is an atomic status change, so two
//! concurrent replays never both republish it, and a replay killed half-way
//! leaves claims that a later replay takes over once they are stale. The
//! single-letter methods are the batch ones with a batch of one.

use crate::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::TaskEnvelope;
use dorafleet_core::{DeadLetter, ErrorClass, Source, Stage};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Where an archived dead letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterStatus {
    /// Archived, waiting for an operator.
    Dead,
    /// Claimed by a replay that has not confirmed the republish yet.
    Replaying,
    /// Republished to its stage with a fresh attempt budget.
    Replayed,
    /// Given up on, with a reason. Kept forever all the same.
    Discarded,
}

impl LetterStatus {
    /// The snake_case name, as serialized, stored and parsed.
    pub fn as_str(self) -> &'static str {
        match self {
            LetterStatus::Dead => "dead",
            LetterStatus::Replaying => "replaying",
            LetterStatus::Replayed => "replayed",
            LetterStatus::Discarded => "discarded",
        }
    }
}

impl fmt::Display for LetterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LetterStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "dead" => Ok(LetterStatus::Dead),
            "replaying" => Ok(LetterStatus::Replaying),
            "replayed" => Ok(LetterStatus::Replayed),
            "discarded" => Ok(LetterStatus::Discarded),
            other => Err(format!(
                "unknown status `{other}`; expected dead, replaying, replayed or discarded"
            )),
        }
    }
}

/// One line of a letter's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened (UTC).
    pub at: DateTime<Utc>,
    /// Who: `user@host` for operators, the role name for the system.
    pub actor: String,
    /// `archived`, `replay_claimed`, `replayed`, `replay_abandoned`, `discarded`.
    pub action: String,
    /// The reason given, or a short note on what was done.
    pub detail: String,
}

/// A dead letter as the archive keeps it: the letter, where it stands and
/// its audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedLetter {
    /// The dead letter as it was archived.
    pub letter: DeadLetter,
    /// Where it stands now.
    pub status: LetterStatus,
    /// How many times it was replayed.
    pub replay_count: u32,
    /// When it was archived (UTC).
    pub archived_at: DateTime<Utc>,
    /// Everything done to it, oldest first.
    pub audit: Vec<AuditEntry>,
}

/// What a batch claim did with one of the letters it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Claimed for this replay: now `replaying`, with the claim audited.
    Claimed,
    /// Left alone, with the status it had: `replaying` under another
    /// replay's fresh claim (or this batch's, for an id given twice),
    /// `replayed` or `discarded`; `None` when no letter has that id.
    NotClaimed(Option<LetterStatus>),
}

/// Which letters an operator means. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LetterFilter {
    /// Only these letters, by their id.
    pub ids: Vec<Uuid>,
    /// Only letters of tasks of this run.
    pub run_id: Option<Uuid>,
    /// Only letters of tasks of this stage.
    pub stage: Option<Stage>,
    /// Only letters of tasks of this source.
    pub source: Option<Source>,
    /// Only letters of tasks of this team.
    pub team: Option<String>,
    /// Only letters whose last failure was of this class.
    pub error_class: Option<ErrorClass>,
    /// Only letters with this status.
    pub status: Option<LetterStatus>,
    /// Last failure at or after.
    pub since: Option<DateTime<Utc>>,
    /// Last failure before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many letters, the most recently failed first; a cap,
    /// not a selection, so [`LetterFilter::is_empty`] ignores it.
    pub limit: Option<usize>,
}

impl LetterFilter {
    /// Whether the filter names anything at all (a bulk action on an empty
    /// filter would touch every letter: callers refuse that).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && self.run_id.is_none()
            && self.stage.is_none()
            && self.source.is_none()
            && self.team.is_none()
            && self.error_class.is_none()
            && self.status.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }

    /// Whether a letter with this status passes every field that is set
    /// (`limit` aside). Letters without a task (poison messages) fail any
    /// run, stage, source or team condition.
    pub fn matches(&self, letter: &DeadLetter, status: LetterStatus) -> bool {
        (self.ids.is_empty() || self.ids.contains(&letter.id))
            && self
                .run_id
                .is_none_or(|r| letter.envelope.as_ref().is_some_and(|e| e.run_id == r))
            && self.stage.is_none_or(|s| letter.stage == Some(s))
            && self.source.is_none_or(|s| letter.source == Some(s))
            && self
                .team
                .as_ref()
                .is_none_or(|t| letter.scope.as_ref().is_some_and(|s| &s.team == t))
            && self.error_class.is_none_or(|c| letter.error_class == c)
            && self.status.is_none_or(|s| s == status)
            && self.since.is_none_or(|t| letter.last_failed_at >= t)
            && self.until.is_none_or(|t| letter.last_failed_at < t)
    }
}

/// The dead-letter archive: letters, their status, claims for replay and the audit trail.
#[async_trait]
pub trait LetterArchive: Send + Sync + std::fmt::Debug {
    /// Archive a dead letter. Idempotent on the letter's id: storing it twice
    /// keeps one record.
    async fn store_dead_letter(&self, letter: &DeadLetter) -> Result<()>;

    /// Dead letters, newest first.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>>;

    /// Archived letters matching `filter`, with status and audit, newest first.
    async fn archived_letters(&self, filter: &LetterFilter) -> Result<Vec<ArchivedLetter>>;

    /// Claim letters for replay, in one write: atomically move each from
    /// `dead` (or from a `replaying` claim older than `stale_after`, left by
    /// a replay that died) to `replaying`, audited. One outcome per id, in
    /// the order given; an id given twice is claimed at most once.
    async fn claim_letters(
        &self,
        ids: &[Uuid],
        actor: &str,
        stale_after: std::time::Duration,
    ) -> Result<Vec<ClaimOutcome>>;

    /// The claimed letters' tasks were republished as the envelopes given:
    /// mark each letter replayed (audited, replay count + 1), reset its
    /// task's record to pending and reopen the task's run, so the run's
    /// gates wait for it again — all in one transaction. Every letter must
    /// exist (letters are never deleted): otherwise nothing is written and
    /// the error is [`WarehouseError::Corrupt`](crate::WarehouseError::Corrupt).
    async fn finish_replays(&self, replayed: &[(Uuid, TaskEnvelope)], actor: &str) -> Result<()>;

    /// Give claims back (their republish failed), each with its reason, in
    /// one write: `replaying` → `dead`, audited. Letters no longer
    /// `replaying` are left as they are.
    async fn abandon_replays(&self, abandoned: &[(Uuid, String)], actor: &str) -> Result<()>;

    /// Claim one letter ([`LetterArchive::claim_letters`] with one id) and
    /// read it back with its audit; `None` when it is not claimable.
    async fn claim_letter(
        &self,
        id: Uuid,
        actor: &str,
        stale_after: std::time::Duration,
    ) -> Result<Option<ArchivedLetter>> {
        let outcome = self.claim_letters(&[id], actor, stale_after).await?;
        if outcome.first() != Some(&ClaimOutcome::Claimed) {
            return Ok(None);
        }
        let filter = LetterFilter {
            ids: vec![id],
            ..LetterFilter::default()
        };
        Ok(self.archived_letters(&filter).await?.into_iter().next())
    }

    /// [`LetterArchive::finish_replays`] for one letter.
    async fn finish_replay(&self, id: Uuid, actor: &str, replayed: &TaskEnvelope) -> Result<()> {
        self.finish_replays(&[(id, replayed.clone())], actor).await
    }

    /// [`LetterArchive::abandon_replays`] for one letter.
    async fn abandon_replay(&self, id: Uuid, actor: &str, reason: &str) -> Result<()> {
        self.abandon_replays(&[(id, reason.to_owned())], actor)
            .await
    }

    /// Mark a `dead` letter discarded with a reason, audited. Returns false
    /// when the letter is not `dead` (already replayed, discarded or claimed).
    async fn discard_letter(&self, id: Uuid, actor: &str, reason: &str) -> Result<bool> {
        Ok(self.discard_letters(&[id], actor, reason).await? == 1)
    }

    /// [`discard_letter`](Self::discard_letter) for many letters in one
    /// write: each `dead` one among `ids` is discarded and audited; returns
    /// how many were (an id named twice counts once; a letter not `dead`
    /// is left as it is).
    async fn discard_letters(&self, ids: &[Uuid], actor: &str, reason: &str) -> Result<usize>;
}
