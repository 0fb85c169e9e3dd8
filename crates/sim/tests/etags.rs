//! GitHub's ETags in the simulator: a hash of exactly what would be served,
//! so a client revalidating a stored page gets a `304` only while the world
//! still serves that page, and GitHub's quota does not count the `304`.

mod common;

use chrono::{Duration, NaiveDate, NaiveTime};
use common::{client, send, small_options, start};
use dorafleet_core::Source;
use dorafleet_sim::SimOptions;

#[tokio::test]
async fn a_stored_etag_gets_304_until_the_world_changes_the_page_then_the_new_page() {
    let end = NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_time(NaiveTime::MIN)
        .and_utc();
    let sim = start(SimOptions {
        clock: Some(end - Duration::days(10)),
        ..small_options(31)
    })
    .await;
    let repo = sim.state().organisation().repos[0].full_name();
    let url = format!(
        "{}/repos/{repo}/pulls?state=closed&sort=updated&direction=desc&per_page=5",
        sim.base_url(Source::Github)
    );
    let http = client();
    let first = send(http.get(&url)).await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    // SHA-256, hex, written weak as GitHub writes those of its lists.
    assert!(etag.starts_with("W/\"") && etag.len() == 64 + 4, "{etag}");

    let unchanged = send(http.get(&url).header("If-None-Match", &etag)).await;
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.header("etag"), Some(etag.as_str()));

    // Ten days later the repository's closed pull requests are others.
    sim.state().set_now(end);
    let changed = send(http.get(&url).header("If-None-Match", &etag)).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.body, first.body);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    let spent: Vec<u16> = sim.state().request_log().iter().map(|e| e.status).collect();
    assert_eq!(spent, vec![200, 304, 200]);
    sim.shutdown().await;
}
