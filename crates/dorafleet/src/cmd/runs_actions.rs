//! `runs release` and `runs rerun`: the operator's answers to a held run.

use dorafleet_broker::{Broker, InProcessBroker};
use dorafleet_coordinator::{release_run, rerun_held};
use dorafleet_core::Config;
use dorafleet_warehouse::Warehouse;
use std::sync::Arc;
use uuid::Uuid;

pub async fn release(
    config: &Config,
    warehouse: Arc<dyn Warehouse>,
    run_id: Uuid,
    reason: &str,
) -> anyhow::Result<()> {
    let released = release_run(
        warehouse.as_ref(),
        config,
        run_id,
        &super::operator(),
        reason,
    )
    .await?;
    println!(
        "released {} hold(s) of run {run_id}; wrote {} gold records; run is now {}",
        released.holds.len(),
        released.gold_records,
        released.run.status
    );
    for hold in &released.holds {
        println!("  {}", super::runs::hold_line(hold));
    }
    Ok(())
}

pub async fn rerun(
    config: &Config,
    warehouse: Arc<dyn Warehouse>,
    run_id: Uuid,
    standalone: bool,
) -> anyhow::Result<()> {
    let in_process = InProcessBroker::new();
    let broker: Arc<dyn Broker> = if standalone {
        Arc::new(in_process.clone())
    } else {
        Arc::new(super::fleet::connect_broker(config, None).await?)
    };
    let rerun = rerun_held(warehouse.as_ref(), broker.as_ref(), config, run_id).await?;
    println!(
        "rerun {} ({}) re-extracts the held teams of run {run_id}",
        rerun.run_id, rerun.window
    );
    if !standalone {
        broker.close().await?;
        println!(
            "published to the fleet: a running coordinator follows it (`dorafleet runs show {}`)",
            rerun.run_id
        );
        return Ok(());
    }
    let summaries =
        super::standalone::finish_here(config, Arc::clone(&warehouse), &in_process, "runs-rerun")
            .await?;
    for s in summaries {
        super::summary::print(&s, None);
    }
    Ok(())
}
