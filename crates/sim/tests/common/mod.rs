//! Helpers shared by the HTTP tests: a small simulator on port 0 and clients
//! that page through each source the way a real extractor would.

#![allow(dead_code)]

use chrono::NaiveDate;
use dorafleet_core::Source;
use dorafleet_sim::{RunningSim, SimOptions};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub fn small_options(seed: u64) -> SimOptions {
    SimOptions {
        seed,
        days: 30,
        teams: 2,
        end_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        ..SimOptions::default()
    }
}

pub async fn start(opts: SimOptions) -> RunningSim {
    RunningSim::start(opts, "127.0.0.1:0")
        .await
        .expect("simulator starts")
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

thread_local! {
    /// One client per test (each test runs on its own thread and runtime):
    /// building a client per request would dominate the tests' run time.
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

pub fn client() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

pub async fn get(url: &str) -> Reply {
    send(client().get(url)).await
}

pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request reaches the simulator");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// The URL of `rel` in a GitHub `Link` header.
pub fn link(headers: &HeaderMap, rel: &str) -> Option<String> {
    let value = headers.get("link")?.to_str().ok()?;
    value.split(", ").find_map(|part| {
        let (url, params) = part.split_once(">; ")?;
        (params == format!("rel=\"{rel}\"")).then(|| url.trim_start_matches('<').to_owned())
    })
}

/// Every item of a GitHub list, following `rel="next"` opaquely.
pub async fn github_all(first_url: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut url = Some(first_url.to_owned());
    while let Some(u) = url {
        let reply = get(&u).await;
        assert_eq!(reply.status, 200, "{u}: {}", reply.body);
        items.extend(reply.body.as_array().expect("a list").iter().cloned());
        pages += 1;
        url = link(&reply.headers, "next");
    }
    (items, pages)
}

/// Every issue matching `jql`, following `nextPageToken` until `isLast`.
pub async fn jira_all(sim: &RunningSim, jql: &str, max_results: u32) -> Vec<Value> {
    let client = client();
    let url = format!("{}/rest/api/3/search/jql", sim.base_url(Source::Jira));
    let mut issues = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body =
            serde_json::json!({"jql": jql, "maxResults": max_results, "fields": ["*all"]});
        if let Some(t) = &token {
            body["nextPageToken"] = Value::String(t.clone());
        }
        let reply = send(client.post(&url).json(&body)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        issues.extend(
            reply.body["issues"]
                .as_array()
                .expect("issues")
                .iter()
                .cloned(),
        );
        if reply.body["isLast"] == Value::Bool(true) {
            assert!(reply.body.get("nextPageToken").is_none());
            return issues;
        }
        token = Some(
            reply.body["nextPageToken"]
                .as_str()
                .expect("token")
                .to_owned(),
        );
    }
}

pub const BUILD_TREE: &str = "allBuilds[number,result,timestamp,duration,building]";

/// Every build of a Jenkins job, in ranges of `page` until a short range.
pub async fn jenkins_all(sim: &RunningSim, job: &str, page: usize) -> Vec<Value> {
    let mut builds = Vec::new();
    loop {
        let from = builds.len();
        let url = format!(
            "{}/job/{job}/api/json?tree={BUILD_TREE}{{{from},{}}}",
            sim.base_url(Source::Jenkins),
            from + page
        );
        let reply = get(&url).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let got = reply.body["allBuilds"]
            .as_array()
            .expect("allBuilds")
            .clone();
        let short = got.len() < page;
        builds.extend(got);
        if short {
            return builds;
        }
    }
}
