//! A request the network holds back reaches the server within the client's
//! delivery limit (two seconds) or never: a cut link must not deliver old
//! requests in a burst when it comes back, into seconds whose budget other
//! workers have spent.
//!
//! The cut is real: an `iptables` rule drops the packets to the test
//! server's port on loopback, so the kernel retransmits exactly as it would
//! across a broken link. It needs root and `iptables`; without them the
//! tests say they skipped.

mod common;

use common::ScriptedServer;
use dorafleet_core::{ErrorClass, Source};
use dorafleet_sources::{PageRequest, SourceClient, endpoint};
use std::process::Command;
use std::time::Duration;

/// Longer than the delivery limit, shorter than the client's timeout.
const CUT: Duration = Duration::from_secs(3);

fn pulls(page: u32) -> PageRequest {
    PageRequest::new(
        endpoint::PULLS,
        format!("/repos/acme/x/pulls?per_page=5&page={page}"),
        page,
    )
}

/// Packets to one port on loopback dropped until the cut is healed (or
/// dropped).
struct Cut {
    rule: Vec<String>,
}

impl Cut {
    /// Drops every packet sent to `port` on loopback, or says why it cannot.
    fn start(port: u16) -> Result<Cut, String> {
        let rule: Vec<String> = ["OUTPUT", "-o", "lo", "-p", "tcp", "--dport"]
            .iter()
            .map(|s| s.to_string())
            .chain([port.to_string(), "-j".into(), "DROP".into()])
            .collect();
        let added = Command::new("iptables")
            .arg("-I")
            .args(&rule)
            .output()
            .map_err(|e| format!("iptables: {e}"))?;
        if !added.status.success() {
            return Err(format!(
                "iptables -I failed (root needed): {}",
                String::from_utf8_lossy(&added.stderr).trim()
            ));
        }
        Ok(Cut { rule })
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        let _ = Command::new("iptables").arg("-D").args(&self.rule).status();
    }
}

fn port_of(server: &ScriptedServer) -> u16 {
    server.base_url.rsplit(':').next().unwrap().parse().unwrap()
}

fn client_of(server: &ScriptedServer) -> SourceClient {
    let mut config = server.config("", 50);
    config.timeout = Duration::from_secs(20);
    SourceClient::new(Source::Github, &config).unwrap()
}

/// Sends page `page` while the link to `server` is cut for [`CUT`], then
/// heals it. `Some(answered)`: whether the request was answered in the end;
/// a failure must be one the task retries.
async fn send_across_a_cut(
    server: &ScriptedServer,
    client: &SourceClient,
    page: u32,
) -> Option<bool> {
    let cut = match Cut::start(port_of(server)) {
        Ok(cut) => cut,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let client = client.clone();
    let sending = tokio::spawn(async move { client.get(&pulls(page)).await });
    // The cut's length is the scenario, not a wait for something to happen.
    tokio::time::sleep(CUT).await;
    drop(cut);
    let outcome = tokio::time::timeout(Duration::from_secs(30), sending)
        .await
        .expect("the request ends within the client's timeout")
        .unwrap();
    if let Err(e) = &outcome {
        assert_eq!(e.class(), ErrorClass::Transient, "{e}");
    }
    Some(outcome.is_ok())
}

#[tokio::test]
async fn a_request_written_into_a_cut_connection_is_dropped_not_delivered_when_the_link_returns() {
    let server = ScriptedServer::start(vec![]).await;
    let client = client_of(&server);
    client.get(&pulls(1)).await.unwrap();

    let Some(succeeded) = send_across_a_cut(&server, &client, 2).await else {
        return;
    };
    assert!(!succeeded, "the request held back for {CUT:?} was answered");
    let seen: Vec<_> = server
        .seen()
        .into_iter()
        .map(|s| s.path_and_query)
        .collect();
    assert_eq!(seen, ["/repos/acme/x/pulls?per_page=5&page=1"]);
}

#[tokio::test]
async fn a_connection_that_cannot_be_set_up_within_the_limit_is_given_up() {
    let server = ScriptedServer::start(vec![]).await;
    let client = client_of(&server);

    let Some(succeeded) = send_across_a_cut(&server, &client, 1).await else {
        return;
    };
    assert!(!succeeded, "the request connected after a {CUT:?} cut");
    assert!(server.seen().is_empty(), "{:?}", server.seen());
}
