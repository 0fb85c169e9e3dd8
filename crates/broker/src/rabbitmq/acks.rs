//! Acknowledgements batched per channel: one `basic.ack` with `multiple`
//! settles every delivery finished since the last one.
//!
//! One frame per ack is what held consumers back: a worker or the
//! coordinator finishing thousands of deliveries a second spent a frame, a
//! write and a round of RabbitMQ's bookkeeping on each. Deliveries of a
//! channel finish nearly in order, so an ack registered while a flush is on
//! the wire simply rides in the next one (group commit, no timer).
//!
//! What keeps a batch from ever settling a message nobody handled:
//! - a multiple ack up to tag W goes out only when every tag up to W was
//!   handed out by the stream and settled here. lapin may still hold a later
//!   delivery of another queue of the same channel in its buffer; its tag is
//!   not registered, so no batch sweeps past it;
//! - W is itself an outstanding tag: RabbitMQ closes a channel acked with a
//!   tag it does not know;
//! - the frames of a channel go out from one flush at a time, requeues
//!   (nacks) first, so a multiple ack never overtakes a requeue it would cover;
//!   and they go through each delivery's lapin `Acker`, the queue lapin also
//!   sends a dropped consumer's cancel through, so a requeue never overtakes
//!   the cancel of the consumer it came from (RabbitMQ would deliver it to
//!   that consumer again, and count one more failed delivery);
//! - deliveries that finished behind a slow one are acked one by one rather
//!   than held: a long task never holds back the acks, and so the prefetch,
//!   of the tasks behind it.
//!
//! `ack` registers and returns; the flush runs on a spawned task. A process
//! that dies before the flush has its deliveries redelivered, which every
//! consumer already tolerates (it is the same as dying just before acking).
//! Closing the broker flushes every channel before closing it, so a graceful
//! drain loses no ack.

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::{debug, warn};

/// What became of a delivery tag above the settled floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Handed out, not settled yet.
    Held,
    /// Acked by its consumer, not yet on the wire.
    Ack,
    /// To be requeued, not yet on the wire.
    Nack,
    /// Settled on the wire (a single ack or a nack).
    Sent,
}

#[derive(Debug, Default)]
struct Tags {
    /// Every tag up to and including this one is settled on the wire.
    floor: u64,
    /// Tags above the floor that the stream handed out.
    above: BTreeMap<u64, Fate>,
}

#[derive(Debug, Default)]
struct State {
    tags: Tags,
    /// The lapin acker of every delivery not yet settled on the wire.
    ackers: HashMap<u64, lapin::Acker>,
}

/// A planned flush with the ackers that send it.
struct Frames {
    nacks: Vec<lapin::Acker>,
    multiple: Option<lapin::Acker>,
    singles: Vec<lapin::Acker>,
}

/// The frames one flush sends, in order.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    nacks: Vec<u64>,
    /// One ack with `multiple` up to this tag.
    multiple: Option<u64>,
    singles: Vec<u64>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.nacks.is_empty() && self.multiple.is_none() && self.singles.is_empty()
    }
}

impl Tags {
    /// Decide the next flush and record its frames as sent (they go out
    /// before any later flush is planned).
    fn plan(&mut self) -> Plan {
        let mut plan = Plan::default();
        for (&tag, fate) in &mut self.above {
            if *fate == Fate::Nack {
                plan.nacks.push(tag);
                *fate = Fate::Sent;
            }
        }
        // Walk up from the floor over settled tags: the last ack reached is
        // what one multiple ack may cover.
        let mut top = self.floor;
        while let Some(&fate) = self.above.get(&(top + 1)) {
            match fate {
                Fate::Ack => plan.multiple = Some(top + 1),
                Fate::Sent => {}
                Fate::Held | Fate::Nack => break,
            }
            top += 1;
        }
        self.above = self.above.split_off(&(top + 1));
        self.floor = top;
        for (&tag, fate) in &mut self.above {
            if *fate == Fate::Ack {
                plan.singles.push(tag);
                *fate = Fate::Sent;
            }
        }
        plan
    }
}

/// The acks and requeues of one consumer channel, sent in batches.
#[derive(Debug)]
pub(crate) struct AckBatch {
    channel: Channel,
    state: Mutex<State>,
    /// Held while a flush is on the wire: one flush at a time keeps the
    /// channel's frames in the order they were planned.
    sending: tokio::sync::Mutex<()>,
    /// A flush task is spawned and has not planned yet: it will see
    /// whatever is registered before it does.
    scheduled: AtomicBool,
}

impl AckBatch {
    pub(crate) fn new(channel: Channel) -> Arc<Self> {
        Arc::new(AckBatch {
            channel,
            state: Mutex::new(State::default()),
            sending: tokio::sync::Mutex::new(()),
            scheduled: AtomicBool::new(false),
        })
    }

    /// Whether the channel can still carry an ack.
    pub(crate) fn usable(&self) -> bool {
        self.channel.status().connected()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated
        // in a way that acks too much: every update is one insert or one plan.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream handed out the delivery with this tag.
    pub(crate) fn delivered(&self, tag: u64, acker: lapin::Acker) {
        let mut state = self.state();
        if tag > state.tags.floor {
            state.tags.above.insert(tag, Fate::Held);
            state.ackers.insert(tag, acker);
        }
    }

    /// Its consumer handled the delivery: ack it with the next flush.
    pub(crate) fn ack(self: &Arc<Self>, tag: u64) {
        self.settle(tag, Fate::Ack);
    }

    /// Requeue the delivery with the next flush.
    pub(crate) fn nack(self: &Arc<Self>, tag: u64) {
        self.settle(tag, Fate::Nack);
    }

    fn settle(self: &Arc<Self>, tag: u64, fate: Fate) {
        if let Some(held) = self.state().tags.above.get_mut(&tag)
            && *held == Fate::Held
        {
            *held = fate;
        }
        self.schedule();
    }

    /// Make sure a flush runs after this call (spawned, unless one is
    /// already spawned and has not planned yet). Outside a runtime nothing
    /// can be sent: RabbitMQ requeues the deliveries when the channel closes.
    fn schedule(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let batch = Arc::clone(self);
                runtime.spawn(async move { batch.flush().await });
            }
            Err(_) => {
                self.scheduled.store(false, Ordering::Release);
                debug!(
                    "ack registered outside a runtime; RabbitMQ requeues it when the channel closes"
                );
            }
        }
    }

    /// Send everything settled so far, and whatever is settled while it is
    /// sent. Returns once it is all on the wire (or the channel is gone, when
    /// RabbitMQ requeues whatever was not acked).
    pub(crate) async fn flush(&self) {
        let _sending = self.sending.lock().await;
        loop {
            self.scheduled.store(false, Ordering::Release);
            let frames = {
                let mut state = self.state();
                let plan = state.tags.plan();
                if plan.is_empty() {
                    return;
                }
                let mut take = |tag: &u64| state.ackers.remove(tag);
                let frames = Frames {
                    nacks: plan.nacks.iter().filter_map(&mut take).collect(),
                    multiple: plan.multiple.as_ref().and_then(&mut take),
                    singles: plan.singles.iter().filter_map(&mut take).collect(),
                };
                // What the multiple ack sweeps up needs no acker any more.
                let floor = state.tags.floor;
                state.ackers.retain(|&tag, _| tag > floor);
                frames
            };
            if let Err(e) = self.send(frames).await {
                if self.usable() {
                    warn!(error = %e, "sending acks to RabbitMQ failed; the deliveries will be redelivered");
                } else {
                    debug!(error = %e, "acks not sent: the channel is closed and RabbitMQ requeues the deliveries");
                }
                return;
            }
        }
    }

    async fn send(&self, frames: Frames) -> Result<(), String> {
        let sent = |r: lapin::Result<bool>| match r {
            Ok(true) => Ok(()),
            Ok(false) => Err("the channel is closed".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let requeue = BasicNackOptions {
            requeue: true,
            multiple: false,
        };
        for acker in &frames.nacks {
            sent(acker.nack(requeue).await)?;
        }
        if let Some(acker) = &frames.multiple {
            sent(acker.ack(BasicAckOptions { multiple: true }).await)?;
        }
        for acker in &frames.singles {
            sent(acker.ack(BasicAckOptions::default()).await)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(fates: &[(u64, Fate)]) -> Tags {
        Tags {
            floor: 0,
            above: fates.iter().copied().collect(),
        }
    }

    #[test]
    fn deliveries_finished_in_order_are_settled_by_one_multiple_ack() {
        let mut t = tags(&[(1, Fate::Ack), (2, Fate::Ack), (3, Fate::Ack)]);
        let plan = t.plan();
        assert_eq!(plan.multiple, Some(3));
        assert!(plan.singles.is_empty() && plan.nacks.is_empty());
        assert_eq!(t.floor, 3);
        assert!(t.above.is_empty());
    }

    #[test]
    fn a_delivery_still_running_holds_the_multiple_ack_below_it_and_the_rest_go_singly() {
        let mut t = tags(&[
            (1, Fate::Ack),
            (2, Fate::Held),
            (3, Fate::Ack),
            (4, Fate::Ack),
        ]);
        let plan = t.plan();
        assert_eq!(plan.multiple, Some(1));
        assert_eq!(plan.singles, vec![3, 4]);
        assert_eq!(t.floor, 1);
        // Once the slow one is acked, the floor moves past the singles.
        t.above.insert(2, Fate::Ack);
        let plan = t.plan();
        assert_eq!(plan.multiple, Some(2));
        assert!(plan.singles.is_empty());
        assert_eq!(t.floor, 4);
    }

    #[test]
    fn a_tag_the_stream_has_not_handed_out_is_never_swept_up() {
        // Tag 2 is still in lapin's buffer of another queue of the channel.
        let mut t = tags(&[(1, Fate::Ack), (3, Fate::Ack)]);
        let plan = t.plan();
        assert_eq!(plan.multiple, Some(1));
        assert_eq!(plan.singles, vec![3]);
        assert_eq!(t.floor, 1);
    }

    #[test]
    fn requeues_go_out_before_a_multiple_ack_that_walks_over_them() {
        let mut t = tags(&[(1, Fate::Nack), (2, Fate::Ack)]);
        let plan = t.plan();
        assert_eq!(plan.nacks, vec![1]);
        assert_eq!(plan.multiple, Some(2));
        assert_eq!(t.floor, 2);
    }

    #[test]
    fn a_multiple_ack_names_an_outstanding_tag_never_one_already_sent() {
        let mut t = tags(&[(1, Fate::Held), (2, Fate::Ack)]);
        assert_eq!(t.plan().singles, vec![2]);
        t.above.insert(1, Fate::Nack);
        let plan = t.plan();
        assert_eq!(plan.nacks, vec![1]);
        assert_eq!(
            plan.multiple, None,
            "tag 2 is already acked: nothing to name"
        );
        assert_eq!(t.floor, 2);
        assert!(t.plan().is_empty());
    }
}
