//! Validation on payloads recorded from the real GitHub, Jira and Jenkins
//! (kept in `tests/fixtures/real/`, see its README.md): every recorded record of a
//! crawled endpoint is valid and carries no field the schemas do not know, so
//! schema drift is only reported when the API really changed.

use dorafleet_sources::validate::required_fields;
use dorafleet_sources::{endpoint, validate_page};
use serde::Deserialize;
use serde_json::{Value, json};

mod recorded;
use recorded::files_with_text as files;

#[derive(Deserialize)]
struct Recorded {
    path: String,
    body: Value,
}

/// The crawled endpoint a recorded GitHub path belongs to.
fn github_endpoint(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["repos", _, _, "pulls"] => Some(endpoint::PULLS),
        ["repos", _, _, "pulls", _, "commits"] | ["repos", _, _, "commits"] => {
            Some(endpoint::PULL_COMMITS)
        }
        ["repos", _, _, "deployments"] => Some(endpoint::DEPLOYMENTS),
        ["repos", _, _, "deployments", _, "statuses"] => Some(endpoint::DEPLOYMENT_STATUSES),
        _ => None,
    }
}

#[test]
fn every_recorded_github_record_is_valid_with_no_unknown_fields() {
    let mut by_endpoint = std::collections::BTreeMap::<&str, u64>::new();
    for (name, text) in files("github") {
        let recorded: Vec<Recorded> = serde_json::from_str(&text).unwrap();
        for exchange in recorded {
            let Some(endpoint) = github_endpoint(&exchange.path) else {
                continue;
            };
            let quality = validate_page(endpoint, &exchange.body.to_string())
                .unwrap_or_else(|e| panic!("{name} {}: {e}", exchange.path));
            assert!(
                quality.rejected.is_empty(),
                "{name}: {:?}",
                quality.rejected
            );
            assert!(
                quality.unknown_fields.is_empty(),
                "{name} {}: {:?}",
                exchange.path,
                quality.unknown_fields
            );
            *by_endpoint.entry(endpoint).or_default() += quality.records;
        }
    }
    assert_eq!(
        by_endpoint,
        [
            (endpoint::DEPLOYMENT_STATUSES, 5),
            (endpoint::DEPLOYMENTS, 4),
            (endpoint::PULL_COMMITS, 25),
            (endpoint::PULLS, 11),
        ]
        .into(),
        "every crawled endpoint is covered by a recording"
    );
}

#[test]
fn every_recorded_jira_issue_is_valid_with_no_unknown_fields() {
    let issues: Vec<Value> = files("jira")
        .into_iter()
        .map(|(_, text)| serde_json::from_str(&text).unwrap())
        .collect();
    let count = issues.len() as u64;
    let page = json!({"issues": issues, "isLast": true});
    let quality = validate_page(endpoint::JIRA_SEARCH, &page.to_string()).unwrap();
    assert_eq!(quality.records, count);
    assert!(quality.rejected.is_empty(), "{:?}", quality.rejected);
    assert!(
        quality.unknown_fields.is_empty(),
        "{:?}",
        quality.unknown_fields
    );
}

#[test]
fn every_recorded_jenkins_build_is_valid_with_no_unknown_fields() {
    let builds: Vec<Value> = files("jenkins")
        .into_iter()
        .filter(|(name, _)| name.starts_with("build-info"))
        .map(|(_, text)| serde_json::from_str(&text).unwrap())
        .collect();
    assert_eq!(builds.len(), 2);
    let page = json!({"_class": "hudson.model.FreeStyleProject", "allBuilds": builds});
    let quality = validate_page(endpoint::JENKINS_BUILDS, &page.to_string()).unwrap();
    assert_eq!((quality.records, quality.rejected.len()), (2, 0));
    assert!(
        quality.unknown_fields.is_empty(),
        "{:?}",
        quality.unknown_fields
    );
}

#[test]
fn a_recorded_record_without_a_required_field_is_rejected_naming_it() {
    let (_, text) = files("jira").remove(0);
    for path in required_fields(endpoint::JIRA_SEARCH) {
        let mut issue: Value = serde_json::from_str(&text).unwrap();
        let (parent, leaf) = path.rsplit_once('.').unwrap_or(("", path));
        let holder = parent
            .split('.')
            .filter(|p| !p.is_empty())
            .fold(&mut issue, |v, part| &mut v[part]);
        holder.as_object_mut().unwrap().remove(leaf);
        let page = json!({"issues": [issue]});
        let quality = validate_page(endpoint::JIRA_SEARCH, &page.to_string()).unwrap();
        assert_eq!(quality.rejected.len(), 1, "{path}");
        assert_eq!(
            quality.rejected[0].reason,
            format!("missing `{path}`"),
            "{path}"
        );
    }
}
