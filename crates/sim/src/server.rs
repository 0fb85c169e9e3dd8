//! Starting and stopping the simulator: the router with every route, a
//! [`RunningSim`] for tests (port 0, explicit shutdown) and [`serve`] for the
//! CLI, which passes its own shutdown signal.

use crate::http::{admin, github, github_app, github_history, jenkins, jira};
use crate::options::SimOptions;
use crate::state::SimState;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use dorafleet_core::Source;
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every route of the simulator over `state`.
pub fn router(state: Arc<SimState>) -> Router {
    // `/github/...`, or `/api/v3/...` for GitHub Enterprise Server.
    let gh = |path: &str| format!("{}{path}", state.options().base_path(Source::Github));
    Router::new()
        .route(&gh("/repos/{owner}/{repo}/pulls"), get(github::pulls))
        .route(
            &gh("/repos/{owner}/{repo}/pulls/{number}/commits"),
            get(github::pull_commits),
        )
        .route(
            &gh("/repos/{owner}/{repo}/commits"),
            get(github_history::commits),
        )
        .route(
            &gh("/repos/{owner}/{repo}/deployments"),
            get(github::deployments),
        )
        .route(
            &gh("/repos/{owner}/{repo}/deployments/{id}/statuses"),
            get(github::deployment_statuses),
        )
        .route(
            &gh("/app/installations/{id}/access_tokens"),
            post(github_app::access_tokens),
        )
        .route(
            "/jira/rest/api/3/search/jql",
            get(jira::search_jql).post(jira::search_jql),
        )
        .route(
            "/jira/rest/api/3/search/approximate-count",
            post(jira::approximate_count),
        )
        .route("/jira/rest/api/3/search", any(jira::old_search))
        .route(
            "/jira/rest/api/3/issue/{key}/changelog",
            get(jira::changelog),
        )
        .route(
            "/jira/rest/api/2/search",
            get(jira::search_v2).post(jira::search_v2),
        )
        .route("/jira/rest/api/2/issue/{key}", get(jira::issue))
        .route("/jira/rest/api/2/serverInfo", get(jira::server_info))
        .route("/jira/rest/api/{version}/myself", get(jira::myself))
        .route("/jenkins/job/{*path}", get(jenkins::job))
        .route("/jenkins/whoAmI/api/json", get(jenkins::who_am_i))
        .route(
            "/_admin/requests",
            get(admin::requests).delete(admin::clear_requests),
        )
        .route("/_admin/truth", get(admin::truth))
        .route("/_admin/clock", get(admin::clock).put(admin::set_clock))
        .route("/_admin/clock/advance", post(admin::advance_clock))
        .route("/_admin/org", get(admin::org))
        .route("/_admin/stats", get(admin::stats))
        .route(
            "/_admin/faults",
            get(admin::faults)
                .put(admin::replace_faults)
                .post(admin::add_fault)
                .delete(admin::clear_faults),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"message": "Not Found"})),
            )
                .into_response()
        })
        .with_state(state)
}

/// Serves the simulator on `listener` until `shutdown` completes.
pub async fn serve(
    opts: SimOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = Arc::new(SimState::new(&opts));
    serve_state(state, listener, shutdown).await
}

async fn serve_state(
    state: Arc<SimState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A simulator serving in the background, for tests and embedding.
#[derive(Debug)]
pub struct RunningSim {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningSim {
    /// Generates the organisation and starts serving on `bind` (e.g. `127.0.0.1:0`).
    pub async fn start(opts: SimOptions, bind: &str) -> std::io::Result<RunningSim> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(&opts));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_state(state.clone(), listener, async move {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, seed = opts.seed, "simulator listening");
        Ok(RunningSim {
            addr,
            state,
            stop,
            task,
        })
    }

    /// The address actually bound (with the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT/github` (`/api/v3` for GitHub Enterprise Server),
    /// `/jira` or `/jenkins`. A wildcard bind address is reported as
    /// loopback so the URL is usable.
    pub fn base_url(&self, source: Source) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}{}", self.state.options().base_path(source))
    }

    /// The shared state: organisation, ground truth, faults and request log.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "simulator server ended with an error"),
            Err(e) => tracing::warn!(error = %e, "simulator server task failed"),
        }
    }
}
