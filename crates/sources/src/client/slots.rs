//! The fleet's request slots as a client takes them, and requests that leave
//! their slot late.
//!
//! The fleet's slots are spaced a little wider than the budget needs: `N`
//! slots span the second plus a margin (the longest round trip plus
//! lateness of the last second's requests, see `RateGate::interval`). A
//! request that leaves later than its slot uses up that margin, and one
//! later than the whole margin, followed a second later by one on time,
//! puts `N + 1` requests into one second. So a request still waiting past
//! the margin (a timer firing late on a starved machine, a token minted
//! meanwhile) leaves that slot unused and takes a later one. Lateness the
//! last second already saw is inside the margin, so only a spike beyond it
//! costs a slot.

use super::SourceClient;
use chrono::{DateTime, Utc};
use dorafleet_core::TaskError;
use std::time::Duration;

/// The most slots one request gives up, so that a starved machine still
/// sends something.
const RESLOTS: u32 = 3;

/// A fleet slot, and how late after it a request may still leave.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    at: DateTime<Utc>,
    slack: Duration,
    /// How late the request was for the slots it gave up before this one.
    given_up_late: Duration,
}

impl Slot {
    /// How late after this slot a request leaving now is.
    fn late(&self) -> Duration {
        (Utc::now() - self.at).to_std().unwrap_or_default()
    }

    /// The lateness the rate gate's margin learns from a request leaving
    /// now: the worst of its slots, so that a spike that cost a slot widens
    /// the spacing of the next second's slots.
    pub(super) fn late_for_margin(&self) -> Duration {
        self.late().max(self.given_up_late)
    }
}

impl SourceClient {
    /// Waits for the next slot of member `index`'s fleet schedule, if the
    /// client shares one; `None` without a fleet budget.
    pub(super) async fn wait_for_slot(&self, index: usize) -> Result<Option<Slot>, TaskError> {
        let inner = &*self.inner;
        let Some(fleet) = inner.fleet.get() else {
            return Ok(None);
        };
        let credential = inner.pool.get(index);
        let slack = credential.gate.margin();
        let at = fleet
            .reserve(&credential.schedule, credential.gate.interval())
            .await?;
        let until_slot = (at - Utc::now()).to_std().unwrap_or_default();
        inner.pool.slot_taken(index, until_slot);
        tokio::time::sleep(until_slot).await;
        Ok(Some(Slot {
            at,
            slack,
            given_up_late: Duration::ZERO,
        }))
    }

    /// `slot`, or a later one of member `index` when a request leaving now
    /// would be too late for it (see the module docs); with the time spent
    /// waiting for the later one.
    pub(super) async fn keep_to_slot(
        &self,
        index: usize,
        mut slot: Option<Slot>,
    ) -> Result<(Option<Slot>, Duration), TaskError> {
        let started = tokio::time::Instant::now();
        let mut reslots = 0;
        while let Some(current) = slot {
            let late = current.late();
            if late <= current.slack || reslots == RESLOTS {
                break;
            }
            tracing::debug!(source = %self.inner.source,
                credential = %self.inner.pool.get(index).name,
                late_ms = late.as_millis() as u64, "left a fleet slot unused: too late for it");
            slot = self.wait_for_slot(index).await?.map(|next| Slot {
                given_up_late: late.max(current.given_up_late),
                ..next
            });
            reslots += 1;
        }
        Ok((slot, started.elapsed()))
    }
}
