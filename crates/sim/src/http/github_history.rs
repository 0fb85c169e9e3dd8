//! GitHub `GET /repos/{owner}/{repo}/commits`: the default branch's history
//! ([`Repo::main_history`]) as of the clock, newest first, filtered by
//! `sha`, `since` and `until`, paged like the other GitHub lists. The
//! pipeline reads it to decide which deployment contains which merge.

use super::github::{api_base, not_found, paged, repo_api_url, user_json};
use super::{RequestMeta, Served, exchange, fnv_hex, github_time};
use crate::endpoint::Endpoint;
use crate::model::{BOT_LOGIN_SUFFIX, MainCommit, Organisation, Repo};
use crate::state::SimState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

/// The merge button's committer, as GitHub records it.
const WEB_FLOW_LOGIN: &str = "web-flow";
const WEB_FLOW_ID: u64 = 19_864_447;

pub(crate) async fn commits(
    State(state): State<Arc<SimState>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::RepoCommits, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    let now = state.now();
    exchange(&state, meta, |meta, shaping| {
        let api = api_base(meta);
        let Some(repo) = org.repo(&owner, &repo) else {
            return not_found();
        };
        let mut history = repo.main_history();
        history.retain(|c| c.committed_at <= now);
        match meta.param("sha").filter(|s| !s.is_empty()) {
            None => {}
            Some(branch) if branch == "main" || branch == "refs/heads/main" => {}
            Some(sha) => match history.iter().position(|c| c.sha == sha) {
                Some(at) => history.truncate(at + 1),
                None => return not_found(),
            },
        }
        let mut bounds = [None, None];
        for (slot, name) in bounds.iter_mut().zip(["since", "until"]) {
            match meta.param(name).map(|v| parse_time(&v)) {
                None => {}
                Some(Ok(t)) => *slot = Some(t),
                Some(Err(value)) => return invalid_time(name, &value),
            }
        }
        let [since, until] = bounds;
        let items = history
            .iter()
            .rev()
            .filter(|c| since.is_none_or(|s| c.committed_at >= s))
            .filter(|c| until.is_none_or(|u| c.committed_at <= u))
            .map(|c| commit_json(&api, meta, org, repo, c))
            .collect();
        paged(meta, shaping, items)
    })
    .await
}

/// An ISO 8601 instant (`2026-03-01T12:00:00Z`, any offset) or a date
/// (midnight UTC); the offending value otherwise.
fn parse_time(value: &str) -> Result<DateTime<Utc>, String> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.to_utc());
    }
    value
        .parse::<chrono::NaiveDate>()
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| value.to_owned())
}

fn invalid_time(field: &str, value: &str) -> Served {
    let body = json!({
        "message": format!("Invalid value for parameter '{field}': {value}"),
        "documentation_url": "https://docs.github.com/rest/commits/commits#list-commits",
        "status": "422",
    });
    Served::json(StatusCode::UNPROCESSABLE_ENTITY, &body, 0)
}

/// Name and e-mail of the author of a main commit.
fn signature(org: &Organisation, login: Option<&str>) -> (String, String) {
    match login {
        None => (
            "Repository Bootstrap".into(),
            "bootstrap@acme.example".into(),
        ),
        Some(login) if login.ends_with(BOT_LOGIN_SUFFIX) => (
            login.to_owned(),
            format!("{login}@users.noreply.github.com"),
        ),
        Some(login) => org
            .people
            .iter()
            .find(|p| p.github_login == login)
            .map_or_else(
                || {
                    (
                        login.to_owned(),
                        format!("{login}@users.noreply.github.com"),
                    )
                },
                |p| {
                    let email = format!("{}+{}@users.noreply.github.com", p.github_id, login);
                    (p.display_name.clone(), email)
                },
            ),
    }
}

fn commit_json(
    api: &str,
    meta: &RequestMeta,
    org: &Organisation,
    repo: &Repo,
    c: &MainCommit,
) -> Value {
    let repo_url = repo_api_url(api, repo);
    let html = format!("http://{}/{}", meta.host, repo.full_name());
    let date = github_time(c.committed_at);
    let (name, email) = signature(org, c.author_login.as_deref());
    let tree = format!(
        "{}{}",
        fnv_hex(c.sha.as_bytes()),
        &c.sha[..c.sha.len().min(24)]
    );
    let committer = if c.author_login.is_some() {
        json!({"name": "GitHub", "email": "noreply@github.com", "date": date})
    } else {
        json!({"name": name, "email": email, "date": date})
    };
    let web_flow = json!({
        "login": WEB_FLOW_LOGIN,
        "id": WEB_FLOW_ID,
        "url": format!("{api}/users/{WEB_FLOW_LOGIN}"),
        "type": "User",
        "site_admin": false,
    });
    json!({
        "sha": c.sha,
        "node_id": format!("C_{}", &c.sha[..c.sha.len().min(20)]),
        "commit": {
            "author": {"name": name, "email": email, "date": date},
            "committer": committer,
            "message": c.message,
            "tree": {"sha": tree, "url": format!("{repo_url}/git/trees/{tree}")},
            "url": format!("{repo_url}/git/commits/{}", c.sha),
            "comment_count": 0,
        },
        "url": format!("{repo_url}/commits/{}", c.sha),
        "html_url": format!("{html}/commit/{}", c.sha),
        "comments_url": format!("{repo_url}/commits/{}/comments", c.sha),
        "author": c.author_login.as_deref().map(|l| user_json(api, org, l)),
        "committer": if c.author_login.is_some() { web_flow } else { Value::Null },
        "parents": c.parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{repo_url}/commits/{p}"),
            "html_url": format!("{html}/commit/{p}"),
        })).collect::<Vec<_>>(),
    })
}
