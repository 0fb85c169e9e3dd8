//! Declaring (idempotently) and deleting the fleet's exchanges and queues.
//!
//! ```text
//! publish ──► {p}.tasks (direct) ──rk=tasks.extract.github──► {p}.tasks.extract.github (quorum)
//!                 ▲                                            │ x-delivery-limit exceeded
//!                 │ expired (original routing key)             ▼
//! publish_delayed ──► {p}.wait.{ms} (fanout) ──► {p}.wait.{ms} (classic, x-message-ttl)
//!                                                              {p}.dead (fanout) ──► {p}.dead_letters (quorum)
//! publish_event ──► {p}.events (fanout) ──► {p}.task_events (quorum)
//! ```

use super::names::Names;
use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

fn int(value: u32) -> AMQPValue {
    // Signed 32-bit ('I') is what every RabbitMQ argument validator accepts;
    // `RabbitConfig::validate` keeps the values below i32::MAX.
    AMQPValue::LongInt(i32::try_from(value).unwrap_or(i32::MAX))
}

fn quorum_args() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), string("quorum"));
    args
}

/// The arguments of a stage queue: quorum, bounded redeliveries, dead-lettered.
pub(crate) fn task_queue_args(names: &Names, delivery_limit: u32) -> FieldTable {
    let mut args = quorum_args();
    args.insert("x-delivery-limit".into(), int(delivery_limit));
    args.insert(
        "x-dead-letter-exchange".into(),
        string(&names.dead_exchange()),
    );
    args
}

/// The arguments of a wait tier: messages expire (at the latest after the tier)
/// back into the task exchange under their original routing key.
pub(crate) fn wait_queue_args(names: &Names, tier_ms: u32) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), string("classic"));
    args.insert("x-message-ttl".into(), int(tier_ms));
    args.insert(
        "x-dead-letter-exchange".into(),
        string(&names.tasks_exchange()),
    );
    args
}

/// Declare every exchange, queue and binding. Redeclaring with the same
/// settings is a no-op, so every role runs this on every (re)connection.
pub(crate) async fn declare(
    channel: &Channel,
    names: &Names,
    delivery_limit: u32,
) -> lapin::Result<()> {
    let no_args = FieldTable::default;

    // Dead letters first: the stage queues point at this exchange.
    let dead = names.dead_exchange();
    channel
        .exchange_declare(
            dead.as_str().into(),
            ExchangeKind::Fanout,
            durable_exchange(),
            no_args(),
        )
        .await?;
    let dead_queue = names.dead_queue();
    channel
        .queue_declare(dead_queue.as_str().into(), durable_queue(), quorum_args())
        .await?;
    channel
        .queue_bind(
            dead_queue.as_str().into(),
            dead.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            no_args(),
        )
        .await?;

    let tasks = names.tasks_exchange();
    channel
        .exchange_declare(
            tasks.as_str().into(),
            ExchangeKind::Direct,
            durable_exchange(),
            no_args(),
        )
        .await?;
    for route in Names::routes() {
        let key = route.queue();
        let queue = names.queue(&key);
        channel
            .queue_declare(
                queue.as_str().into(),
                durable_queue(),
                task_queue_args(names, delivery_limit),
            )
            .await?;
        channel
            .queue_bind(
                queue.as_str().into(),
                tasks.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                no_args(),
            )
            .await?;
    }

    for &tier in &names.tiers {
        let wait = names.wait(tier);
        channel
            .exchange_declare(
                wait.as_str().into(),
                ExchangeKind::Fanout,
                durable_exchange(),
                no_args(),
            )
            .await?;
        channel
            .queue_declare(
                wait.as_str().into(),
                durable_queue(),
                wait_queue_args(names, tier),
            )
            .await?;
        channel
            .queue_bind(
                wait.as_str().into(),
                wait.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                no_args(),
            )
            .await?;
    }

    let events = names.events_exchange();
    channel
        .exchange_declare(
            events.as_str().into(),
            ExchangeKind::Fanout,
            durable_exchange(),
            no_args(),
        )
        .await?;
    let events_queue = names.events_queue();
    channel
        .queue_declare(events_queue.as_str().into(), durable_queue(), quorum_args())
        .await?;
    channel
        .queue_bind(
            events_queue.as_str().into(),
            events.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            no_args(),
        )
        .await?;
    Ok(())
}

/// Every queue name under the prefix.
pub(crate) fn queues(names: &Names) -> Vec<String> {
    let mut queues: Vec<String> = Names::routes()
        .iter()
        .map(|r| names.queue(&r.queue()))
        .collect();
    queues.extend(names.tiers.iter().map(|&t| names.wait(t)));
    queues.push(names.dead_queue());
    queues.push(names.events_queue());
    queues
}

/// Every exchange name under the prefix.
pub(crate) fn exchanges(names: &Names) -> Vec<String> {
    let mut exchanges = vec![
        names.tasks_exchange(),
        names.dead_exchange(),
        names.events_exchange(),
    ];
    exchanges.extend(names.tiers.iter().map(|&t| names.wait(t)));
    exchanges
}

/// Delete every queue and exchange (messages included). Deleting what does
/// not exist succeeds, so this is safe to repeat.
pub(crate) async fn delete(channel: &Channel, names: &Names) -> lapin::Result<()> {
    for queue in queues(names) {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    for exchange in exchanges(names) {
        channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await?;
    }
    Ok(())
}
