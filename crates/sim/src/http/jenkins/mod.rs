//! Jenkins `GET /job/{name}/api/json` (and nested `/job/{folder}/job/{name}`
//! in the folders flavour), with the `tree` parameter's field selection and
//! `{M,N}` ranges (M inclusive, N exclusive), builds newest first,
//! `result: null` while `building: true`; `GET /whoAmI/api/json`; and, when
//! `jenkins_token` is set, a 401 for any other credentials.

use super::{RequestMeta, Served, Shaping, exchange};
use crate::endpoint::Endpoint;
use crate::model::{
    FEATURE_BRANCH_JOB, JenkinsBuild, JenkinsFlavour, JenkinsJob, JobKind, MAIN_BRANCH_JOB,
    Organisation,
};
use crate::state::SimState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use dorafleet_core::Source;
use serde_json::{Value, json};
use std::sync::Arc;

mod tree;
use tree::*;

/// Jenkins caps `builds` (but not `allBuilds`) at 100.
const BUILDS_CAP: usize = 100;

/// `GET /jenkins/job/{a}/job/{b}…/api/json`: a job addressed by its path.
/// Flat: `/job/{job}`. Folders: `/job/{team}` (the team's folder),
/// `/job/{team}/job/{ci job}`, `/job/{team}/job/{deploy job}` (a multibranch
/// project listing its branch jobs) and its branch jobs
/// `/job/{team}/job/{deploy job}/job/{branch}`.
pub(crate) async fn job(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_credentials(&state, &headers) {
        return refused;
    }
    let path = job_path_of(uri.path());
    let flavour = state.options().jenkins_flavour;
    let meta = RequestMeta::new(&state, Endpoint::JenkinsBuilds, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    exchange(&state, meta, |meta, shaping| {
        let Some(full) = path.and_then(|path| resolve(org, meta, flavour, &path)) else {
            return Served::error(Source::Jenkins, StatusCode::NOT_FOUND, "Not Found");
        };
        let tree = match meta.param("tree").map(|t| parse_tree(&t)).transpose() {
            Ok(tree) => tree,
            Err(problem) => {
                return Served::error(Source::Jenkins, StatusCode::BAD_REQUEST, &problem);
            }
        };
        let (body, records) = match tree {
            Some(nodes) => select(&full, &nodes, shaping),
            None => default_view(full, shaping),
        };
        Served::json(StatusCode::OK, &body, records)
    })
    .await
}

/// `GET /jenkins/whoAmI/api/json`: who the credentials authenticate as.
pub(crate) async fn who_am_i(State(state): State<Arc<SimState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_credentials(&state, &headers) {
        return refused;
    }
    let user = basic_user(&headers);
    let body = json!({
        "_class": "hudson.security.WhoAmI",
        "anonymous": user.is_none(),
        "authenticated": true,
        "authorities": if user.is_some() { json!(["authenticated"]) } else { json!([]) },
        "name": user.unwrap_or_else(|| "anonymous".to_owned()),
    });
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert("x-jenkins", HeaderValue::from_static(JENKINS_VERSION));
    response
}

/// The version the simulated Jenkins reports in `X-Jenkins`.
const JENKINS_VERSION: &str = "2.462.3";

/// A 401 like Jenkins sends it for a wrong API token, when the simulator
/// checks tokens (`jenkins_token`) and the request's is not it.
fn refuse_credentials(state: &SimState, headers: &HeaderMap) -> Option<Response> {
    let expected = state.options().jenkins_token.as_deref()?;
    let given = credentials(headers);
    if given.as_ref().is_some_and(|(_, token)| token == expected) {
        return None;
    }
    let user = given.map_or_else(|| "anonymous".to_owned(), |(user, _)| user);
    let message = format!("Invalid password/token for user: {user}");
    let body = format!(
        "<html><head><title>Error 401 {message}</title></head><body><h2>HTTP ERROR 401 {message}</h2></body></html>"
    );
    let mut response = (StatusCode::UNAUTHORIZED, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html;charset=utf-8"),
    );
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Jenkins\""),
    );
    headers.insert("x-jenkins", HeaderValue::from_static(JENKINS_VERSION));
    Some(response)
}

/// `(user, token)` of basic auth, or `("", token)` of a bearer token.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some((String::new(), token.trim().to_owned()));
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64_decode(encoded.trim())?;
    let (user, token) = decoded.split_once(':')?;
    Some((user.to_owned(), token.to_owned()))
}

fn basic_user(headers: &HeaderMap) -> Option<String> {
    credentials(headers)
        .map(|(user, _)| user)
        .filter(|u| !u.is_empty())
}

/// Standard base64 (with padding), enough for `Authorization: Basic`.
fn base64_decode(text: &str) -> Option<String> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The job names of a request path `/jenkins/job/a/job/b/api/json`, each
/// percent-decoded once; `None` unless it is that shape.
fn job_path_of(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix("/jenkins/")?.strip_suffix("/api/json")?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.is_empty() || !parts.len().is_multiple_of(2) {
        return None;
    }
    parts
        .chunks(2)
        .map(|pair| (pair[0] == "job" && !pair[1].is_empty()).then(|| decode(pair[1])))
        .collect()
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON of what `path` names in `flavour`, if anything.
fn resolve(
    org: &Organisation,
    meta: &RequestMeta,
    flavour: JenkinsFlavour,
    path: &[String],
) -> Option<Value> {
    let base = format!("http://{}/jenkins", meta.host);
    let url_of = |names: &[&str]| {
        let mut url = base.clone();
        for name in names {
            url.push_str("/job/");
            url.push_str(&encode(name));
        }
        url.push('/');
        url
    };
    match (flavour, path) {
        (JenkinsFlavour::Flat, [name]) => {
            let job = org.job(name)?;
            Some(job_json(org, &url_of(&[name]), job, &job.builds, FREESTYLE))
        }
        (JenkinsFlavour::Folders, [team]) => {
            let jobs: Vec<Value> = org
                .jenkins_jobs
                .iter()
                .filter(|j| &j.team == team)
                .map(|j| {
                    let class = match j.kind {
                        JobKind::Deploy => crate::model::MULTIBRANCH_CLASS,
                        JobKind::Ci => FREESTYLE,
                    };
                    json!({"_class": class, "name": j.name, "url": url_of(&[team, &j.name])})
                })
                .collect();
            (!jobs.is_empty()).then(|| {
                json!({
                    "_class": "com.cloudbees.hudson.plugins.folder.Folder",
                    "name": team, "fullName": team, "url": url_of(&[team]), "jobs": jobs,
                })
            })
        }
        (JenkinsFlavour::Folders, [team, name]) => {
            let job = org.job(name).filter(|j| &j.team == team)?;
            let url = url_of(&[team, name]);
            match job.kind {
                JobKind::Ci => Some(job_json(org, &url, job, &job.builds, FREESTYLE)),
                JobKind::Deploy => {
                    let branches: Vec<Value> = [MAIN_BRANCH_JOB, FEATURE_BRANCH_JOB]
                        .iter()
                        .map(|branch| {
                            json!({
                                "_class": WORKFLOW_JOB,
                                "name": branch,
                                "url": url_of(&[team, name, branch]),
                                "color": "blue",
                            })
                        })
                        .collect();
                    Some(json!({
                    "_class": crate::model::MULTIBRANCH_CLASS,
                    "name": name,
                    "fullName": format!("{team}/{name}"),
                    "displayName": name,
                    "url": url,
                    "jobs": branches,
                    }))
                }
            }
        }
        (JenkinsFlavour::Folders, [team, name, branch]) => {
            let job = org
                .job(name)
                .filter(|j| &j.team == team && j.kind == JobKind::Deploy)?;
            let url = url_of(&[team, name, branch]);
            match branch.as_str() {
                MAIN_BRANCH_JOB => Some(job_json(org, &url, job, &job.builds, WORKFLOW_JOB)),
                FEATURE_BRANCH_JOB => Some(job_json(
                    org,
                    &url,
                    job,
                    &job.feature_branch_builds(),
                    WORKFLOW_JOB,
                )),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A job name as a URL path segment (`%` too: `feature%2Fx` → `feature%252Fx`).
fn encode(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const FREESTYLE: &str = "hudson.model.FreeStyleProject";
const WORKFLOW_JOB: &str = "org.jenkinsci.plugins.workflow.job.WorkflowJob";

fn job_json(
    org: &Organisation,
    job_url: &str,
    job: &JenkinsJob,
    builds: &[JenkinsBuild],
    class: &str,
) -> Value {
    let name = job_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .map_or_else(|| job.name.clone(), decode);
    let builds_json: Vec<Value> = builds
        .iter()
        .rev()
        .map(|b| build_json(org, job_url, job, b))
        .collect();
    let last = builds.last();
    json!({
        "_class": class,
        "name": name,
        "fullName": name,
        "displayName": name,
        "url": job_url,
        "buildable": true,
        "color": "blue",
        "allBuilds": builds_json,
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
