//! The contract every [`Warehouse`] implementation must pass, one file per
//! role (compiled only with the `testsuite` feature, for tests).
//!
//! Each check is a plain async function taking a fresh, empty warehouse; the
//! [`warehouse_contract_suite!`](crate::warehouse_contract_suite) macro turns
//! them into one `#[tokio::test]` each for a given backend, so SQLite and
//! MongoDB are held to exactly the same behaviour.

use crate::{
    BRONZE_PAGES_PER_READ, BronzeFilter, BronzePage, Coverage, ExtractCheckpoint, Fence,
    GoldChangeKind, GoldFilter, GoldRecord, Hold, HoldEvidence, HoldFilter, HoldResolution,
    HoldStatus, LetterFilter, LetterStatus, NormalizeCounts, RunRecord, RunStatus, SilverBatch,
    SilverChange, SilverCommit, SilverDeployment, SilverIncident, TaskRecord, TaskState, Warehouse,
    WarehouseError, each_bronze_page,
};
use chrono::{Duration, TimeZone, Utc};
use dorafleet_core::{
    AttemptRecord, DeadLetter, ErrorClass, Metric, Scope, Source, Stage, TaskEnvelope, Window,
};
use std::sync::Arc;
use uuid::Uuid;

/// Instantiate the contract suite for a backend, one `#[tokio::test]` per check.
///
/// `warehouse_contract_suite!(make)`: `make` is an expression evaluating to a
/// future of `Option<Arc<dyn Warehouse>>`; `None` skips the test (e.g.
/// MongoDB without `MONGODB_URI`), after printing why.
///
/// `warehouse_contract_suite!(make, teardown = f)`: `make` evaluates to a
/// future of `Option<(Arc<dyn Warehouse>, G)>`, and `f(G)` is awaited after a
/// check passes (e.g. to drop the test's database).
#[macro_export]
macro_rules! warehouse_contract_suite {
    ($make:expr, teardown = $teardown:expr) => {
        $crate::warehouse_contract_suite!(@list (guarded $make, $teardown));
    };
    ($make:expr) => {
        $crate::warehouse_contract_suite!(@list (plain $make));
    };
    (@list $setup:tt) => {
        $crate::warehouse_contract_suite!(@tests $setup;
            appended_pages_read_back_in_order_with_every_field,
            a_page_stored_twice_is_kept_once,
            pages_appended_at_once_by_many_tasks_are_each_stored_with_their_checkpoint,
            a_tasks_pages_stored_together_come_with_the_checkpoint_after_the_last,
            a_scope_read_in_chunks_hands_over_every_page_once_in_storage_order,
            a_checkpoint_is_saved_with_its_page_and_resumes_the_task,
            a_late_append_never_moves_a_checkpoint_back_or_reopens_it,
            completed_extracts_extend_coverage_without_ever_claiming_a_gap,
            silver_upserts_by_natural_key_so_a_repeat_changes_nothing,
            gold_upserts_per_team_day_and_metric_and_filters_by_range,
            gold_values_and_samples_read_back_bit_for_bit_from_gold_and_the_feed,
            a_new_definition_fingerprint_gets_the_next_version,
            totals_count_pages_and_records_per_source_and_run,
            purge_removes_only_pages_older_than_the_cutoff,
            a_page_reused_on_a_304_reads_back_with_the_payload_it_reuses,
            the_newest_fetched_page_with_a_validator_is_the_one_revalidated,
            dead_letters_are_archived_once_and_read_back_whole,
            runs_and_task_states_are_saved_and_updated,
            a_lease_has_one_holder_until_it_expires_or_is_released,
            lease_generations_move_on_with_each_takeover_and_never_go_back,
            fenced_writes_of_a_stale_lease_generation_are_refused_and_write_nothing,
            request_slots_are_spaced_by_the_interval_and_holds_push_them_back,
            a_replayed_letter_goes_dead_to_replaying_to_replayed_with_its_audit_trail,
            a_claimed_letter_is_not_claimed_twice_until_its_claim_is_stale,
            only_dead_letters_are_discarded_and_filters_select_letters,
            a_batch_discard_marks_only_the_dead_letters_named_each_once,
            holds_are_stored_once_selected_by_run_team_and_status_and_resolved_once,
            concurrent_claims_of_one_letter_have_exactly_one_winner,
            concurrent_batch_claims_over_overlapping_ids_never_both_win_a_letter,
            a_batch_finish_marks_each_letter_replayed_once_resets_its_task_and_reopens_its_run,
            a_batch_finish_naming_an_unknown_letter_writes_nothing,
            a_batch_claim_reports_discarded_unknown_and_repeated_ids_as_not_claimed,
            claims_given_back_in_a_batch_are_dead_again_each_with_its_reason,
            concurrent_lease_requests_have_exactly_one_winner,
            concurrent_registrations_of_definitions_never_share_a_version,
            concurrent_slot_reservations_are_never_closer_than_the_interval,
            runs_of_slots_reserved_at_once_never_come_closer_than_the_interval,
            callers_sharing_a_fine_schedule_never_get_slots_closer_than_the_interval,
            a_hold_voids_the_slots_already_leased_before_it,
            gold_inserts_and_real_changes_are_fed_in_order_but_identical_upserts_are_not,
            the_gold_feed_is_read_in_limited_batches_after_a_sequence,
            purging_gold_changes_drops_only_those_passed_and_old_enough,
            monitor_checkpoints_are_saved_and_replaced_per_name,
            a_delivered_alert_is_recorded_once_by_its_key_and_listed,
        );
    };
    (@tests $setup:tt; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::warehouse_contract_suite!(@run $name $setup);
            }
        )*
    };
    (@run $name:ident (plain $make:expr)) => {
        let Some(warehouse) = $make.await else { return };
        $crate::contract::$name(warehouse).await;
    };
    (@run $name:ident (guarded $make:expr, $teardown:expr)) => {
        let Some((warehouse, guard)) = $make.await else { return };
        $crate::contract::$name(warehouse).await;
        ($teardown)(guard).await;
    };
}

mod bronze;
mod bronze_reuse;
mod gold;
mod holds;
mod ledger;
mod letter_batches;
mod letters;
mod monitor;
mod silver;
mod slots;

pub use bronze::*;
pub use bronze_reuse::*;
pub use gold::*;
pub use holds::*;
pub use ledger::*;
pub use letter_batches::*;
pub use letters::*;
pub use monitor::*;
pub use silver::*;
pub use slots::*;

fn scope(team: &str, target: &str) -> Scope {
    Scope {
        team: team.into(),
        target: Some(target.into()),
    }
}

/// Run `n` copies of `job` at once against one warehouse.
async fn all_at_once<T, F, Fut>(w: &Arc<dyn Warehouse>, n: usize, job: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Warehouse>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let mut jobs = tokio::task::JoinSet::new();
    for i in 0..n {
        jobs.spawn(job(Arc::clone(w), i));
    }
    let mut out = Vec::new();
    while let Some(result) = jobs.join_next().await {
        out.push(result.expect("a concurrent job panicked"));
    }
    out
}
