//! Fetching ahead: a crawl keeps up to `sources.<source>.requests_in_flight_per_task`
//! requests in flight while it stores and checks the pages already answered.
//!
//! Why: a GitHub repository's crawl is mostly child lists, one request per
//! pull request (its commits) and per deployment (its statuses), all known
//! as soon as the list page naming them is read. Fetched one after another,
//! a task's time is the sum of every round trip (150 of them for a busy
//! repository), so a worker waits on the network far more than it works.
//!
//! What stays as it was: pages are still validated, stored and
//! checkpointed in the crawl's order (answers that arrived together in one
//! write), so a checkpoint still names exactly the pages stored before it
//! and a resumed attempt starts at the first request not stored. Only requests already in the queue are
//! fetched ahead, and the queue only grows at its back (a page's follow-ups,
//! its next page included, go behind everything queued), so what is fetched
//! ahead is what the crawl would have asked for next anyway: the next page
//! of one list is never requested before the page that links to it is read.
//! Every request still takes its slot of the fleet's budget when it is sent.
//!
//! An attempt asks one request at a time until its first page is stored: a
//! server that refuses the credentials or answers garbage is asked once,
//! not once per request in flight. A list request the crawl already fetched
//! (a cycle) is never fetched ahead: the crawl fails on it when it comes to
//! the front, and nothing behind it is sent either.
//!
//! When a request fails, the attempt waits for the requests in flight
//! behind it and stores what they brought back before it ends (see
//! `answer`), so the next attempt asks again only for what failed. An
//! attempt that is stopped (its deadline, its delivery lost) drops the
//! answers still in flight, at most `in flight − 1`, and the next attempt
//! asks for them again.

use dorafleet_core::TaskError;
use dorafleet_sources::{FetchedPage, PageRequest};
use dorafleet_warehouse::BronzePage;
use std::collections::VecDeque;
use tokio::task::JoinHandle;

/// A request's answer, with the stored page it was revalidated against.
pub(super) type Answer = Result<(Option<BronzePage>, FetchedPage), TaskError>;

/// The fetches running for the front of a crawl's queue, in its order.
/// Dropping it (the attempt failed or was stopped) aborts them.
pub(super) struct FetchAhead {
    /// The limit once the attempt has stored a page.
    limit: usize,
    /// The limit now: 1 until then.
    in_flight: usize,
    fetches: VecDeque<JoinHandle<Answer>>,
}

impl FetchAhead {
    /// At most `limit` requests at a time (at least 1), once a page is
    /// stored (see [`widen`](Self::widen)); one until then.
    pub(super) fn new(limit: usize) -> Self {
        FetchAhead {
            limit: limit.max(1),
            in_flight: 1,
            fetches: VecDeque::new(),
        }
    }

    /// The attempt stored a page: the source answers, so fetch ahead.
    pub(super) fn widen(&mut self) {
        self.in_flight = self.limit;
    }

    /// Starts, with `fetch`, the requests at the front of `pending` that
    /// are not running yet, up to the limit in flight and never more than
    /// `room` in all (the pages the task may still store). Stops at the
    /// first request behind the front that `may_start` refuses (a cycle):
    /// it and what follows it wait until they come to the front.
    pub(super) fn top_up(
        &mut self,
        pending: &VecDeque<PageRequest>,
        room: usize,
        may_start: impl Fn(&PageRequest) -> bool,
        mut fetch: impl FnMut(PageRequest) -> JoinHandle<Answer>,
    ) {
        let wanted = self.in_flight.min(pending.len()).min(room);
        for (i, request) in pending.iter().enumerate().take(wanted) {
            if i < self.fetches.len() {
                continue;
            }
            // The front request always starts: the crawl has checked it.
            if i > 0 && !may_start(request) {
                break;
            }
            self.fetches.push_back(fetch(request.clone()));
        }
    }

    /// Whether the answer to the front request of the queue has already
    /// arrived (its fetch is done): taking it now waits for nothing.
    pub(super) fn front_arrived(&self) -> bool {
        self.fetches.front().is_some_and(|f| f.is_finished())
    }

    /// The answer to the front request of the queue (started by
    /// [`top_up`](Self::top_up)); the caller then pops that request.
    pub(super) async fn next(&mut self) -> Answer {
        let Some(fetch) = self.fetches.pop_front() else {
            return Err(TaskError::permanent(
                "the crawl asked for an answer it never requested (a bug in fetching ahead)",
            ));
        };
        fetch.await.unwrap_or_else(|e| {
            Err(TaskError::permanent_from(
                "a request of the crawl failed unexpectedly (its fetch panicked or was aborted)",
                e,
            ))
        })
    }
}

impl FetchAhead {
    /// Waits for every fetch still running, in the queue's order (the
    /// attempt is ending: see `ExtractHandler::keep_what_arrived`).
    pub(super) async fn drain(&mut self) -> Vec<Answer> {
        let mut answers = Vec::with_capacity(self.fetches.len());
        while !self.fetches.is_empty() {
            answers.push(self.next().await);
        }
        answers
    }
}

impl Drop for FetchAhead {
    fn drop(&mut self) {
        for fetch in &self.fetches {
            fetch.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn requests(n: u32) -> VecDeque<PageRequest> {
        (1..=n)
            .map(|i| PageRequest {
                endpoint: "pull_commits".into(),
                url: format!("/repos/o/r/pulls/{i}/commits"),
                page_no: 1,
                json_body: None,
            })
            .collect()
    }

    fn page(url: &str) -> FetchedPage {
        FetchedPage {
            request: requests(1).pop_front().unwrap(),
            status: 200,
            body: url.to_owned(),
            fetched_at: chrono::Utc::now(),
            link_next: None,
            etag: None,
            last_modified: None,
            rate_limit_wait: std::time::Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn answers_come_back_in_the_queue_order_whatever_order_they_finish_in() {
        let mut pending = requests(5);
        let mut ahead = FetchAhead::new(3);
        let mut bodies = Vec::new();
        while !pending.is_empty() {
            ahead.widen();
            ahead.top_up(
                &pending,
                usize::MAX,
                |_| true,
                |request| {
                    tokio::spawn(async move {
                        // Earlier requests answer later.
                        let n: u64 = request.url.split('/').nth(5).unwrap().parse().unwrap();
                        tokio::time::sleep(std::time::Duration::from_millis(20 / n)).await;
                        Ok((None, page(&request.url)))
                    })
                },
            );
            let (_, answer) = ahead.next().await.unwrap();
            bodies.push(answer.body);
            pending.pop_front();
        }
        let expected: Vec<String> = requests(5).into_iter().map(|r| r.url).collect();
        assert_eq!(bodies, expected);
    }

    #[tokio::test]
    async fn no_more_than_the_limit_and_the_room_left_are_ever_started() {
        let pending = requests(10);
        let started = Arc::new(AtomicUsize::new(0));
        let mut ahead = FetchAhead::new(4);
        ahead.widen();
        let start = |started: &Arc<AtomicUsize>| {
            let started = Arc::clone(started);
            move |request: PageRequest| {
                started.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move { Ok((None, page(&request.url))) })
            }
        };
        ahead.top_up(&pending, 2, |_| true, start(&started));
        assert_eq!(started.load(Ordering::SeqCst), 2, "room for 2 pages");
        ahead.top_up(&pending, usize::MAX, |_| true, start(&started));
        assert_eq!(started.load(Ordering::SeqCst), 4, "4 in flight at most");
        ahead.top_up(&pending, usize::MAX, |_| true, start(&started));
        assert_eq!(started.load(Ordering::SeqCst), 4, "none started twice");
    }

    #[tokio::test]
    async fn one_request_at_a_time_until_a_page_is_stored_and_none_past_a_refused_one() {
        let pending = requests(5);
        let started = Arc::new(AtomicUsize::new(0));
        let fetch = |started: &Arc<AtomicUsize>| {
            let started = Arc::clone(started);
            move |request: PageRequest| {
                started.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move { Ok((None, page(&request.url))) })
            }
        };
        let mut ahead = FetchAhead::new(4);
        ahead.top_up(&pending, usize::MAX, |_| true, fetch(&started));
        assert_eq!(started.load(Ordering::SeqCst), 1, "no page stored yet");
        ahead.widen();
        let refused = pending[2].url.clone();
        ahead.top_up(&pending, usize::MAX, |r| r.url != refused, fetch(&started));
        assert_eq!(
            started.load(Ordering::SeqCst),
            2,
            "stops before the refused third"
        );
    }

    #[tokio::test]
    async fn dropping_it_stops_the_fetches_still_running() {
        let pending = requests(2);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(2);
        let mut ahead = FetchAhead::new(2);
        ahead.widen();
        ahead.top_up(
            &pending,
            usize::MAX,
            |_| true,
            |request| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    // Holds a sender until it finishes or is aborted.
                    let _tx = tx;
                    std::future::pending::<()>().await;
                    Ok((None, page(&request.url)))
                })
            },
        );
        drop(tx);
        drop(ahead);
        let closed = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await;
        assert_eq!(
            closed,
            Ok(None),
            "every fetch was aborted, dropping its sender"
        );
    }

    #[tokio::test]
    async fn the_front_has_arrived_only_once_its_fetch_is_done() {
        let pending = requests(1);
        let (answer, answered) = tokio::sync::oneshot::channel::<()>();
        let mut answered = Some(answered);
        let mut ahead = FetchAhead::new(1);
        assert!(!ahead.front_arrived(), "nothing was asked yet");
        ahead.top_up(
            &pending,
            usize::MAX,
            |_| true,
            |request| {
                let answered = answered.take().expect("one request");
                tokio::spawn(async move {
                    let _ = answered.await;
                    Ok((None, page(&request.url)))
                })
            },
        );
        tokio::task::yield_now().await;
        assert!(!ahead.front_arrived(), "the server has not answered");
        answer.send(()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !ahead.front_arrived() {
            assert!(
                std::time::Instant::now() < deadline,
                "the answer never arrived"
            );
            tokio::task::yield_now().await;
        }
        assert!(ahead.next().await.is_ok());
        assert!(
            !ahead.front_arrived(),
            "the taken answer is no longer waiting"
        );
    }
}
