//! What the API tests share: a simulator, a standalone run of its history
//! into a SQLite warehouse, and `dorafleet serve`'s router on a free port.

#![allow(dead_code)]

use chrono::{NaiveDate, NaiveTime};
use dorafleet_core::{Config, RetryPolicy, Source, Window};
use dorafleet_serve::{AppState, OperatorToken};
use dorafleet_sim::{RunningSim, SimOptions};
use dorafleet_sources::SourceClient;
use dorafleet_standalone::{RunSummary, StandaloneOptions, run_standalone};
use dorafleet_warehouse::{Warehouse, sqlite::SqliteWarehouse};
use std::sync::Arc;
use std::time::Duration;

pub const DAYS: u32 = 30;
pub const TOKEN: &str = "serve-test-operator-token-7f3a";

pub fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

pub fn start() -> NaiveDate {
    end() - chrono::Duration::days(i64::from(DAYS))
}

/// A served warehouse, and what filled it.
pub struct Served {
    pub base: String,
    pub warehouse: Arc<dyn Warehouse>,
    pub config: Config,
    pub summary: Option<RunSummary>,
    pub sim: Option<RunningSim>,
    pub http: reqwest::Client,
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path`: the status, the content type and the body as JSON.
    pub async fn get(&self, path: &str) -> (u16, String, serde_json::Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        answer(response).await
    }

    /// POST `body` to `path` with `token` as the bearer token, if any.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> (u16, String, serde_json::Value) {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.unwrap()).await
    }
}

async fn answer(response: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, kind, json)
}

/// The simulator's own config pointed at it, RabbitMQ at a port nothing
/// listens on.
fn sim_config(sim: &RunningSim) -> Config {
    let org = sim.state().organisation();
    let mut config = Config::from_toml(&org.config_toml("http://127.0.0.1:1")).unwrap();
    for source in Source::ALL {
        let s = config.sources.get_mut(source);
        s.base_url = sim.base_url(source).parse().unwrap();
        s.requests_per_second = std::num::NonZeroU32::new(500).unwrap();
        s.timeout = Duration::from_secs(5);
        s.page_size = 25;
    }
    config.retry = RetryPolicy {
        base_ms: 20,
        factor: 2.0,
        cap_ms: 200,
        max_attempts: 2,
    };
    config.broker.url = dorafleet_core::Secret::new("amqp://guest:guest@127.0.0.1:1/%2f");
    config
}

/// A simulator of 2 teams over [`DAYS`] days, run once into a fresh
/// warehouse, served with `token` as the operator token.
pub async fn with_history(token: Option<&str>) -> Served {
    let options = SimOptions {
        seed: 11,
        days: DAYS,
        teams: 2,
        end_date: end(),
        ..SimOptions::default()
    };
    let sim = RunningSim::start(options, "127.0.0.1:0").await.unwrap();
    let config = sim_config(&sim);
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let clients: Vec<(SourceClient, u32)> = Source::ALL
        .into_iter()
        .map(|s| {
            let c = config.sources.get(s);
            (SourceClient::new(s, c).unwrap(), c.page_size)
        })
        .collect();
    let to = end().and_time(NaiveTime::MIN).and_utc();
    let window = Window {
        from: to - chrono::Duration::days(i64::from(DAYS)),
        to,
    };
    let summary = run_standalone(
        Some(window),
        Arc::clone(&warehouse),
        clients,
        Arc::new(config.clone()),
        StandaloneOptions {
            sources: Source::ALL.to_vec(),
            concurrency: 4,
            worker_name: "test".into(),
            deadline: Duration::from_secs(120),
        },
        |_| {},
    )
    .await
    .unwrap()
    .expect("a run was planned");
    let mut served = serve(warehouse, config, token).await;
    served.summary = Some(summary);
    served.sim = Some(sim);
    served
}

/// An empty warehouse and a config of two teams, served.
pub async fn empty(token: Option<&str>) -> Served {
    let config = Config::from_toml(
        "[[teams]]\nid = \"pay\"\ngithub_repos = [\"acme/pay\"]\njira_projects = [\"PAY\"]\n\n\
         [[teams]]\nid = \"web\"\ngithub_repos = [\"acme/web\"]\n\n\
         [broker]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\n",
    )
    .unwrap();
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    serve(warehouse, config, token).await
}

/// Serve `warehouse` on a free port of loopback.
pub async fn serve(warehouse: Arc<dyn Warehouse>, config: Config, token: Option<&str>) -> Served {
    let state = AppState::new(
        Arc::clone(&warehouse),
        Arc::new(config.clone()),
        token.map(OperatorToken::fixed),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(dorafleet_serve::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Served {
        base,
        warehouse,
        config,
        summary: None,
        sim: None,
        http: reqwest::Client::new(),
    }
}

/// A problem detail's members are all there and its status is the answer's.
pub fn assert_problem(status: u16, kind: &str, body: &serde_json::Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert!(
        kind.starts_with("application/problem+json"),
        "{kind}: {body}"
    );
    for member in ["type", "title", "detail", "instance"] {
        assert!(
            body[member].as_str().is_some_and(|v| !v.is_empty()),
            "`{member}` missing: {body}"
        );
    }
    assert_eq!(body["status"], expected, "{body}");
}
