//! RabbitMQ-specific behaviour: delivery limits, unroutable publishes, wait
//! tiers, topology redeclaration, queue depth, and surviving a lost connection.

mod common;

use dorafleet_broker::contract::{PATIENCE, expect_delivery, expect_quiet, extract, route, task};
use dorafleet_broker::{
    Broker, BrokerError, DEAD_LETTER_QUEUE, DeliveryStream, RabbitBroker, RabbitConfig, Route,
};
use dorafleet_core::{DeadLetter, Source, Stage, TaskEnvelope};
use std::time::{Duration, Instant};

/// Run `check` against a fresh broker, cleaning up afterwards even if it fails.
async fn with_broker<F, Fut>(config: RabbitConfig, check: F)
where
    F: FnOnce(RabbitBroker) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(broker) = common::connect_with(config).await else {
        return;
    };
    let cleanup = common::cleanup(broker.clone());
    let outcome = tokio::spawn(check(broker)).await;
    cleanup.run().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn normalize() -> Route {
    Route {
        stage: Stage::Normalize,
        source: None,
    }
}

/// A raw lapin channel on the test's RabbitMQ, for what the broker API does not do.
async fn raw_channel() -> (lapin::Connection, lapin::Channel) {
    let connection =
        lapin::Connection::connect(&common::url(), lapin::ConnectionProperties::default())
            .await
            .expect("raw connection");
    let channel = connection.create_channel().await.expect("raw channel");
    (connection, channel)
}

#[tokio::test]
async fn a_task_crashing_workers_past_the_delivery_limit_is_dead_lettered() {
    let config = common::config(); // delivery_limit 2
    let limit = config.delivery_limit;
    with_broker(config, move |broker| async move {
        let t = extract(Source::Github);
        broker.publish(&t).await.unwrap();
        // Each "crash" drops the delivery (or the whole consumer) without an ack.
        for attempt in 0..=limit {
            let mut stream = broker
                .consume_tasks(&[route(Source::Github)])
                .await
                .unwrap();
            let d = expect_delivery(&mut stream, "the task again").await;
            assert_eq!(d.redelivered, attempt > 0);
            if attempt % 2 == 0 {
                drop(stream); // the worker process died: its channel closes
                drop(d);
            } else {
                drop(d); // the handler panicked: the delivery is nacked back
                drop(stream);
            }
        }
        let mut tasks = broker
            .consume_tasks(&[route(Source::Github)])
            .await
            .unwrap();
        expect_quiet(&mut tasks, "the task left its queue").await;

        let mut dead = broker.consume_dead_letters().await.unwrap();
        let d = expect_delivery(&mut dead, "the dead-lettered task").await;
        let letter: DeadLetter = serde_json::from_slice(&d.body).expect("wrapped as a DeadLetter");
        assert_eq!(letter.envelope.as_ref(), Some(&t));
        assert!(
            letter.reason.contains("delivery limit exceeded"),
            "reason: {}",
            letter.reason
        );
        assert!(
            letter
                .reason
                .contains(&format!("delivered {} times", limit + 1)),
            "reason: {}",
            letter.reason
        );
        assert!(
            letter.reason.contains("tasks.extract.github"),
            "reason: {}",
            letter.reason
        );
        // Redelivered to the archiver, it is the same letter (same id).
        d.requeue().await.unwrap();
        let again = expect_delivery(&mut dead, "the dead letter again").await;
        let same: DeadLetter = serde_json::from_slice(&again.body).unwrap();
        assert_eq!(same.id, letter.id);
        again.ack().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_poison_body_past_the_delivery_limit_is_dead_lettered_verbatim() {
    let config = common::config();
    let limit = config.delivery_limit;
    with_broker(config, move |broker| async move {
        broker
            .publish_raw(normalize(), b"{\"version\": 99}".to_vec())
            .await
            .unwrap();
        let mut stream = broker.consume_tasks(&[normalize()]).await.unwrap();
        for _ in 0..=limit {
            let d = expect_delivery(&mut stream, "the poison message").await;
            d.requeue().await.unwrap();
        }
        let mut dead = broker.consume_dead_letters().await.unwrap();
        let d = expect_delivery(&mut dead, "the dead-lettered poison message").await;
        let letter: DeadLetter = serde_json::from_slice(&d.body).unwrap();
        assert!(letter.envelope.is_none());
        assert_eq!(letter.raw_body.as_deref(), Some("{\"version\": 99}"));
        assert!(
            letter.reason.contains("delivery limit exceeded"),
            "{}",
            letter.reason
        );
        assert!(letter.reason.contains("version 99"), "{}", letter.reason);
        d.ack().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn publishing_to_a_deleted_queue_is_unroutable() {
    with_broker(common::config(), |broker| async move {
        let (connection, channel) = raw_channel().await;
        let queue = broker.queue_name("tasks.extract.jira");
        channel
            .queue_delete(
                queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await
            .unwrap();
        let _ = connection.close(200, "done".into()).await;
        match broker.publish(&extract(Source::Jira)).await {
            Err(BrokerError::Unroutable(message)) => {
                assert!(message.contains("tasks.extract.jira"), "{message}")
            }
            other => panic!("expected Unroutable, got {other:?}"),
        }
        // Other routes are unaffected, and the publishing channel survived.
        broker.publish(&extract(Source::Github)).await.unwrap();
        assert_eq!(broker.queue_depth("tasks.extract.github").await.unwrap(), 1);
        // Consuming the route redeclares its queue.
        let _stream = broker.consume_tasks(&[route(Source::Jira)]).await.unwrap();
        broker.publish(&extract(Source::Jira)).await.unwrap();
    })
    .await;
}

/// Delivered within [delay, tier + slack], measured from the publish.
async fn delivered_after(
    broker: &RabbitBroker,
    stream: &mut Box<dyn DeliveryStream>,
    t: &TaskEnvelope,
    delay: Duration,
) -> Duration {
    let start = Instant::now();
    broker.publish_delayed(t, delay).await.unwrap();
    let d = expect_delivery(stream, "the delayed task").await;
    let waited = start.elapsed();
    assert_eq!(TaskEnvelope::decode(&d.body).unwrap(), *t);
    d.ack().await.unwrap();
    waited
}

const SLACK: Duration = Duration::from_millis(700);

#[tokio::test]
async fn delays_wait_in_the_smallest_covering_tier_and_keep_their_jitter() {
    // Tiers 1 s, 3 s, 10 s.
    with_broker(common::config(), |broker| async move {
        let mut stream = broker
            .consume_tasks(&[route(Source::Jenkins)])
            .await
            .unwrap();
        for (delay, tier) in [(300, 1000), (1000, 1000), (1700, 3000)] {
            let (delay, tier) = (Duration::from_millis(delay), Duration::from_millis(tier));
            let waited =
                delivered_after(&broker, &mut stream, &extract(Source::Jenkins), delay).await;
            assert!(
                waited >= delay && waited <= delay.min(tier) + SLACK,
                "a {delay:?} delay (tier {tier:?}) took {waited:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn head_of_line_blocking_in_a_tier_is_bounded_by_the_tier() {
    with_broker(common::config(), |broker| async move {
        let mut stream = broker
            .consume_tasks(&[route(Source::Github)])
            .await
            .unwrap();
        let (slow, fast) = (extract(Source::Github), extract(Source::Github));
        let start = Instant::now();
        // Both in the 3 s tier; the later, shorter one waits behind the first.
        broker
            .publish_delayed(&slow, Duration::from_millis(2500))
            .await
            .unwrap();
        broker
            .publish_delayed(&fast, Duration::from_millis(1200))
            .await
            .unwrap();
        for _ in 0..2 {
            let d = expect_delivery(&mut stream, "a delayed task").await;
            let waited = start.elapsed();
            assert!(
                waited >= Duration::from_millis(1200) && waited <= Duration::from_secs(3) + SLACK,
                "delivered after {waited:?}, outside [1.2 s, tier 3 s + slack]"
            );
            d.ack().await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn delays_beyond_the_largest_tier_are_capped_by_it() {
    let config = RabbitConfig {
        wait_tiers: vec![Duration::from_millis(200), Duration::from_millis(600)],
        ..common::config()
    };
    with_broker(config, |broker| async move {
        let mut stream = broker.consume_tasks(&[route(Source::Jira)]).await.unwrap();
        let waited = delivered_after(
            &broker,
            &mut stream,
            &extract(Source::Jira),
            Duration::from_secs(30),
        )
        .await;
        assert!(
            waited >= Duration::from_millis(600) && waited <= Duration::from_millis(600) + SLACK,
            "a delay beyond the largest tier (600 ms) took {waited:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn redeclaring_the_topology_is_idempotent_and_mismatches_are_explained() {
    let config = common::config();
    with_broker(config.clone(), move |first| async move {
        first.publish(&extract(Source::Github)).await.unwrap();
        let second = RabbitBroker::connect(config.clone())
            .await
            .expect("same settings redeclare");
        assert_eq!(
            second.queue_depth("tasks.extract.github").await.unwrap(),
            1,
            "nothing was lost"
        );
        second.close().await.unwrap();

        let other_limit = RabbitConfig {
            delivery_limit: config.delivery_limit + 1,
            ..config.clone()
        };
        match RabbitBroker::connect(other_limit).await {
            Err(BrokerError::Unavailable(message)) => {
                assert!(message.contains("PRECONDITION_FAILED"), "{message}");
                assert!(message.contains("delivery_limit"), "{message}");
            }
            other => panic!("expected a precondition failure, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn queue_depth_counts_ready_messages_and_names_missing_queues() {
    with_broker(common::config(), |broker| async move {
        assert_eq!(broker.queue_depth(DEAD_LETTER_QUEUE).await.unwrap(), 0);
        broker.publish(&task(Stage::Aggregate, None)).await.unwrap();
        broker.publish(&task(Stage::Aggregate, None)).await.unwrap();
        assert_eq!(broker.queue_depth("tasks.aggregate").await.unwrap(), 2);
        match broker.queue_depth("no.such.queue").await {
            Err(BrokerError::Unroutable(message)) => {
                assert!(message.contains("no.such.queue"), "{message}")
            }
            other => panic!("expected Unroutable, got {other:?}"),
        }
        // The failed passive declare did not break the broker.
        broker.publish(&task(Stage::Aggregate, None)).await.unwrap();
        assert_eq!(broker.queue_depth("tasks.aggregate").await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn string_headers_reach_the_delivery() {
    with_broker(common::config(), |broker| async move {
        let (connection, channel) = raw_channel().await;
        let mut headers = lapin::types::FieldTable::default();
        headers.insert(
            "traceparent".into(),
            lapin::types::AMQPValue::LongString(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            ),
        );
        headers.insert("x-count".into(), lapin::types::AMQPValue::LongLongInt(3));
        let t = extract(Source::Github);
        channel
            .basic_publish(
                format!("{}.tasks", broker.config().prefix).as_str().into(),
                "tasks.extract.github".into(),
                lapin::options::BasicPublishOptions::default(),
                &t.encode(),
                lapin::BasicProperties::default().with_headers(headers),
            )
            .await
            .unwrap();
        let mut stream = broker
            .consume_tasks(&[route(Source::Github)])
            .await
            .unwrap();
        let d = expect_delivery(&mut stream, "the task").await;
        assert_eq!(
            d.headers.get("traceparent").map(String::as_str),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
        assert!(
            !d.headers.contains_key("x-count"),
            "only string headers are kept"
        );
        d.ack().await.unwrap();
        let _ = connection.close(200, "done".into()).await;
    })
    .await;
}

#[tokio::test]
async fn connecting_to_nothing_fails_fast_naming_the_url() {
    if common::skip() {
        return;
    }
    let config = RabbitConfig {
        url: "amqp://guest:s3cret@127.0.0.1:1/%2f".into(),
        ..common::config()
    };
    let start = Instant::now();
    let error = RabbitBroker::connect(config).await.unwrap_err().to_string();
    assert!(start.elapsed() < PATIENCE);
    assert!(error.contains("127.0.0.1:1"), "{error}");
    assert!(error.contains("is RabbitMQ running"), "{error}");
    assert!(!error.contains("s3cret"), "the password leaked: {error}");
}

mod proxy {
    //! A TCP proxy in front of RabbitMQ that can cut every connection and
    //! refuse new ones for a while: a broker restart, as the client sees it.

    use std::net::SocketAddr;
    use std::sync::Arc;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    #[derive(Debug, Clone)]
    pub struct Proxy {
        pub addr: SocketAddr,
        /// Bumped to cut every open connection.
        generation: Arc<watch::Sender<u64>>,
        /// While false, new connections are closed at once.
        up: Arc<watch::Sender<bool>>,
    }

    impl Proxy {
        pub async fn start(upstream: SocketAddr) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let generation = Arc::new(watch::channel(0u64).0);
            let up = Arc::new(watch::channel(true).0);
            let (g, u) = (Arc::clone(&generation), Arc::clone(&up));
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    if !*u.borrow() {
                        drop(client);
                        continue;
                    }
                    let mut cut = g.subscribe();
                    cut.borrow_and_update();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.changed() => {}
                        }
                    });
                }
            });
            Proxy {
                addr,
                generation,
                up,
            }
        }

        /// Cut every connection; refuse new ones until `restore`.
        pub fn outage(&self) {
            self.up.send_replace(false);
            self.generation.send_modify(|g| *g += 1);
        }

        pub fn restore(&self) {
            self.up.send_replace(true);
        }
    }
}

fn through(proxy: &proxy::Proxy, config: &RabbitConfig) -> RabbitConfig {
    RabbitConfig {
        url: format!("amqp://guest:guest@{}/%2f", proxy.addr),
        ..config.clone()
    }
}

#[tokio::test]
async fn a_lost_connection_is_recovered_by_publishers_and_consumers() {
    let config = common::config();
    // The direct broker declares (and finally deletes) the topology.
    with_broker(config.clone(), move |direct| async move {
        let upstream = "127.0.0.1:5672".parse().unwrap();
        let proxy = proxy::Proxy::start(upstream).await;
        let broker = RabbitBroker::connect(through(&proxy, &config))
            .await
            .unwrap();
        let mut stream = broker
            .consume_tasks(&[route(Source::Github)])
            .await
            .unwrap();
        let first = extract(Source::Github);
        broker.publish(&first).await.unwrap();
        let held = expect_delivery(&mut stream, "the first task").await;

        // The broker "restarts": connections drop, nothing answers for a while.
        proxy.outage();
        let restorer = {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                proxy.restore();
            })
        };
        // A publish during the outage retries until the broker is back.
        let second = extract(Source::Github);
        broker
            .publish(&second)
            .await
            .expect("the publish rides out the outage");
        restorer.await.unwrap();
        // The delivery from the old connection cannot be acked: harmless.
        assert!(matches!(held.ack().await, Err(BrokerError::Unavailable(_))));

        // The stream resumes on the new connection: the unacked task comes
        // back (redelivered), and the new one arrives.
        let mut seen = Vec::new();
        for _ in 0..2 {
            let d = expect_delivery(&mut stream, "tasks after the reconnect").await;
            let t = TaskEnvelope::decode(&d.body).unwrap();
            if t == first {
                assert!(d.redelivered);
            }
            seen.push(t.task_id);
            d.ack().await.unwrap();
        }
        seen.sort();
        let mut expected = vec![first.task_id, second.task_id];
        expected.sort();
        assert_eq!(seen, expected);
        expect_quiet(&mut stream, "each task once more at most").await;
        assert_eq!(direct.queue_depth("tasks.extract.github").await.unwrap(), 0);
        broker.close().await.unwrap();
        assert!(
            tokio::time::timeout(PATIENCE, stream.next())
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn a_consumer_whose_queue_is_deleted_redeclares_it_and_resumes() {
    with_broker(common::config(), |broker| async move {
        let mut stream = broker.consume_tasks(&[route(Source::Jira)]).await.unwrap();
        let waiter = tokio::spawn(async move {
            let d = stream.next().await;
            (stream, d)
        });
        let (connection, channel) = raw_channel().await;
        channel
            .queue_delete(
                broker.queue_name("tasks.extract.jira").as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await
            .unwrap();
        let _ = connection.close(200, "done".into()).await;
        // Until the stream has redeclared the queue, publishes are unroutable.
        let t = extract(Source::Jira);
        let deadline = Instant::now() + PATIENCE;
        loop {
            match broker.publish(&t).await {
                Ok(()) => break,
                Err(BrokerError::Unroutable(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("the queue never came back: {e}"),
            }
        }
        let (_stream, d) = tokio::time::timeout(PATIENCE, waiter)
            .await
            .unwrap()
            .unwrap();
        let d = d.expect("the stream resumed");
        assert_eq!(TaskEnvelope::decode(&d.body).unwrap(), t);
        d.ack().await.unwrap();
    })
    .await;
}

/// Every log line written while the guard lives, as text.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn closing_a_broker_whose_consumers_were_just_dropped_logs_no_error() {
    let config = common::config();
    let Some(broker) = common::connect_with(config.clone()).await else {
        return;
    };
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    broker.publish(&extract(Source::Github)).await.unwrap();
    let tasks = broker
        .consume_tasks(&[route(Source::Github), route(Source::Jira)])
        .await
        .unwrap();
    let events = broker.consume_events().await.unwrap();
    // The way a role exits: its streams are dropped, then the broker closed.
    drop(tasks);
    drop(events);
    broker.close().await.unwrap();
    drop(guard);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        !logs.contains("ERROR") && !logs.contains("closing the RabbitMQ connection failed"),
        "a clean close logs no error:\n{logs}"
    );
    if let Some(cleaner) = common::connect_with(config).await {
        common::cleanup(cleaner).run().await;
    }
}
