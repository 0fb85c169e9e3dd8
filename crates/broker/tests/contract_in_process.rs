//! The broker contract, run against the in-process broker.

use dorafleet_broker::contract::Cleanup;
use dorafleet_broker::{Broker, InProcessBroker};
use std::sync::Arc;

async fn fresh() -> Option<(Arc<dyn Broker>, Cleanup)> {
    Some((Arc::new(InProcessBroker::new()), Cleanup::none()))
}

dorafleet_broker::broker_contract_suite!(fresh());

use dorafleet_broker::contract::{extract, route};
use dorafleet_core::Source;

#[tokio::test]
async fn depth_counts_ready_messages_per_queue() {
    let broker = InProcessBroker::new();
    broker.publish(&extract(Source::Jenkins)).await.unwrap();
    broker
        .publish_raw(route(Source::Jenkins), b"poison".to_vec())
        .unwrap();
    assert_eq!(broker.depth("tasks.extract.jenkins"), 2);
    assert_eq!(broker.depth("tasks.extract.github"), 0);
}
