//! Silver: normalized events, upserted by natural key under unique indexes,
//! a normalize task's whole batch and its counts in one transaction.

use super::codec::{corrupt, int, parse_source, parse_ts, parse_uuid, ts, uint};
use super::indexes::{
    NORMALIZE_COUNTS, SILVER_CHANGES, SILVER_COMMITS, SILVER_DEPLOYMENTS, SILVER_INCIDENTS,
};
use super::{MongoWarehouse, classify};
use crate::DeploymentOutcome;
use crate::{
    NormalizeCounts, Result, SilverBatch, SilverChange, SilverCommit, SilverDeployment,
    SilverIncident, TeamSilver,
};
use async_trait::async_trait;
use chrono::Utc;
use futures::{FutureExt, TryStreamExt};
use mongodb::bson::{Document, doc};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
struct DeploymentDoc {
    source: String,
    key: String,
    team_id: String,
    repo: String,
    job: Option<String>,
    environment: String,
    status: String,
    started_at: String,
    finished_at: Option<String>,
    sha: Option<String>,
    deployer: Option<String>,
    run_id: String,
    #[serde(default)]
    ref_name: Option<String>,
}

impl DeploymentDoc {
    fn new(d: &SilverDeployment) -> Self {
        DeploymentDoc {
            source: d.source.as_str().to_owned(),
            key: d.key.clone(),
            team_id: d.team_id.clone(),
            repo: d.repo.clone(),
            job: d.job.clone(),
            environment: d.environment.clone(),
            status: d.status.to_string(),
            started_at: ts(d.started_at),
            finished_at: d.finished_at.map(ts),
            sha: d.sha.clone(),
            deployer: d.deployer.clone(),
            run_id: d.run_id.to_string(),
            ref_name: d.ref_name.clone(),
        }
    }

    fn natural_key(&self) -> Document {
        doc! { "source": &self.source, "key": &self.key }
    }

    fn into_silver(self) -> Result<SilverDeployment> {
        Ok(SilverDeployment {
            source: parse_source(&self.source)?,
            key: self.key,
            team_id: self.team_id,
            repo: self.repo,
            job: self.job,
            environment: self.environment,
            status: DeploymentOutcome::from(self.status),
            started_at: parse_ts(&self.started_at)?,
            finished_at: self.finished_at.as_deref().map(parse_ts).transpose()?,
            sha: self.sha,
            deployer: self.deployer,
            run_id: parse_uuid(&self.run_id)?,
            ref_name: self.ref_name,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ChangeDoc {
    repo: String,
    number: i64,
    team_id: String,
    author: Option<String>,
    first_commit_at: String,
    merged_at: String,
    merge_sha: Option<String>,
    run_id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    head_ref: Option<String>,
}

impl ChangeDoc {
    fn new(c: &SilverChange) -> Self {
        ChangeDoc {
            repo: c.repo.clone(),
            number: int(c.number),
            team_id: c.team_id.clone(),
            author: c.author.clone(),
            first_commit_at: ts(c.first_commit_at),
            merged_at: ts(c.merged_at),
            merge_sha: c.merge_sha.clone(),
            run_id: c.run_id.to_string(),
            title: c.title.clone(),
            head_ref: c.head_ref.clone(),
        }
    }

    fn natural_key(&self) -> Document {
        doc! { "repo": &self.repo, "number": self.number }
    }

    fn into_silver(self) -> Result<SilverChange> {
        Ok(SilverChange {
            repo: self.repo,
            number: uint(self.number),
            team_id: self.team_id,
            author: self.author,
            first_commit_at: parse_ts(&self.first_commit_at)?,
            merged_at: parse_ts(&self.merged_at)?,
            merge_sha: self.merge_sha,
            run_id: parse_uuid(&self.run_id)?,
            title: self.title,
            head_ref: self.head_ref,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CommitDoc {
    repo: String,
    sha: String,
    team_id: String,
    parents: Vec<String>,
    committed_at: String,
    run_id: String,
}

impl CommitDoc {
    fn new(c: &SilverCommit) -> Self {
        CommitDoc {
            repo: c.repo.clone(),
            sha: c.sha.clone(),
            team_id: c.team_id.clone(),
            parents: c.parents.clone(),
            committed_at: ts(c.committed_at),
            run_id: c.run_id.to_string(),
        }
    }

    fn natural_key(&self) -> Document {
        doc! { "repo": &self.repo, "sha": &self.sha }
    }

    fn into_silver(self) -> Result<SilverCommit> {
        Ok(SilverCommit {
            repo: self.repo,
            sha: self.sha,
            team_id: self.team_id,
            parents: self.parents,
            committed_at: parse_ts(&self.committed_at)?,
            run_id: parse_uuid(&self.run_id)?,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct IncidentDoc {
    key: String,
    project: String,
    team_id: String,
    issue_type: String,
    priority: Option<String>,
    created_at: String,
    resolved_at: Option<String>,
    reporter: Option<String>,
    run_id: String,
}

impl IncidentDoc {
    fn new(i: &SilverIncident) -> Self {
        IncidentDoc {
            key: i.key.clone(),
            project: i.project.clone(),
            team_id: i.team_id.clone(),
            issue_type: i.issue_type.clone(),
            priority: i.priority.clone(),
            created_at: ts(i.created_at),
            resolved_at: i.resolved_at.map(ts),
            reporter: i.reporter.clone(),
            run_id: i.run_id.to_string(),
        }
    }

    fn natural_key(&self) -> Document {
        doc! { "key": &self.key }
    }

    fn into_silver(self) -> Result<SilverIncident> {
        Ok(SilverIncident {
            key: self.key,
            project: self.project,
            team_id: self.team_id,
            issue_type: self.issue_type,
            priority: self.priority,
            created_at: parse_ts(&self.created_at)?,
            resolved_at: self.resolved_at.as_deref().map(parse_ts).transpose()?,
            reporter: self.reporter,
            run_id: parse_uuid(&self.run_id)?,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CountsDoc {
    run_id: String,
    /// `""` when the counts name no source or scope, as in SQLite.
    source: String,
    team: String,
    target: String,
    /// The counts as JSON: exact for every u64, and new counters need no migration.
    counts: String,
    recorded_at: String,
}

impl CountsDoc {
    fn new(c: &NormalizeCounts) -> Result<Self> {
        Ok(CountsDoc {
            run_id: c.run_id.to_string(),
            source: c.source.map_or("", |s| s.as_str()).to_owned(),
            team: c.scope.as_ref().map_or("", |s| s.team.as_str()).to_owned(),
            target: c
                .scope
                .as_ref()
                .and_then(|s| s.target.clone())
                .unwrap_or_default(),
            counts: serde_json::to_string(c)
                .map_err(|e| corrupt("normalize counts")(e.to_string()))?,
            recorded_at: ts(Utc::now()),
        })
    }

    fn natural_key(&self) -> Document {
        doc! { "run_id": &self.run_id, "source": &self.source, "team": &self.team, "target": &self.target }
    }
}

pub(super) async fn upsert(w: &MongoWarehouse, batch: &SilverBatch) -> Result<()> {
    let deployments: Vec<DeploymentDoc> =
        batch.deployments.iter().map(DeploymentDoc::new).collect();
    let changes: Vec<ChangeDoc> = batch.changes.iter().map(ChangeDoc::new).collect();
    let incidents: Vec<IncidentDoc> = batch.incidents.iter().map(IncidentDoc::new).collect();
    // Commits are content-addressed facts (a sha names its parents and date
    // for ever): they are written first, each on its own, outside the
    // batch's transaction. A failed batch leaves only true commits behind,
    // and a long history does not lengthen the transaction that concurrent
    // normalize tasks conflict with.
    let commit_coll = w.db.collection::<CommitDoc>(SILVER_COMMITS);
    for c in batch.commits.iter().map(CommitDoc::new) {
        commit_coll
            .replace_one(c.natural_key(), &c)
            .upsert(true)
            .await
            .map_err(classify)?;
    }
    let counts = CountsDoc::new(&batch.counts)?;
    if batch.deployments.is_empty() && batch.changes.is_empty() && batch.incidents.is_empty() {
        // Counts alone (an aggregate's linkage tally, an empty scope): one
        // document, atomic without a transaction, so it waits on no other.
        w.db.collection::<CountsDoc>(NORMALIZE_COUNTS)
            .replace_one(counts.natural_key(), &counts)
            .upsert(true)
            .await
            .map_err(classify)?;
        return Ok(());
    }
    let collections = (
        w.db.collection::<DeploymentDoc>(SILVER_DEPLOYMENTS),
        w.db.collection::<ChangeDoc>(SILVER_CHANGES),
        w.db.collection::<IncidentDoc>(SILVER_INCIDENTS),
        w.db.collection::<CountsDoc>(NORMALIZE_COUNTS),
    );
    w.transaction(
        (collections, deployments, changes, incidents, counts),
        |s, ((d_coll, c_coll, i_coll, n_coll), deployments, changes, incidents, counts)| {
            async move {
                // A replacement keeps the matched document's `_id`; with
                // `upsert` a missing key is inserted.
                for d in deployments.iter() {
                    d_coll
                        .replace_one(d.natural_key(), d)
                        .upsert(true)
                        .session(&mut *s)
                        .await?;
                }
                for c in changes.iter() {
                    c_coll
                        .replace_one(c.natural_key(), c)
                        .upsert(true)
                        .session(&mut *s)
                        .await?;
                }
                for i in incidents.iter() {
                    i_coll
                        .replace_one(i.natural_key(), i)
                        .upsert(true)
                        .session(&mut *s)
                        .await?;
                }
                n_coll
                    .replace_one(counts.natural_key(), &*counts)
                    .upsert(true)
                    .session(&mut *s)
                    .await?;
                Ok(())
            }
            .boxed()
        },
    )
    .await
}

async fn all<T>(coll: Collection<T>, filter: Document, sort: Document) -> Result<Vec<T>>
where
    T: DeserializeOwned + Send + Sync,
{
    coll.find(filter)
        .sort(sort)
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)
}

pub(super) async fn team(db: &Database, team_id: &str) -> Result<TeamSilver> {
    let team = doc! { "team_id": team_id };
    // Missing `finished_at` (null) sorts first, as NULL does in SQLite.
    let deployments = all(
        db.collection::<DeploymentDoc>(SILVER_DEPLOYMENTS),
        team.clone(),
        doc! { "finished_at": 1, "key": 1 },
    )
    .await?;
    let changes = all(
        db.collection::<ChangeDoc>(SILVER_CHANGES),
        team.clone(),
        doc! { "merged_at": 1, "repo": 1, "number": 1 },
    )
    .await?;
    let incidents = all(
        db.collection::<IncidentDoc>(SILVER_INCIDENTS),
        team.clone(),
        doc! { "created_at": 1, "key": 1 },
    )
    .await?;
    let commits = all(
        db.collection::<CommitDoc>(SILVER_COMMITS),
        team,
        doc! { "repo": 1, "committed_at": 1, "sha": 1 },
    )
    .await?;
    Ok(TeamSilver {
        deployments: deployments
            .into_iter()
            .map(DeploymentDoc::into_silver)
            .collect::<Result<_>>()?,
        changes: changes
            .into_iter()
            .map(ChangeDoc::into_silver)
            .collect::<Result<_>>()?,
        incidents: incidents
            .into_iter()
            .map(IncidentDoc::into_silver)
            .collect::<Result<_>>()?,
        commits: commits
            .into_iter()
            .map(CommitDoc::into_silver)
            .collect::<Result<_>>()?,
    })
}

pub(super) async fn counts(db: &Database, run_id: Option<Uuid>) -> Result<Vec<NormalizeCounts>> {
    let filter = run_id.map_or_else(Document::new, |r| doc! { "run_id": r.to_string() });
    let stored = all(
        db.collection::<CountsDoc>(NORMALIZE_COUNTS),
        filter,
        doc! { "run_id": 1, "source": 1, "team": 1, "target": 1 },
    )
    .await?;
    stored
        .iter()
        .map(|c| {
            serde_json::from_str(&c.counts).map_err(|e| corrupt("normalize counts")(e.to_string()))
        })
        .collect()
}

#[async_trait]
impl crate::SilverStore for MongoWarehouse {
    async fn upsert_silver(&self, batch: &SilverBatch) -> Result<()> {
        upsert(self, batch).await
    }

    async fn team_silver(&self, team_id: &str) -> Result<TeamSilver> {
        team(&self.db, team_id).await
    }

    async fn normalize_counts(&self, run_id: Option<Uuid>) -> Result<Vec<NormalizeCounts>> {
        counts(&self.db, run_id).await
    }
}
