//! Turning what RabbitMQ dead-lettered by itself into [`DeadLetter`]s.
//!
//! Two kinds of message reach the dead-letter queue: JSON dead letters that
//! workers published, and raw task bodies that RabbitMQ moved there because
//! they exceeded the stage queue's `x-delivery-limit` (a worker kept crashing
//! on them). Consumers only ever see the first kind: the second is wrapped
//! here, with a reason taken from the `x-death` headers.

use chrono::{DateTime, TimeZone, Utc};
use dorafleet_core::{AttemptRecord, DeadLetter, ErrorClass, TaskEnvelope};
use lapin::types::{AMQPValue, FieldTable};
use uuid::Uuid;

/// Who the wrapped letters name as the failing worker.
const WORKER: &str = "rabbitmq";

/// The body as a JSON dead letter: unchanged when it already is one.
pub(crate) fn as_dead_letter(
    body: Vec<u8>,
    headers: Option<&FieldTable>,
    delivery_limit: u32,
) -> Vec<u8> {
    if serde_json::from_slice::<DeadLetter>(&body).is_ok() {
        return body;
    }
    let death = Death::from_headers(headers);
    let reason = death.reason(delivery_limit);
    let letter = wrap(&body, &death, reason, headers);
    serde_json::to_vec(&letter).unwrap_or(body)
}

fn wrap(body: &[u8], death: &Death, reason: String, headers: Option<&FieldTable>) -> DeadLetter {
    let at = death.time.unwrap_or_else(Utc::now);
    let mut letter = match TaskEnvelope::decode(body) {
        Ok(task) => DeadLetter::for_task(
            &task,
            AttemptRecord {
                attempt: task.attempt,
                at,
                worker: WORKER.into(),
                class: ErrorClass::Permanent,
                message: reason.clone(),
                progressed: false,
            },
            reason,
        ),
        Err(e) => {
            let mut letter = DeadLetter::for_poison(
                body,
                format!("{reason}; the body is not a task: {e}"),
                WORKER,
            );
            letter.first_failed_at = at;
            letter.last_failed_at = at;
            for attempt in &mut letter.attempts {
                attempt.at = at;
            }
            letter
        }
    };
    // The same message redelivered (the archiver crashed before acking) must
    // become the same letter, so the id is derived from the message, not drawn.
    letter.id = stable_id(body, at);
    letter.trace_id = header_str(headers, "traceparent").and_then(|tp| trace_id(&tp));
    letter
}

/// What the `x-death` headers say about the (first) dead-lettering.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Death {
    pub reason: Option<String>,
    pub queue: Option<String>,
    pub count: Option<i64>,
    pub time: Option<DateTime<Utc>>,
    /// Quorum queues count failed deliveries in `x-delivery-count`.
    pub delivery_count: Option<i64>,
}

impl Death {
    pub(crate) fn from_headers(headers: Option<&FieldTable>) -> Death {
        let Some(headers) = headers else {
            return Death::default();
        };
        let mut death = Death {
            reason: header_str(Some(headers), "x-first-death-reason"),
            queue: header_str(Some(headers), "x-first-death-queue"),
            delivery_count: headers.inner().get("x-delivery-count").and_then(as_int),
            ..Death::default()
        };
        let first = headers
            .inner()
            .get("x-death")
            .and_then(|v| match v {
                AMQPValue::FieldArray(entries) => entries.as_slice().first(),
                _ => None,
            })
            .and_then(|entry| match entry {
                AMQPValue::FieldTable(table) => Some(table),
                _ => None,
            });
        if let Some(entry) = first {
            let get = |k: &str| entry.inner().get(k);
            death.reason = death.reason.or_else(|| get("reason").and_then(as_string));
            death.queue = death.queue.or_else(|| get("queue").and_then(as_string));
            death.count = get("count").and_then(as_int);
            death.time = get("time").and_then(|v| match v {
                AMQPValue::Timestamp(secs) => i64::try_from(*secs)
                    .ok()
                    .and_then(|s| Utc.timestamp_opt(s, 0).single()),
                _ => None,
            });
        }
        death
    }

    pub(crate) fn reason(&self, delivery_limit: u32) -> String {
        let queue = self.queue.as_deref().unwrap_or("its queue");
        match self.reason.as_deref() {
            Some("delivery_limit") => {
                // RabbitMQ 3.10 drops `x-delivery-count` when it dead-letters;
                // past the limit means limit + 1 deliveries.
                let times = self
                    .delivery_count
                    .map_or(u64::from(delivery_limit) + 1, |n| {
                        u64::try_from(n + 1).unwrap_or(0)
                    });
                format!(
                    "delivery limit exceeded: the message was delivered {times} times from {queue} \
                     without being acked (a worker crashing on it?); x-delivery-limit is {delivery_limit}"
                )
            }
            Some("rejected") => format!("rejected by a consumer of {queue} without requeueing"),
            Some("expired") => format!("expired in {queue} (message TTL)"),
            Some("maxlen") => format!("dropped from {queue}: the queue was over its length limit"),
            Some(other) => format!("dead-lettered by RabbitMQ from {queue} (reason: {other})"),
            None => "dead-lettered by RabbitMQ (no x-death header: published straight to the \
                     dead-letter exchange?)"
                .into(),
        }
    }
}

fn as_string(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn as_int(v: &AMQPValue) -> Option<i64> {
    match *v {
        AMQPValue::ShortShortInt(n) => Some(n.into()),
        AMQPValue::ShortShortUInt(n) => Some(n.into()),
        AMQPValue::ShortInt(n) => Some(n.into()),
        AMQPValue::ShortUInt(n) => Some(n.into()),
        AMQPValue::LongInt(n) => Some(n.into()),
        AMQPValue::LongUInt(n) => Some(n.into()),
        AMQPValue::LongLongInt(n) => Some(n),
        _ => None,
    }
}

pub(crate) fn header_str(headers: Option<&FieldTable>, key: &str) -> Option<String> {
    headers?.inner().get(key).and_then(as_string)
}

/// String-valued headers, as [`crate::Delivery::headers`] carries them.
pub(crate) fn string_headers(
    headers: Option<&FieldTable>,
) -> std::collections::BTreeMap<String, String> {
    headers
        .map(|table| {
            table
                .inner()
                .iter()
                .filter_map(|(k, v)| as_string(v).map(|v| (k.as_str().to_owned(), v)))
                .collect()
        })
        .unwrap_or_default()
}

/// The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn trace_id(traceparent: &str) -> Option<String> {
    let id = traceparent.split('-').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

/// A UUIDv7 whose time is the dead-lettering and whose "random" bits hash the body.
fn stable_id(body: &[u8], at: DateTime<Utc>) -> Uuid {
    let hash = fnv1a_128(body);
    let mut random = [0u8; 10];
    random.copy_from_slice(&hash.to_be_bytes()[..10]);
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{FieldArray, LongString};

    fn headers(reason: &str, delivery_count: i64) -> FieldTable {
        let mut entry = FieldTable::default();
        entry.insert(
            "reason".into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        entry.insert(
            "queue".into(),
            AMQPValue::LongString(LongString::from("p.tasks.normalize")),
        );
        entry.insert("count".into(), AMQPValue::LongLongInt(1));
        entry.insert("time".into(), AMQPValue::Timestamp(1_700_000_000));
        let mut table = FieldTable::default();
        table.insert(
            "x-death".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(entry)])),
        );
        table.insert(
            "x-delivery-count".into(),
            AMQPValue::LongLongInt(delivery_count),
        );
        table.insert(
            "traceparent".into(),
            AMQPValue::LongString(LongString::from(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )),
        );
        table
    }

    #[test]
    fn a_poison_body_over_the_delivery_limit_becomes_a_dead_letter_naming_the_limit() {
        let h = headers("delivery_limit", 3);
        let body = as_dead_letter(b"not json".to_vec(), Some(&h), 3);
        let letter: DeadLetter = serde_json::from_slice(&body).unwrap();
        assert!(letter.envelope.is_none());
        assert_eq!(letter.raw_body.as_deref(), Some("not json"));
        assert!(
            letter.reason.contains("delivery limit exceeded"),
            "{}",
            letter.reason
        );
        assert!(
            letter.reason.contains("delivered 4 times"),
            "{}",
            letter.reason
        );
        assert!(
            letter.reason.contains("p.tasks.normalize"),
            "{}",
            letter.reason
        );
        assert_eq!(
            letter.trace_id.as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(letter.first_failed_at.timestamp(), 1_700_000_000);
        // Redelivered, it is the same letter.
        let again: DeadLetter =
            serde_json::from_slice(&as_dead_letter(b"not json".to_vec(), Some(&h), 3)).unwrap();
        assert_eq!(again.id, letter.id);
        assert_eq!(letter.id.get_version_num(), 7);
    }

    #[test]
    fn a_json_dead_letter_passes_through_unchanged() {
        let letter = DeadLetter::for_poison(b"x", "bad".into(), "w");
        let body = serde_json::to_vec(&letter).unwrap();
        assert_eq!(as_dead_letter(body.clone(), None, 3), body);
    }

    #[test]
    fn without_headers_the_reason_says_so() {
        assert!(
            Death::from_headers(None)
                .reason(3)
                .contains("no x-death header")
        );
    }
}
