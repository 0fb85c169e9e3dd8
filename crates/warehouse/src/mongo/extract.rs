//! Extract progress: each task's checkpoint (the crawl state a retried task
//! resumes from) and each scope's coverage (the span extracted without a
//! gap, whose end is the high-watermark of incremental syncs).

use super::codec::{corrupt, parse_ts, parse_uuid, to_doc, ts};
use super::indexes::{COVERAGE, EXTRACT_CHECKPOINTS};
use super::{MongoWarehouse, by_id, classify};
use crate::{Coverage, ExtractCheckpoint, Result};
use chrono::Utc;
use dorafleet_core::{Scope, Source, Window};
use futures::FutureExt;
use mongodb::Database;
use mongodb::bson::{Document, doc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CheckpointDoc {
    #[serde(rename = "_id")]
    pub(super) task_id: String,
    run_id: String,
    pages_done: i64,
    state: String,
    newest_seen: Option<String>,
    pub(super) completed: bool,
    updated_at: String,
}

impl CheckpointDoc {
    pub(super) fn new(c: &ExtractCheckpoint) -> Self {
        CheckpointDoc {
            task_id: c.task_id.to_string(),
            run_id: c.run_id.to_string(),
            pages_done: i64::from(c.pages_done),
            state: c.state.clone(),
            newest_seen: c.newest_seen.map(ts),
            completed: c.completed,
            updated_at: ts(Utc::now()),
        }
    }

    /// The `$set` of an upsert: everything but the `_id`.
    pub(super) fn fields(&self) -> Result<Document> {
        let mut fields = to_doc(self)?;
        fields.remove("_id");
        Ok(fields)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CoverageDoc {
    source: String,
    team: String,
    /// `""` for scopes without a target, as in SQLite.
    target: String,
    from: String,
    to: String,
    updated_at: String,
}

fn scope_key(source: Source, scope: &Scope) -> Document {
    doc! {
        "source": source.as_str(),
        "team": &scope.team,
        "target": scope.target.clone().unwrap_or_default(),
    }
}

/// Coverage after extracting `window`: it only ever claims time that was
/// extracted. A window after the watermark with a gap restarts coverage
/// there; a window before its start with a gap is not joined to it; an
/// overlapping or adjoining window extends it.
pub(crate) fn extend_coverage(existing: Option<Coverage>, window: Window) -> Coverage {
    let fresh = Coverage {
        from: window.from,
        to: window.to,
    };
    match existing {
        None => fresh,
        Some(c) if window.from > c.to => fresh,
        Some(c) if window.to < c.from => c,
        Some(c) => Coverage {
            from: c.from.min(window.from),
            to: c.to.max(window.to),
        },
    }
}

pub(super) async fn checkpoint(db: &Database, task_id: Uuid) -> Result<Option<ExtractCheckpoint>> {
    let found = db
        .collection::<CheckpointDoc>(EXTRACT_CHECKPOINTS)
        .find_one(by_id(task_id.to_string()))
        .await
        .map_err(classify)?;
    found
        .map(|c| {
            Ok(ExtractCheckpoint {
                task_id,
                run_id: parse_uuid(&c.run_id)?,
                pages_done: u32::try_from(c.pages_done)
                    .map_err(|e| corrupt("checkpoint pages")(e.to_string()))?,
                state: c.state,
                newest_seen: c.newest_seen.as_deref().map(parse_ts).transpose()?,
                completed: c.completed,
            })
        })
        .transpose()
}

pub(super) async fn complete(
    w: &MongoWarehouse,
    checkpoint: &ExtractCheckpoint,
    source: Source,
    scope: &Scope,
    window: Window,
) -> Result<()> {
    let mut done = CheckpointDoc::new(checkpoint);
    done.completed = true;
    let cp_id = by_id(done.task_id.clone());
    let cp_fields = done.fields()?;
    let key = scope_key(source, scope);
    let checkpoints = w.db.collection::<Document>(EXTRACT_CHECKPOINTS);
    let coverage = w.db.collection::<CoverageDoc>(COVERAGE);
    // Read-modify-write inside the transaction: a concurrent completion of
    // the same scope makes one of the two commits fail with a write conflict,
    // and the driver reruns it on the other's result.
    w.transaction(
        (checkpoints, coverage, cp_id, cp_fields, key),
        move |s, (checkpoints, coverage, cp_id, cp_fields, key)| {
            async move {
                checkpoints
                    .update_one(cp_id.clone(), doc! { "$set": cp_fields.clone() })
                    .upsert(true)
                    .session(&mut *s)
                    .await?;
                let existing = coverage.find_one(key.clone()).session(&mut *s).await?;
                let current = match existing {
                    Some(c) => Some(
                        stored_coverage(&c)
                            .map_err(|e| super::abort_corrupt(format!("stored coverage: {e}")))?,
                    ),
                    None => None,
                };
                let next = extend_coverage(current, window);
                coverage
                    .update_one(
                        key.clone(),
                        doc! { "$set": {
                            "from": ts(next.from),
                            "to": ts(next.to),
                            "updated_at": ts(Utc::now()),
                        } },
                    )
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

fn stored_coverage(c: &CoverageDoc) -> Result<Coverage> {
    Ok(Coverage {
        from: parse_ts(&c.from)?,
        to: parse_ts(&c.to)?,
    })
}

pub(super) async fn coverage(
    db: &Database,
    source: Source,
    scope: &Scope,
) -> Result<Option<Coverage>> {
    db.collection::<CoverageDoc>(COVERAGE)
        .find_one(scope_key(source, scope))
        .await
        .map_err(classify)?
        .as_ref()
        .map(stored_coverage)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone};

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap()
    }

    fn span(a: u32, b: u32) -> Window {
        Window {
            from: day(a),
            to: day(b),
        }
    }

    fn covered(a: u32, b: u32) -> Coverage {
        Coverage {
            from: day(a),
            to: day(b),
        }
    }

    #[test]
    fn coverage_grows_over_adjoining_windows_and_never_across_a_gap() {
        let c = extend_coverage(None, span(10, 12));
        assert_eq!(c, covered(10, 12));
        let c = extend_coverage(Some(c), span(12, 14));
        assert_eq!(c, covered(10, 14));
        assert_eq!(extend_coverage(Some(c), span(11, 12)), covered(10, 14));
        let c = extend_coverage(Some(c), span(8, 10));
        assert_eq!(c, covered(8, 14));
        assert_eq!(extend_coverage(Some(c), span(1, 3)), covered(8, 14));
        assert_eq!(extend_coverage(Some(c), span(20, 22)), covered(20, 22));
    }
}
