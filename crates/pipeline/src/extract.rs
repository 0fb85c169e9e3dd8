//! Extract: source API → bronze.
//!
//! A crawl is a queue of pending page requests: it starts from the source's
//! first requests and every fetched page adds its follow-ups (the next page,
//! child lists). Each page is stored together with the remaining queue as the
//! task's checkpoint in one warehouse transaction, so a task that fails on
//! page 7 resumes at page 7 on its next attempt instead of starting over, and
//! no page is ever stored twice.

use crate::handler::{HandlerOutcome, StageHandler};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dorafleet_core::{Source, TaskEnvelope, TaskError, TaskStats};
use dorafleet_sources::{PageRequest, SourceClient, next_steps, start_requests};
use dorafleet_warehouse::{BronzePage, ExtractCheckpoint, Warehouse};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The crawl state saved in each checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrawlState {
    pub pending: VecDeque<PageRequest>,
    pub newest_seen: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct ExtractHandler {
    warehouse: Arc<dyn Warehouse>,
    clients: HashMap<Source, (SourceClient, u32)>,
}

impl ExtractHandler {
    pub fn new(warehouse: Arc<dyn Warehouse>) -> Self {
        ExtractHandler {
            warehouse,
            clients: HashMap::new(),
        }
    }

    /// Use `client` for its source, asking for `page_size` records per page.
    pub fn with_client(mut self, client: SourceClient, page_size: u32) -> Self {
        self.clients.insert(client.source(), (client, page_size));
        self
    }

    async fn crawl(&self, task: &TaskEnvelope, stats: &mut TaskStats) -> Result<(), TaskError> {
        let source = task
            .source
            .ok_or_else(|| TaskError::permanent("extract task without a source"))?;
        let (client, page_size) = self.clients.get(&source).ok_or_else(|| {
            TaskError::permanent(format!("this worker has no client for source {source}"))
        })?;
        let saved = self.warehouse.extract_checkpoint(task.task_id).await?;
        let (mut state, mut seq) = match saved {
            Some(cp) if cp.completed => return Ok(()),
            Some(cp) => (decode_state(&cp.state)?, cp.pages_done),
            None => (
                CrawlState {
                    pending: start_requests(source, &task.scope, &task.window, *page_size).into(),
                    newest_seen: None,
                },
                0,
            ),
        };
        while let Some(request) = state.pending.front().cloned() {
            stats.api_calls += 1;
            let page = client.get(&request).await?;
            stats.rate_limit_wait_ms += page.rate_limit_wait.as_millis() as u64;
            let step = next_steps(source, &page, &task.window, *page_size)?;
            state.pending.pop_front();
            state.pending.extend(step.follow_ups);
            state.newest_seen = state.newest_seen.max(step.newest_seen);
            let bronze = BronzePage {
                task_id: task.task_id,
                seq,
                execution_id: task.run_id,
                source_system: source,
                scope: task.scope.clone(),
                endpoint: request.endpoint.clone(),
                request: request.url.clone(),
                cursor: request.page_no.to_string(),
                status: page.status,
                fetched_at: page.fetched_at,
                record_count: step.records,
                body: page.body,
            };
            seq += 1;
            let checkpoint = self.checkpoint(task, seq, &state)?;
            if self
                .warehouse
                .append_bronze_page(&bronze, &checkpoint)
                .await?
            {
                stats.pages += 1;
                stats.records += step.records;
            }
        }
        let done = self.checkpoint(task, seq, &state)?;
        self.warehouse
            .complete_extract(&done, source, &task.scope, task.window)
            .await?;
        Ok(())
    }

    fn checkpoint(
        &self,
        task: &TaskEnvelope,
        pages_done: u32,
        state: &CrawlState,
    ) -> Result<ExtractCheckpoint, TaskError> {
        Ok(ExtractCheckpoint {
            task_id: task.task_id,
            run_id: task.run_id,
            pages_done,
            state: serde_json::to_string(state)
                .map_err(|e| TaskError::permanent(format!("crawl state does not encode: {e}")))?,
            newest_seen: state.newest_seen,
            completed: false,
        })
    }
}

fn decode_state(json: &str) -> Result<CrawlState, TaskError> {
    serde_json::from_str(json)
        .map_err(|e| TaskError::permanent(format!("stored crawl checkpoint is unreadable: {e}")))
}

#[async_trait]
impl StageHandler for ExtractHandler {
    async fn handle(&self, task: &TaskEnvelope) -> HandlerOutcome {
        let mut stats = TaskStats::default();
        match self.crawl(task, &mut stats).await {
            Ok(()) => HandlerOutcome::ok(stats),
            Err(e) => HandlerOutcome::failed(stats, e),
        }
    }
}
