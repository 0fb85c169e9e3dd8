//! A GitHub App installation as a source's credential: its tokens are
//! minted with a JWT the simulator verifies, replaced before they expire, and
//! minted again once when the server refuses one.

mod common;

use chrono::{Duration as Span, NaiveDate, Utc};
use common::{Reply, ScriptedServer};
use dorafleet_core::config::CredentialConfig;
use dorafleet_core::{ErrorClass, Source, SourceConfig, Window};
use dorafleet_sim::{GithubAppOptions, RunningSim, SimOptions};
use dorafleet_sources::{PageRequest, SourceClient, endpoint, next_steps, start_requests};
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

const APP_ID: u64 = 424_242;
const INSTALLATION_ID: u64 = 31_337;

/// A fresh RSA key: its PEM private key written to a file, and the public
/// key's PEM.
fn app_key(dir: &tempfile::TempDir) -> (PathBuf, String) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let path = dir.path().join("app.pem");
    // PKCS#1 (`BEGIN RSA PRIVATE KEY`), as GitHub hands app keys out.
    std::fs::write(&path, key.rsa().unwrap().private_key_to_pem().unwrap()).unwrap();
    let public = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
    (path, public)
}

fn app_client(base_url: &str, per_second: u32, key_file: PathBuf) -> SourceClient {
    let mut config = SourceConfig::with_base_url(base_url, per_second);
    config.timeout = Duration::from_secs(10);
    config.credentials = vec![CredentialConfig {
        name: "app".to_owned(),
        app_id: Some(APP_ID),
        installation_id: Some(INSTALLATION_ID),
        private_key_file: Some(key_file),
        ..CredentialConfig::default()
    }];
    SourceClient::new(Source::Github, &config).unwrap()
}

#[tokio::test]
async fn an_installation_token_that_expires_mid_run_is_replaced_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, public_key_pem) = app_key(&dir);
    let sim = RunningSim::start(
        SimOptions {
            seed: 5,
            days: 30,
            teams: 1,
            end_date: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
            github_app: Some(GithubAppOptions {
                app_id: APP_ID,
                installation_id: INSTALLATION_ID,
                public_key_pem,
                token_ttl: Duration::from_millis(1_500),
            }),
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    // 12 requests a second for longer than two token lifetimes.
    let client = app_client(&sim.base_url(Source::Github), 12, key_file);
    let org = sim.state().organisation();
    let window = Window {
        from: org.start - Span::days(1),
        to: org.end + Span::days(1),
    };
    let repo = org.team_configs()[0].github_repos[0].clone();
    let scope = dorafleet_core::Scope {
        team: org.team_configs()[0].id.clone(),
        target: Some(repo),
    };
    let started = Utc::now();
    let mut pages = 0;
    // Crawled again and again until the run has outlived two tokens.
    while Utc::now() < started + Span::milliseconds(3_500) {
        let mut queue: VecDeque<PageRequest> =
            start_requests(Source::Github, &scope, &window, 3).into();
        while let Some(request) = queue.pop_front() {
            let page = client.get(&request).await.expect("every page is served");
            queue.extend(
                next_steps(Source::Github, &page, &window, 3)
                    .unwrap()
                    .follow_ups,
            );
            pages += 1;
        }
    }

    assert!(
        sim.state().installation_tokens_minted() >= 3,
        "{} tokens minted over {pages} pages",
        sim.state().installation_tokens_minted()
    );
    let log = sim.state().request_log();
    let served_with: BTreeSet<_> = log
        .iter()
        .filter(|e| e.status == 200 || e.status == 304)
        .filter_map(|e| e.credential.clone())
        .collect();
    assert!(served_with.len() >= 3, "{served_with:?}");
    assert_eq!(
        log.iter()
            .filter(|e| e.status == 200 || e.status == 304)
            .count(),
        pages
    );
}

#[tokio::test]
async fn a_jwt_signed_with_another_key_gets_no_installation_token() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, _) = app_key(&dir);
    let other = tempfile::tempdir().unwrap();
    let (_, other_public) = app_key(&other);
    let sim = RunningSim::start(
        SimOptions {
            github_app: Some(GithubAppOptions {
                app_id: APP_ID,
                installation_id: INSTALLATION_ID,
                public_key_pem: other_public,
                token_ttl: Duration::from_secs(3600),
            }),
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let client = app_client(&sim.base_url(Source::Github), 50, key_file);
    let repo = sim.state().organisation().team_configs()[0].github_repos[0].clone();
    let err = client
        .get(&PageRequest::new(
            endpoint::PULLS,
            format!("/repos/{repo}/pulls"),
            1,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(err.to_string().contains("app_id"), "{err}");
    assert_eq!(sim.state().installation_tokens_minted(), 0);
}

fn access_token(token: &str) -> Reply {
    let expires_at = (Utc::now() + Span::hours(1)).to_rfc3339();
    Reply::new(
        201,
        &format!(r#"{{"token":"{token}","expires_at":"{expires_at}"}}"#),
    )
}

#[tokio::test]
async fn a_refused_installation_token_is_minted_again_once() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, _) = app_key(&dir);
    let server = ScriptedServer::start(vec![
        access_token("ghs_first_refused_1"),
        Reply::new(401, r#"{"message":"Bad credentials"}"#),
        access_token("ghs_second_good_2"),
        Reply::new(200, "[]"),
        // A second request: the new token is kept.
        Reply::new(200, "[]"),
    ])
    .await;
    let client = app_client(&server.base_url, 50, key_file);
    let request = PageRequest::new(endpoint::PULLS, "/repos/acme/api/pulls", 1);
    assert_eq!(client.get(&request).await.unwrap().status, 200);
    assert_eq!(client.get(&request).await.unwrap().status, 200);

    let seen = server.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
    let mint = format!("/app/installations/{INSTALLATION_ID}/access_tokens");
    assert_eq!(
        paths,
        [
            mint.as_str(),
            "/repos/acme/api/pulls",
            mint.as_str(),
            "/repos/acme/api/pulls",
            "/repos/acme/api/pulls"
        ]
    );
    assert_eq!(
        seen[3].header("authorization"),
        Some("Bearer ghs_second_good_2")
    );
    assert_eq!(
        seen[4].header("authorization"),
        Some("Bearer ghs_second_good_2")
    );
    // The JWT went to the mint endpoint only, never to a data request.
    assert!(
        seen[0]
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ey")
    );
}

#[tokio::test]
async fn a_token_refused_twice_is_an_error_not_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, _) = app_key(&dir);
    let server = ScriptedServer::start(vec![
        access_token("ghs_refused_a_1"),
        Reply::new(401, r#"{"message":"Bad credentials"}"#),
        access_token("ghs_refused_b_2"),
        Reply::new(401, r#"{"message":"Bad credentials"}"#),
    ])
    .await;
    let client = app_client(&server.base_url, 50, key_file);
    let err = client
        .get(&PageRequest::new(
            endpoint::PULLS,
            "/repos/acme/api/pulls",
            1,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert_eq!(server.seen().len(), 4);
}

#[test]
fn an_unreadable_or_foreign_key_is_refused_at_start_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_key = dir.path().join("not-a-key.pem");
    std::fs::write(
        &not_a_key,
        "-----BEGIN NOTHING-----\nc2VjcmV0\n-----END NOTHING-----\n",
    )
    .unwrap();
    let mut config = SourceConfig::with_base_url("https://api.github.com", 5);
    for (file, expected) in [
        (dir.path().join("absent.pem"), "cannot read"),
        (not_a_key, "not an RSA private key"),
    ] {
        config.credentials = vec![CredentialConfig {
            name: "app".to_owned(),
            app_id: Some(1),
            installation_id: Some(2),
            private_key_file: Some(file),
            ..CredentialConfig::default()
        }];
        let err = SourceClient::new(Source::Github, &config).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
        assert!(err.to_string().contains("credential `app`"), "{err}");
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
    }
}

/// Whether the JWT a request presented (`Bearer <jwt>`) was signed by the
/// private key of `public_key_pem`.
fn signed_by(authorization: Option<&str>, public_key_pem: &str) -> bool {
    let jwt = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap();
    let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
    let mut standard = signature.replace('-', "+").replace('_', "/");
    while standard.len() % 4 != 0 {
        standard.push('=');
    }
    let signature = openssl::base64::decode_block(&standard).unwrap();
    let key = PKey::public_key_from_pem(public_key_pem.as_bytes()).unwrap();
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    verifier.update(signing_input.as_bytes()).unwrap();
    verifier.verify(&signature).unwrap()
}

/// A client of an app whose key is in `key_file`, after its first request:
/// one token minted, one page fetched. Then `change` is made to the key
/// file, the next request is refused (the token is forgotten), a token is
/// minted again and the request sent again. Returns every request the
/// server saw: the mints are the 1st and the 4th.
async fn refused_after_the_key_file_changed(
    key_file: &std::path::Path,
    change: impl FnOnce(),
) -> Vec<common::Seen> {
    let server =
        ScriptedServer::start(vec![access_token("ghs_first_1"), Reply::new(200, "[]")]).await;
    let client = app_client(&server.base_url, 50, key_file.to_owned());
    let request = PageRequest::new(endpoint::PULLS, "/repos/acme/api/pulls", 1);
    assert_eq!(client.get(&request).await.unwrap().status, 200);
    change();
    server.push(Reply::new(401, r#"{"message":"Bad credentials"}"#));
    server.push(access_token("ghs_second_2"));
    server.push(Reply::new(200, "[]"));
    assert_eq!(client.get(&request).await.unwrap().status, 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[4].header("authorization"), Some("Bearer ghs_second_2"));
    seen
}

#[tokio::test]
async fn a_rotated_private_key_signs_the_next_mint_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, old_public) = app_key(&dir);
    let rotated = tempfile::tempdir().unwrap();
    let (new_key_file, new_public) = app_key(&rotated);
    // The operator rotates the key: the same file, a new key.
    let seen = refused_after_the_key_file_changed(&key_file, || {
        std::fs::copy(&new_key_file, &key_file).unwrap();
    })
    .await;
    let (first_mint, second_mint) = (
        seen[0].header("authorization"),
        seen[3].header("authorization"),
    );
    assert!(signed_by(first_mint, &old_public));
    assert!(signed_by(second_mint, &new_public), "the new key signs");
    assert!(
        !signed_by(second_mint, &old_public),
        "the old key is no longer used"
    );
}

#[tokio::test]
async fn a_key_file_caught_half_written_leaves_the_key_in_hand_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let (key_file, public) = app_key(&dir);
    let seen = refused_after_the_key_file_changed(&key_file, || {
        std::fs::write(&key_file, "-----BEGIN RSA PRIVATE KEY-----\nMIIEow").unwrap();
    })
    .await;
    assert!(signed_by(seen[3].header("authorization"), &public));
}
