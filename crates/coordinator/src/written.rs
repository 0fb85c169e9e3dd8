//! What one run wrote in each layer — bronze pages and records per source,
//! normalize counts, gold records — and the dead letters it left. The run
//! summary and `runs show` both report it, so it is counted in one place.

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
    Ok(RunRecords {
        bronze,
        silver,
        gold_records,
        letters,
    })
}
