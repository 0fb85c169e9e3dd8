//! The broker contract, run against RabbitMQ (a private prefix per test).

mod common;

dorafleet_broker::broker_contract_suite!(common::fresh());
