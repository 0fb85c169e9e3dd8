//! Records of the bronze layer and of extract progress.

use chrono::{DateTime, Utc};
use dorafleet_core::{Scope, Source};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One API response page exactly as the source sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BronzePage {
    /// The extract task that fetched it.
    pub task_id: Uuid,
    /// Position of the page within the task's crawl (0-based).
    pub seq: u32,
    /// The run (execution) the task belonged to.
    pub execution_id: Uuid,
    pub source_system: Source,
    pub scope: Scope,
    /// Which list the page belongs to, e.g. `pulls`, `jira_search`.
    pub endpoint: String,
    /// The request URL (path and query; never credentials).
    pub request: String,
    /// The page cursor within its list (page number or token).
    pub cursor: String,
    pub status: u16,
    pub fetched_at: DateTime<Utc>,
    /// Items in the page's list.
    pub record_count: u64,
    pub body: String,
}

/// Progress of one extract task: the crawl state it resumes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractCheckpoint {
    pub task_id: Uuid,
    pub run_id: Uuid,
    /// Pages stored so far (the next page's `seq`).
    pub pages_done: u32,
    /// Opaque crawl state (the pending requests), JSON.
    pub state: String,
    /// Newest source timestamp seen so far, for the high-watermark.
    pub newest_seen: Option<DateTime<Utc>>,
    pub completed: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BronzeFilter {
    pub run_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub source: Option<Source>,
    pub team: Option<String>,
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BronzeTotals {
    pub source: Source,
    pub pages: u64,
    pub records: u64,
}
