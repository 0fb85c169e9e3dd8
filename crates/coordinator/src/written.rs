//! What one run wrote in each layer — bronze pages and records per source,
//! normalize counts, gold records — and the dead letters it left. The run
//! summary and `runs show` both report it, so it is counted in one place.
//!
//! What extract found (records rejected by validation, unknown fields,
//! deleted items) is read from the extract tasks' checkpoints, which are
//! kept whether the task succeeded or was dead-lettered: a task that died
//! *because* too many records were rejected must not report zero.

use dorafleet_core::Stage;
use dorafleet_stages::extract::{RecordQuality, decode_state};
use dorafleet_warehouse::{
    ArchivedLetter, BronzeTotals, GoldFilter, LetterFilter, NormalizeCounts, Warehouse,
    WarehouseError,
};
use uuid::Uuid;

/// One run's records per layer, and its dead letters.
#[derive(Debug, Clone, Default)]
pub struct RunRecords {
    /// Bronze pages and records per source.
    pub bronze: Vec<BronzeTotals>,
    /// Normalize counts summed over the run's scopes.
    pub silver: NormalizeCounts,
    /// Extract's validation tally summed over the run's extract tasks, done
    /// or dead.
    pub extracted: RecordQuality,
    /// Items the run's crawls found deleted after they were listed.
    pub gone: u64,
    /// Gold records this run last wrote.
    pub gold_records: usize,
    /// Dead letters archived from the run's tasks.
    pub letters: Vec<ArchivedLetter>,
}

/// Count what `run_id` wrote.
pub async fn run_records(
    warehouse: &dyn Warehouse,
    run_id: Uuid,
) -> Result<RunRecords, WarehouseError> {
    let bronze = warehouse.bronze_totals(Some(run_id)).await?;
    let mut silver = NormalizeCounts::default();
    for counts in warehouse.normalize_counts(Some(run_id)).await? {
        silver.add(&counts);
    }
    let gold_records = warehouse
        .gold(&GoldFilter::default())
        .await?
        .iter()
        .filter(|g| g.run_id == run_id)
        .count();
    let letters = warehouse
        .archived_letters(&LetterFilter {
            run_id: Some(run_id),
            ..LetterFilter::default()
        })
        .await?;
    let mut extracted = RecordQuality::default();
    let mut gone = 0;
    for task in warehouse.run_tasks(run_id).await? {
        if task.envelope.stage != Stage::Extract {
            continue;
        }
        let Some(checkpoint) = warehouse.extract_checkpoint(task.envelope.task_id).await? else {
            continue;
        };
        // A checkpoint this version cannot read tells nothing to count.
        if let Ok(state) = decode_state(&checkpoint.state) {
            extracted.merge(&state.quality);
            gone += state.gone;
        }
    }
    Ok(RunRecords {
        bronze,
        silver,
        extracted,
        gone,
        gold_records,
        letters,
    })
}
