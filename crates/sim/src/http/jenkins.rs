//! Jenkins `GET /job/{name}/api/json`, with the `tree` parameter's field
//! selection and `{M,N}` ranges (M inclusive, N exclusive), builds newest
//! first, `result: null` while `building: true`.

use super::{RequestMeta, Served, Shaping, exchange};
use crate::endpoint::Endpoint;
use crate::model::{JenkinsBuild, JenkinsJob, Organisation};
use crate::state::SimState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use dorafleet_core::Source;
use serde_json::{Value, json};
use std::sync::Arc;

/// Jenkins caps `builds` (but not `allBuilds`) at 100.
const BUILDS_CAP: usize = 100;

pub(crate) async fn job(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::JenkinsBuilds, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    exchange(&state, meta, |meta, shaping| {
        let Some(job) = org.job(&name) else {
            return Served::error(Source::Jenkins, StatusCode::NOT_FOUND, "Not Found");
        };
        let tree = match meta.param("tree").map(|t| parse_tree(&t)).transpose() {
            Ok(tree) => tree,
            Err(problem) => {
                return Served::error(Source::Jenkins, StatusCode::BAD_REQUEST, &problem);
            }
        };
        let full = job_json(org, meta, job);
        let (body, records) = match tree {
            Some(nodes) => select(&full, &nodes, shaping),
            None => default_view(full, shaping),
        };
        Served::json(StatusCode::OK, &body, records)
    })
    .await
}

/// One element of a `tree` expression: `name[children]{range}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeNode {
    pub name: String,
    pub children: Vec<TreeNode>,
    pub range: Option<(Option<usize>, Option<usize>)>,
}

pub(crate) fn parse_tree(text: &str) -> Result<Vec<TreeNode>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    let nodes = parse_nodes(&chars, &mut at)?;
    if at != chars.len() {
        return Err(format!(
            "Malformed tree expression `{text}` at character {}",
            at + 1
        ));
    }
    Ok(nodes)
}

fn parse_nodes(chars: &[char], at: &mut usize) -> Result<Vec<TreeNode>, String> {
    let mut nodes = Vec::new();
    loop {
        let start = *at;
        while *at < chars.len() && !"[]{},".contains(chars[*at]) {
            *at += 1;
        }
        let name: String = chars[start..*at]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned();
        if name.is_empty() {
            return Err(format!(
                "Malformed tree expression: missing field name at character {}",
                start + 1
            ));
        }
        let mut node = TreeNode {
            name,
            children: Vec::new(),
            range: None,
        };
        if chars.get(*at) == Some(&'[') {
            *at += 1;
            node.children = parse_nodes(chars, at)?;
            if chars.get(*at) != Some(&']') {
                return Err(format!(
                    "Malformed tree expression: expected `]` at character {}",
                    *at + 1
                ));
            }
            *at += 1;
        }
        if chars.get(*at) == Some(&'{') {
            let close = chars[*at..]
                .iter()
                .position(|c| *c == '}')
                .ok_or("Malformed tree expression: unclosed `{`")?;
            let inner: String = chars[*at + 1..*at + close].iter().collect();
            node.range = Some(parse_range(&inner)?);
            *at += close + 1;
        }
        nodes.push(node);
        if chars.get(*at) == Some(&',') {
            *at += 1;
        } else {
            return Ok(nodes);
        }
    }
}

/// `{M,N}`, `{M,}`, `{,N}` or `{N}` (just element N).
fn parse_range(inner: &str) -> Result<(Option<usize>, Option<usize>), String> {
    let bound = |s: &str| -> Result<Option<usize>, String> {
        let s = s.trim();
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse()
                .map(Some)
                .map_err(|_| format!("Malformed range `{{{inner}}}`: `{s}` is not a number"))
        }
    };
    match inner.split_once(',') {
        Some((from, to)) => Ok((bound(from)?, bound(to)?)),
        None => {
            let n = bound(inner)?.ok_or_else(|| format!("Malformed range `{{{inner}}}`"))?;
            Ok((Some(n), Some(n + 1)))
        }
    }
}

/// Applies the tree to the full job JSON. Returns the body and the number of
/// builds in it. Truncation drops the second half of the selected builds.
fn select(full: &Value, nodes: &[TreeNode], shaping: &Shaping) -> (Value, u64) {
    let mut out = serde_json::Map::new();
    out.insert("_class".into(), full["_class"].clone());
    let mut records = 0;
    for node in nodes {
        let Some(value) = full.get(&node.name) else {
            continue;
        };
        let is_build_list = node.name == "allBuilds" || node.name == "builds";
        let selected = match value {
            Value::Array(items) => {
                let mut items = ranged(items, node.range);
                if is_build_list {
                    if shaping.truncate && items.len() >= 2 {
                        items.truncate(items.len() / 2);
                    }
                    records += items.len() as u64;
                }
                let items = items.into_iter().map(|item| {
                    let filtered = filter(&item, &node.children);
                    if is_build_list {
                        shaping.reshape(filtered)
                    } else {
                        filtered
                    }
                });
                Value::Array(items.collect())
            }
            other => filter(other, &node.children),
        };
        out.insert(node.name.clone(), selected);
    }
    (Value::Object(out), records)
}

fn ranged(items: &[Value], range: Option<(Option<usize>, Option<usize>)>) -> Vec<Value> {
    let (from, to) = range.unwrap_or((None, None));
    let from = from.unwrap_or(0).min(items.len());
    let to = to.unwrap_or(items.len()).clamp(from, items.len());
    items[from..to].to_vec()
}

/// Keeps only the named children (and `_class`), recursively; no children = everything.
fn filter(value: &Value, children: &[TreeNode]) -> Value {
    if children.is_empty() {
        return value.clone();
    }
    match value {
        Value::Object(object) => {
            let mut out = serde_json::Map::new();
            if let Some(class) = object.get("_class") {
                out.insert("_class".into(), class.clone());
            }
            for child in children {
                if let Some(v) = object.get(&child.name) {
                    let v = match v {
                        Value::Array(items) => Value::Array(
                            ranged(items, child.range)
                                .iter()
                                .map(|i| filter(i, &child.children))
                                .collect(),
                        ),
                        other => filter(other, &child.children),
                    };
                    out.insert(child.name.clone(), v);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| filter(i, children)).collect()),
        other => other.clone(),
    }
}

/// The job without `tree`: like Jenkins at depth 0, builds as `{number, url}`.
fn default_view(mut full: Value, shaping: &Shaping) -> (Value, u64) {
    let mut builds: Vec<Value> = full["allBuilds"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .take(BUILDS_CAP)
        .map(|b| json!({"_class": b["_class"], "number": b["number"], "url": b["url"]}))
        .collect();
    if shaping.truncate && builds.len() >= 2 {
        builds.truncate(builds.len() / 2);
    }
    let count = builds.len() as u64;
    let object = full.as_object_mut().expect("job JSON is an object");
    object.remove("allBuilds");
    object.insert(
        "builds".into(),
        Value::Array(builds.into_iter().map(|b| shaping.reshape(b)).collect()),
    );
    (full, count)
}

fn job_json(org: &Organisation, meta: &RequestMeta, job: &JenkinsJob) -> Value {
    let job_url = format!("http://{}/jenkins/job/{}/", meta.host, job.name);
    let builds: Vec<Value> = job
        .builds
        .iter()
        .rev()
        .map(|b| build_json(org, &job_url, job, b))
        .collect();
    let last = job.builds.last();
    json!({
        "_class": "hudson.model.FreeStyleProject",
        "name": job.name,
        "fullName": job.name,
        "displayName": job.name,
        "url": job_url,
        "buildable": true,
        "color": "blue",
        "allBuilds": builds,
        "lastBuild": last.map(|b| json!({"_class": "hudson.model.FreeStyleBuild", "number": b.number, "url": format!("{job_url}{}/", b.number)})),
        "nextBuildNumber": last.map_or(1, |b| b.number + 1),
    })
}

fn build_json(org: &Organisation, job_url: &str, job: &JenkinsJob, b: &JenkinsBuild) -> Value {
    let cause = match b.started_by.as_deref().and_then(|id| org.person(id)) {
        Some(p) => json!({
            "_class": "hudson.model.Cause$UserIdCause",
            "shortDescription": format!("Started by user {}", p.display_name),
            "userId": p.jenkins_user,
            "userName": p.display_name,
        }),
        None => json!({
            "_class": "hudson.triggers.SCMTrigger$SCMTriggerCause",
            "shortDescription": "Started by an SCM change",
        }),
    };
    let mut actions = vec![json!({"_class": "hudson.model.CauseAction", "causes": [cause]})];
    if let Some(sha) = &b.commit {
        actions.push(build_data(job, sha));
    }
    actions.push(json!({"_class": "jenkins.metrics.impl.TimeInQueueAction"}));
    json!({
        "_class": "hudson.model.FreeStyleBuild",
        "number": b.number,
        "id": b.number.to_string(),
        "displayName": format!("#{}", b.number),
        "url": format!("{job_url}{}/", b.number),
        "result": b.result.map(|r| r.as_str()),
        "building": b.building,
        "timestamp": b.started_at.timestamp_millis(),
        "duration": b.duration_ms,
        "estimatedDuration": 300_000,
        "actions": actions,
    })
}

/// The git plugin's build data: the revision the build checked out, as
/// `lastBuiltRevision` with the branch it came from.
fn build_data(job: &JenkinsJob, sha: &str) -> Value {
    json!({
        "_class": "hudson.plugins.git.util.BuildData",
        "buildsByBranchName": {
            "refs/remotes/origin/main": {
                "_class": "hudson.plugins.git.util.Build",
                "revision": {"SHA1": sha, "branch": [{"SHA1": sha, "name": "refs/remotes/origin/main"}]},
            },
        },
        "lastBuiltRevision": {
            "SHA1": sha,
            "branch": [{"SHA1": sha, "name": "refs/remotes/origin/main"}],
        },
        "remoteUrls": [format!("https://github.com/{}.git", job.repo)],
        "scmName": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_expression_an_extractor_sends_parses_with_its_range() {
        let nodes =
            parse_tree("allBuilds[number,result,timestamp,duration,building,actions[causes[userId,userName]]]{10,20}")
                .unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].name, "allBuilds");
        assert_eq!(nodes[0].range, Some((Some(10), Some(20))));
        assert_eq!(nodes[0].children.len(), 6);
        assert_eq!(nodes[0].children[5].children[0].children.len(), 2);
        assert_eq!(
            parse_tree("allBuilds[number]{5,}").unwrap()[0].range,
            Some((Some(5), None))
        );
        assert_eq!(
            parse_tree("allBuilds[number]{,5}").unwrap()[0].range,
            Some((None, Some(5)))
        );
        assert_eq!(
            parse_tree("allBuilds[number]{3}").unwrap()[0].range,
            Some((Some(3), Some(4)))
        );
    }

    #[test]
    fn malformed_tree_expressions_are_rejected() {
        for bad in [
            "allBuilds[number",
            "allBuilds[number]{a,b}",
            "allBuilds[]",
            "allBuilds[number]]",
        ] {
            assert!(parse_tree(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tree_selects_the_built_revision_inside_the_git_build_data_beside_the_causes() {
        let build = json!({"_class": "B", "number": 7, "actions": [
            {"_class": "hudson.model.CauseAction", "causes": [{"_class": "C", "userId": "x", "userName": "X"}]},
            {"_class": "hudson.plugins.git.util.BuildData", "lastBuiltRevision": {"SHA1": "abc", "branch": [{"SHA1": "abc", "name": "refs/remotes/origin/main"}]}, "remoteUrls": ["u"]},
            {"_class": "jenkins.metrics.impl.TimeInQueueAction"}
        ]});
        let nodes = parse_tree(
            "allBuilds[number,actions[causes[userId,userName],lastBuiltRevision[SHA1]]]{0,5}",
        )
        .unwrap();
        assert_eq!(
            filter(&build, &nodes[0].children),
            json!({"_class": "B", "number": 7, "actions": [
                {"_class": "hudson.model.CauseAction", "causes": [{"_class": "C", "userId": "x", "userName": "X"}]},
                {"_class": "hudson.plugins.git.util.BuildData", "lastBuiltRevision": {"SHA1": "abc"}},
                {"_class": "jenkins.metrics.impl.TimeInQueueAction"}
            ]})
        );
    }

    #[test]
    fn filtering_keeps_class_and_the_named_fields_only() {
        let build = json!({"_class": "B", "number": 1, "result": null, "url": "u", "actions": [
            {"_class": "hudson.model.CauseAction", "causes": [{"_class": "C", "userId": "x", "userName": "X", "shortDescription": "s"}]},
            {"_class": "Other"}
        ]});
        let nodes = parse_tree("number,result,actions[causes[userId]]").unwrap();
        assert_eq!(
            filter(&build, &nodes),
            json!({"_class": "B", "number": 1, "result": null, "actions": [
                {"_class": "hudson.model.CauseAction", "causes": [{"_class": "C", "userId": "x"}]},
                {"_class": "Other"}
            ]})
        );
    }
}
