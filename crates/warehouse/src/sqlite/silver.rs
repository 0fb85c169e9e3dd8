//! Silver: normalized events, upserted by natural key.

use super::SqliteWarehouse;
use super::filters::Filters;
use super::{parse_source, parse_ts, parse_uuid, ts, unavailable};
use crate::DeploymentOutcome;
use crate::{
    NormalizeCounts, Result, SilverBatch, SilverChange, SilverCommit, SilverDeployment,
    SilverIncident, TeamSilver, WarehouseError,
};
use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{Connection, params};
use uuid::Uuid;

pub(super) fn upsert(conn: &mut Connection, batch: &SilverBatch) -> Result<()> {
    let tx = super::write_tx(conn)?;
    {
        let mut deployment = tx
            .prepare_cached(
                "INSERT INTO silver_deployments (source, key, team_id, repo, job, environment,
                     status, started_at, finished_at, sha, deployer, run_id, ref_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (source, key) DO UPDATE SET team_id = excluded.team_id,
                     repo = excluded.repo, job = excluded.job, environment = excluded.environment,
                     status = excluded.status, started_at = excluded.started_at,
                     finished_at = excluded.finished_at, sha = excluded.sha,
                     deployer = excluded.deployer, run_id = excluded.run_id,
                     ref_name = excluded.ref_name",
            )
            .map_err(unavailable)?;
        for d in &batch.deployments {
            deployment
                .execute(params![
                    d.source.as_str(),
                    d.key,
                    d.team_id,
                    d.repo,
                    d.job,
                    d.environment,
                    d.status.as_str(),
                    ts(d.started_at),
                    d.finished_at.map(ts),
                    d.sha,
                    d.deployer,
                    d.run_id.to_string(),
                    d.ref_name,
                ])
                .map_err(unavailable)?;
        }
        let mut change = tx
            .prepare_cached(
                "INSERT INTO silver_changes (repo, number, team_id, author, first_commit_at,
                     merged_at, merge_sha, run_id, title, head_ref)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (repo, number) DO UPDATE SET team_id = excluded.team_id,
                     author = excluded.author, first_commit_at = excluded.first_commit_at,
                     merged_at = excluded.merged_at, merge_sha = excluded.merge_sha,
                     run_id = excluded.run_id, title = excluded.title,
                     head_ref = excluded.head_ref",
            )
            .map_err(unavailable)?;
        for c in &batch.changes {
            change
                .execute(params![
                    c.repo,
                    c.number as i64,
                    c.team_id,
                    c.author,
                    ts(c.first_commit_at),
                    ts(c.merged_at),
                    c.merge_sha,
                    c.run_id.to_string(),
                    c.title,
                    c.head_ref,
                ])
                .map_err(unavailable)?;
        }
        let mut commit = tx
            .prepare_cached(
                "INSERT INTO silver_commits (repo, sha, team_id, parents, committed_at, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (repo, sha) DO UPDATE SET team_id = excluded.team_id,
                     parents = excluded.parents, committed_at = excluded.committed_at,
                     run_id = excluded.run_id",
            )
            .map_err(unavailable)?;
        for c in &batch.commits {
            let parents = serde_json::to_string(&c.parents)
                .map_err(|e| WarehouseError::corrupt_from("commit parents", e))?;
            commit
                .execute(params![
                    c.repo,
                    c.sha,
                    c.team_id,
                    parents,
                    ts(c.committed_at),
                    c.run_id.to_string(),
                ])
                .map_err(unavailable)?;
        }
        let mut incident = tx
            .prepare_cached(
                "INSERT INTO silver_incidents (key, project, team_id, issue_type, priority,
                     created_at, resolved_at, reporter, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (key) DO UPDATE SET project = excluded.project,
                     team_id = excluded.team_id, issue_type = excluded.issue_type,
                     priority = excluded.priority, created_at = excluded.created_at,
                     resolved_at = excluded.resolved_at, reporter = excluded.reporter,
                     run_id = excluded.run_id",
            )
            .map_err(unavailable)?;
        for i in &batch.incidents {
            incident
                .execute(params![
                    i.key,
                    i.project,
                    i.team_id,
                    i.issue_type,
                    i.priority,
                    ts(i.created_at),
                    i.resolved_at.map(ts),
                    i.reporter,
                    i.run_id.to_string(),
                ])
                .map_err(unavailable)?;
        }
        let c = &batch.counts;
        let counts = serde_json::to_string(c)
            .map_err(|e| WarehouseError::corrupt_from("normalize counts", e))?;
        tx.execute(
            "INSERT INTO normalize_counts (run_id, source, team, target, counts, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (run_id, source, team, target) DO UPDATE SET
                 counts = excluded.counts, recorded_at = excluded.recorded_at",
            params![
                c.run_id.to_string(),
                c.source.map_or("", |s| s.as_str()),
                c.scope.as_ref().map_or("", |s| s.team.as_str()),
                c.scope
                    .as_ref()
                    .and_then(|s| s.target.as_deref())
                    .unwrap_or(""),
                counts,
                ts(Utc::now()),
            ],
        )
        .map_err(unavailable)?;
    }
    tx.commit().map_err(unavailable)
}

pub(super) fn team(conn: &mut Connection, team_id: &str) -> Result<TeamSilver> {
    let mut silver = TeamSilver::default();
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT source, key, team_id, repo, job, environment, status, started_at,
                        finished_at, sha, deployer, run_id, ref_name
                 FROM silver_deployments WHERE team_id = ?1 ORDER BY finished_at, key",
            )
            .map_err(unavailable)?;
        let mut rows = stmt.query(params![team_id]).map_err(unavailable)?;
        while let Some(r) = rows.next().map_err(unavailable)? {
            let text = |i: usize| r.get::<_, String>(i).map_err(unavailable);
            let opt = |i: usize| r.get::<_, Option<String>>(i).map_err(unavailable);
            silver.deployments.push(SilverDeployment {
                source: parse_source(&text(0)?)?,
                key: text(1)?,
                team_id: text(2)?,
                repo: text(3)?,
                job: opt(4)?,
                environment: text(5)?,
                status: DeploymentOutcome::from(text(6)?),
                started_at: parse_ts(&text(7)?)?,
                finished_at: opt(8)?.as_deref().map(parse_ts).transpose()?,
                sha: opt(9)?,
                deployer: opt(10)?,
                run_id: parse_uuid(&text(11)?)?,
                ref_name: opt(12)?,
            });
        }
    }
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT repo, number, team_id, author, first_commit_at, merged_at, merge_sha, run_id,
                        title, head_ref
                 FROM silver_changes WHERE team_id = ?1 ORDER BY merged_at, repo, number",
            )
            .map_err(unavailable)?;
        let mut rows = stmt.query(params![team_id]).map_err(unavailable)?;
        while let Some(r) = rows.next().map_err(unavailable)? {
            let text = |i: usize| r.get::<_, String>(i).map_err(unavailable);
            let opt = |i: usize| r.get::<_, Option<String>>(i).map_err(unavailable);
            silver.changes.push(SilverChange {
                repo: text(0)?,
                number: r.get::<_, i64>(1).map_err(unavailable)? as u64,
                team_id: text(2)?,
                author: opt(3)?,
                first_commit_at: parse_ts(&text(4)?)?,
                merged_at: parse_ts(&text(5)?)?,
                merge_sha: opt(6)?,
                run_id: parse_uuid(&text(7)?)?,
                title: opt(8)?,
                head_ref: opt(9)?,
            });
        }
    }
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT repo, sha, team_id, parents, committed_at, run_id
                 FROM silver_commits WHERE team_id = ?1 ORDER BY repo, committed_at, sha",
            )
            .map_err(unavailable)?;
        let mut rows = stmt.query(params![team_id]).map_err(unavailable)?;
        while let Some(r) = rows.next().map_err(unavailable)? {
            let text = |i: usize| r.get::<_, String>(i).map_err(unavailable);
            silver.commits.push(SilverCommit {
                repo: text(0)?,
                sha: text(1)?,
                team_id: text(2)?,
                parents: serde_json::from_str(&text(3)?)
                    .map_err(|e| WarehouseError::corrupt_from("commit parents", e))?,
                committed_at: parse_ts(&text(4)?)?,
                run_id: parse_uuid(&text(5)?)?,
            });
        }
    }
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, project, team_id, issue_type, priority, created_at, resolved_at,
                        reporter, run_id
                 FROM silver_incidents WHERE team_id = ?1 ORDER BY created_at, key",
            )
            .map_err(unavailable)?;
        let mut rows = stmt.query(params![team_id]).map_err(unavailable)?;
        while let Some(r) = rows.next().map_err(unavailable)? {
            let text = |i: usize| r.get::<_, String>(i).map_err(unavailable);
            let opt = |i: usize| r.get::<_, Option<String>>(i).map_err(unavailable);
            silver.incidents.push(SilverIncident {
                key: text(0)?,
                project: text(1)?,
                team_id: text(2)?,
                issue_type: text(3)?,
                priority: opt(4)?,
                created_at: parse_ts(&text(5)?)?,
                resolved_at: opt(6)?.as_deref().map(parse_ts).transpose()?,
                reporter: opt(7)?,
                run_id: parse_uuid(&text(8)?)?,
            });
        }
    }
    Ok(silver)
}

pub(super) fn counts(conn: &mut Connection, run_id: Option<Uuid>) -> Result<Vec<NormalizeCounts>> {
    let filters = Filters::new().equal("run_id", run_id.map(|u| u.to_string()));
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT counts FROM normalize_counts {} ORDER BY run_id, source, team, target",
            filters.where_clause()
        ))
        .map_err(unavailable)?;
    let mut rows = stmt
        .query(filters.params(&[]).as_slice())
        .map_err(unavailable)?;
    let mut all = Vec::new();
    while let Some(r) = rows.next().map_err(unavailable)? {
        let json: String = r.get(0).map_err(unavailable)?;
        all.push(
            serde_json::from_str(&json)
                .map_err(|e| WarehouseError::corrupt_from("normalize counts", e))?,
        );
    }
    Ok(all)
}

#[async_trait]
impl crate::SilverStore for SqliteWarehouse {
    async fn upsert_silver(&self, batch: &SilverBatch) -> Result<()> {
        let batch = batch.clone();
        self.with_conn(move |c| upsert(c, &batch)).await
    }

    async fn team_silver(&self, team_id: &str) -> Result<TeamSilver> {
        let team_id = team_id.to_owned();
        self.with_reader(move |c| team(c, &team_id)).await
    }

    async fn normalize_counts(&self, run_id: Option<Uuid>) -> Result<Vec<NormalizeCounts>> {
        self.with_reader(move |c| counts(c, run_id)).await
    }
}
