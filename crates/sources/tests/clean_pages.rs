//! A page is checked from its text when every record is clean, and through
//! its JSON tree otherwise; both ways must give the same records, rejections,
//! unknown fields and errors. Checked here on the real recordings and on
//! pages made to be awkward (repeated keys, escaped keys, nulls, records
//! that are not objects).

use dorafleet_sources::endpoint;
use dorafleet_sources::github::{Deployment, DeploymentStatus, PullCommit, PullRequest};
use dorafleet_sources::jenkins::Build;
use dorafleet_sources::jira::Issue;
use dorafleet_sources::validate::{check, check_value, parse_body};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;

mod recorded;
use recorded::files_with_text as files;

/// `body` checked both ways gives the same answer, down to the messages.
fn agree<T: DeserializeOwned + Debug>(endpoint: &str, body: &str) {
    let from_text = check::<T>(endpoint, body);
    let from_tree = parse_body(body).and_then(|tree| check_value::<T>(endpoint, &tree));
    assert_eq!(
        format!("{from_text:?}"),
        format!("{from_tree:?}"),
        "{endpoint}: {body}"
    );
}

#[test]
fn every_real_recording_reads_the_same_from_its_text_as_from_its_tree() {
    let mut pages = 0;
    for (_, text) in files("github") {
        let exchanges: Vec<Value> = serde_json::from_str(&text).unwrap();
        for exchange in exchanges {
            let (path, body) = (
                exchange["path"].as_str().unwrap(),
                exchange["body"].to_string(),
            );
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            match segments.as_slice() {
                ["repos", _, _, "pulls"] => agree::<PullRequest>(endpoint::PULLS, &body),
                ["repos", _, _, "pulls", _, "commits"] | ["repos", _, _, "commits"] => {
                    agree::<PullCommit>(endpoint::PULL_COMMITS, &body)
                }
                ["repos", _, _, "deployments"] => agree::<Deployment>(endpoint::DEPLOYMENTS, &body),
                ["repos", _, _, "deployments", _, "statuses"] => {
                    agree::<DeploymentStatus>(endpoint::DEPLOYMENT_STATUSES, &body)
                }
                _ => continue,
            }
            pages += 1;
        }
    }
    let issues: Vec<Value> = files("jira")
        .into_iter()
        .map(|(_, text)| serde_json::from_str(&text).unwrap())
        .collect();
    agree::<Issue>(
        endpoint::JIRA_SEARCH,
        &json!({"issues": issues, "isLast": true}).to_string(),
    );
    let builds: Vec<Value> = files("jenkins")
        .into_iter()
        .filter(|(name, _)| name.starts_with("build-info"))
        .map(|(_, text)| serde_json::from_str(&text).unwrap())
        .collect();
    agree::<Build>(
        endpoint::JENKINS_BUILDS,
        &json!({"_class": "hudson.model.FreeStyleProject", "allBuilds": builds}).to_string(),
    );
    assert!(pages >= 5, "only {pages} GitHub pages recorded");
}

#[test]
fn awkward_pages_read_the_same_from_their_text_as_from_their_tree() {
    let pull = r#""state":"closed","user":{"login":"alice","type":"User"},
        "created_at":"2026-03-01T09:00:00Z","updated_at":"2026-03-02T10:00:00Z",
        "closed_at":"2026-03-02T10:00:00Z","merged_at":"2026-03-02T10:00:00Z",
        "merge_commit_sha":"m1""#;
    let pages = [
        // Clean, with space around everything.
        format!("[ {{ \"number\" : 1 , {pull} }} ]"),
        // A repeated key: the last one counts, in either way.
        format!(r#"[{{"number":"one",{pull},"number":2}}]"#),
        format!(r#"[{{"number":2,{pull},"number":"two"}}]"#),
        // An escaped key, an unknown field sent twice, and one with escapes.
        format!(r#"[{{"n\u0075mber":3,{pull}}}]"#),
        format!(r#"[{{"number":4,{pull},"extra":1,"extra":2,"odd\"name":0}}]"#),
        // A required field null, missing, or of the wrong type.
        format!(r#"[{{"number":null,{pull}}}]"#),
        format!(r#"[{{{pull}}}]"#),
        format!(r#"[{{"number":5,{pull},"user":"alice"}}]"#),
        // Records that are not objects, beside a good one.
        format!(r#"[7,"x",null,{{"number":6,{pull}}}]"#),
        // Bodies of the wrong shape.
        format!(r#"{{"number":8,{pull}}}"#),
        "[1,".to_owned(),
        "[]".to_owned(),
    ];
    for body in &pages {
        agree::<PullRequest>(endpoint::PULLS, body);
    }
    // A list inside an object, and Jira's `fields` checked for unknown keys.
    let issue = r#""id":"1","key":"PAY-7","fields":{"issuetype":{"name":"Incident"},
        "priority":{"name":"P2"},"project":{"key":"PAY"},
        "created":"2026-03-01T23:30:00.000-0500","updated":"2026-03-02T01:00:00.000-0500",
        "resolutiondate":null"#;
    let searches = [
        format!(r#"{{"issues":[{{{issue}}}],"isLast":true}}"#),
        format!(r#"{{"issues":[{{{issue},"newfield":1,"customfield_10001":2,"newfield":3}}}}]}}"#),
        format!(r#"{{"issues":[{{{issue}}}],"issues":[]}}"#),
        r#"{"issues":{"key":"PAY-7"}}"#.to_owned(),
        r#"{"isLast":true}"#.to_owned(),
    ];
    for body in &searches {
        agree::<Issue>(endpoint::JIRA_SEARCH, body);
    }
}
