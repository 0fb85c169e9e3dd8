//! The validators real GitHub answers carry, as recorded
//! (`tests/fixtures/real/github/`): every recorded list answer replayed
//! with its own headers gives the client the ETag (and Last-Modified, where
//! GitHub sent one) verbatim, a request made conditional on them sends
//! them back verbatim, and the recorded quota headers (their resets long
//! past) hold nothing back.

mod common;
mod recorded;

use common::{Reply, ScriptedServer};
use dorafleet_core::Source;
use dorafleet_sources::{PageRequest, SourceClient, Validators, endpoint};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Deserialize)]
struct Recorded {
    path: String,
    headers: BTreeMap<String, String>,
    body: Value,
}

const KEPT: [&str; 6] = [
    "etag",
    "last-modified",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "link",
];

#[tokio::test]
async fn recorded_github_validators_are_kept_verbatim_and_sent_back_verbatim() {
    let mut checked = 0;
    let started = Instant::now();
    for (file, text) in recorded::files_with_text("github") {
        let exchanges: Vec<Recorded> = serde_json::from_str(&text).unwrap();
        for exchange in exchanges {
            let mut reply = Reply::new(200, &exchange.body.to_string());
            for name in KEPT {
                if let Some(value) = exchange.headers.get(name) {
                    reply = reply.header(name, value);
                }
            }
            let server = ScriptedServer::start(vec![reply, Reply::new(304, "")]).await;
            let client = SourceClient::new(Source::Github, &server.config("", 50)).unwrap();
            let request = PageRequest::new(endpoint::PULLS, exchange.path.clone(), 1);
            let page = client.get(&request).await.unwrap();
            assert_eq!(page.etag.as_ref(), exchange.headers.get("etag"), "{file}");
            assert_eq!(
                page.last_modified.as_ref(),
                exchange.headers.get("last-modified"),
                "{file}"
            );
            let validators = Validators {
                etag: page.etag.clone(),
                last_modified: page.last_modified.clone(),
            };
            let again = client.get_conditional(&request, &validators).await.unwrap();
            assert!(again.not_modified(), "{file}");
            let seen = server.seen();
            assert_eq!(
                seen[1].header("if-none-match"),
                exchange.headers.get("etag").map(String::as_str),
                "{file}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} recorded exchanges");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "recorded quotas held requests back: {:?}",
        started.elapsed()
    );
}
