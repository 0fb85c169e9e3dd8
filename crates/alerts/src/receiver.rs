//! A webhook receiver that records every alert it is sent, for tests and the
//! alert benchmark: it can refuse its first requests (500) to exercise
//! retries, hold requests unanswered after a number of alerts (to stop a
//! monitor at a known point), and it notes when each alert arrived.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One accepted request.
#[derive(Debug, Clone)]
pub struct Received {
    /// The payload's `alert_id` (empty if it had none).
    pub alert_id: String,
    /// The JSON body as received.
    pub payload: Value,
    /// When the request arrived.
    pub at: Instant,
}

#[derive(Debug)]
struct Inner {
    refuse_first: AtomicUsize,
    refused: AtomicUsize,
    /// Accept this many alerts, then hold further requests until released.
    hold_after: AtomicUsize,
    held: AtomicUsize,
    released: tokio::sync::watch::Sender<bool>,
    received: Mutex<Vec<Received>>,
}

/// A running recording webhook; clones share the same recordings. It keeps
/// serving until [`Self::stop`].
#[derive(Debug, Clone)]
pub struct TestReceiver {
    url: String,
    inner: Arc<Inner>,
    stop: CancellationToken,
}

impl TestReceiver {
    /// Serve on a free local port; the first `refuse_first` requests get a 500.
    pub async fn start(refuse_first: usize) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let inner = Arc::new(Inner {
            refuse_first: AtomicUsize::new(refuse_first),
            refused: AtomicUsize::new(0),
            hold_after: AtomicUsize::new(usize::MAX),
            held: AtomicUsize::new(0),
            released: tokio::sync::watch::channel(false).0,
            received: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/hook", post(accept))
            .with_state(Arc::clone(&inner));
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { until.cancelled().await })
                .await;
        });
        Ok(TestReceiver { url, inner, stop })
    }

    /// The webhook URL to post alerts to (`http://127.0.0.1:PORT/hook`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every alert accepted so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Requests answered with a 500 so far.
    pub fn refused(&self) -> usize {
        self.inner.refused.load(Ordering::SeqCst)
    }

    /// After `n` accepted alerts, hold every further request unanswered
    /// until [`Self::release`]; a held request is then refused (503) and not
    /// recorded, as if it never arrived.
    pub fn hold_after(&self, n: usize) {
        self.inner.hold_after.store(n, Ordering::SeqCst);
    }

    /// Requests held so far.
    pub fn held(&self) -> usize {
        self.inner.held.load(Ordering::SeqCst)
    }

    /// Stop holding: held requests are refused, new ones accepted.
    pub fn release(&self) {
        self.inner.hold_after.store(usize::MAX, Ordering::SeqCst);
        self.inner.released.send_replace(true);
    }

    /// Wait until at least `n` alerts arrived or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stop serving (a graceful shutdown of the server).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

async fn accept(State(inner): State<Arc<Inner>>, Json(payload): Json<Value>) -> StatusCode {
    let at = Instant::now();
    let refuse = inner
        .refuse_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refuse {
        inner.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let accepted = inner.received.lock().map(|r| r.len()).unwrap_or(0);
    if accepted >= inner.hold_after.load(Ordering::SeqCst) {
        inner.held.fetch_add(1, Ordering::SeqCst);
        let mut released = inner.released.subscribe();
        let _ = released.wait_for(|r| *r).await;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let alert_id = payload["alert_id"].as_str().unwrap_or_default().to_owned();
    if let Ok(mut r) = inner.received.lock() {
        r.push(Received {
            alert_id,
            payload,
            at,
        });
    }
    StatusCode::OK
}
