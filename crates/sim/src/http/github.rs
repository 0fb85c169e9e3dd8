//! GitHub REST endpoints: pulls, pull commits, deployments, deployment
//! statuses (the default branch's commits are in `github_history`), with GitHub's page-number pagination and `Link` header, its
//! `x-ratelimit-*` headers and hourly budget, and ETags with 304s.
//!
//! As GitHub Enterprise Server (`github_flavour = enterprise`) the same
//! answers come from below `/api/v3`, with URLs that say so, and rate
//! limiting is disabled: no hourly budget, and no `x-ratelimit-*` header
//! (or `0/0`, `github_zero_rate_limits`). Secondary rate limits (403 with
//! GitHub's message) come from the `secondary` fault in either flavour.

use super::{RequestMeta, Served, Shaping, exchange, github_time, positive};
use crate::endpoint::Endpoint;
use crate::model::{Commit, GithubDeployment, Organisation, PullRequest, Repo};
use crate::options::GithubFlavour;
use crate::state::SimState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use dorafleet_core::Source;
use serde_json::{Value, json};
use std::cmp::Reverse;
use std::sync::Arc;

const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 100;

pub(crate) async fn pulls(
    State(state): State<Arc<SimState>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::Pulls, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    exchange(&state, meta, |meta, shaping| {
        let api = api_base(meta);
        let Some(repo) = org.repo(&owner, &repo) else {
            return not_found();
        };
        let state_filter = meta.param("state").unwrap_or_else(|| "open".into());
        let sort = meta.param("sort").unwrap_or_else(|| "created".into());
        let direction = meta
            .param("direction")
            .unwrap_or_else(|| if sort == "created" { "desc" } else { "asc" }.into());
        if !["open", "closed", "all"].contains(&state_filter.as_str()) {
            return validation_failed("state", &state_filter);
        }
        if !["created", "updated", "popularity", "long-running"].contains(&sort.as_str()) {
            return validation_failed("sort", &sort);
        }
        if !["asc", "desc"].contains(&direction.as_str()) {
            return validation_failed("direction", &direction);
        }
        let mut selected: Vec<&PullRequest> = repo
            .pulls
            .iter()
            .filter(|p| match state_filter.as_str() {
                "open" => p.is_open(),
                "closed" => !p.is_open(),
                _ => true,
            })
            .collect();
        match sort.as_str() {
            "updated" => selected.sort_by_key(|p| (p.updated_at, p.number)),
            _ => selected.sort_by_key(|p| (p.created_at, p.number)),
        }
        if direction == "desc" {
            selected.reverse();
        }
        let items = selected
            .iter()
            .map(|p| pull_json(&api, org, repo, p))
            .collect();
        paged(meta, shaping, items)
    })
    .await
}

pub(crate) async fn pull_commits(
    State(state): State<Arc<SimState>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::PullCommits, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    exchange(&state, meta, |meta, shaping| {
        let api = api_base(meta);
        let found = org.repo(&owner, &repo).and_then(|r| {
            let n: u64 = number.parse().ok()?;
            r.pulls.iter().find(|p| p.number == n).map(|p| (r, p))
        });
        let Some((repo, pull)) = found else {
            return not_found();
        };
        let items = pull
            .commits
            .iter()
            .map(|c| commit_json(&api, org, repo, c))
            .collect();
        paged(meta, shaping, items)
    })
    .await
}

pub(crate) async fn deployments(
    State(state): State<Arc<SimState>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::Deployments, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    exchange(&state, meta, |meta, shaping| {
        let api = api_base(meta);
        let Some(repo) = org.repo(&owner, &repo) else {
            return not_found();
        };
        let environment = meta.param("environment");
        let sha = meta.param("sha");
        let git_ref = meta.param("ref");
        let mut selected: Vec<&GithubDeployment> = repo
            .deployments
            .iter()
            .filter(|d| environment.as_ref().is_none_or(|e| *e == d.environment))
            .filter(|d| sha.as_ref().is_none_or(|s| *s == d.sha))
            .filter(|d| git_ref.as_ref().is_none_or(|r| *r == d.ref_name))
            .collect();
        selected.sort_by_key(|d| Reverse((d.created_at, d.id)));
        let items = selected
            .iter()
            .map(|d| deployment_json(&api, org, repo, d))
            .collect();
        paged(meta, shaping, items)
    })
    .await
}

pub(crate) async fn deployment_statuses(
    State(state): State<Arc<SimState>>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::DeploymentStatuses, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    exchange(&state, meta, |meta, shaping| {
        let api = api_base(meta);
        let found = org.repo(&owner, &repo).and_then(|r| {
            let id: u64 = id.parse().ok()?;
            r.deployments.iter().find(|d| d.id == id).map(|d| (r, d))
        });
        let Some((repo, deployment)) = found else {
            return not_found();
        };
        let mut statuses: Vec<_> = deployment.statuses.iter().collect();
        statuses.sort_by_key(|s| Reverse((s.created_at, s.id)));
        let repo_url = repo_api_url(&api, repo);
        let items = statuses
            .iter()
            .map(|s| {
                json!({
                    "url": format!("{repo_url}/deployments/{}/statuses/{}", deployment.id, s.id),
                    "id": s.id,
                    "node_id": format!("DES_{}", s.id),
                    "state": s.state,
                    "creator": user_json(&api, org, &s.creator_login),
                    "description": "",
                    "environment": deployment.environment,
                    "target_url": "",
                    "log_url": "",
                    "created_at": github_time(s.created_at),
                    "updated_at": github_time(s.created_at),
                    "deployment_url": format!("{repo_url}/deployments/{}", deployment.id),
                    "repository_url": repo_url,
                })
            })
            .collect();
        paged(meta, shaping, items)
    })
    .await
}

/// One page of `items` with GitHub's `Link` header.
pub(super) fn paged(meta: &RequestMeta, shaping: &Shaping, items: Vec<Value>) -> Served {
    let per_page = positive(meta.param("per_page"), DEFAULT_PER_PAGE).min(MAX_PER_PAGE);
    let page = positive(meta.param("page"), 1);
    let last = items.len().div_ceil(per_page).max(1);
    let records: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|r| shaping.reshape(r))
        .collect();
    let count = records.len() as u64;
    let mut served = Served::json(StatusCode::OK, &Value::Array(records), count);
    if let Some(link) = link_header(meta, page, last, shaping.truncate) {
        served.header("link", link);
    }
    served
}

/// `Link` as GitHub sends it: prev, next, last, first, each only when it applies.
/// Truncation makes `next` skip a page, which the client cannot tell.
fn link_header(meta: &RequestMeta, page: usize, last: usize, truncate: bool) -> Option<String> {
    let url = |n: usize| {
        let mut parts: Vec<&str> = meta
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("page="))
            .collect();
        let page_param = format!("page={n}");
        parts.push(&page_param);
        meta.url_with_query(&parts.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", url(page - 1)));
    }
    if page < last {
        let next = if truncate { page + 2 } else { page + 1 };
        links.push(format!("<{}>; rel=\"next\"", url(next)));
        links.push(format!("<{}>; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"first\"", url(1)));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

/// Whose hourly budget a request spends: its token's
/// [`credential_id`](crate::credential_id), or `anonymous`.
fn budget_key(meta: &RequestMeta) -> String {
    crate::request_log::presented_token(&meta.headers)
        .map_or_else(|| "anonymous".to_owned(), |t| crate::credential_id(&t))
}

/// What GitHub answers before it looks at a request: 401 to an installation
/// token (`ghs_…`) it did not mint or that has expired, when a GitHub App
/// is simulated; the 403 once the token's hourly budget is spent (neither
/// counted itself).
pub(crate) fn budget_exhausted(state: &SimState, meta: &RequestMeta) -> Option<Served> {
    if let Some(refused) = super::github_app::refuse_stale_installation_token(state, meta) {
        return Some(refused);
    }
    if state.options().github_flavour == GithubFlavour::Enterprise {
        return None;
    }
    let budget = state.github_budget(&budget_key(meta), meta.at, false);
    if budget.remaining() > 0 {
        return None;
    }
    let mut served = Served::error(
        Source::Github,
        StatusCode::FORBIDDEN,
        "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
    );
    add_rate_limit_headers(&mut served, budget);
    Some(served)
}

/// ETag / `If-None-Match` and the `x-ratelimit-*` headers of the request's
/// credential. A 304 does not count against the budget, like on GitHub. The
/// ETag depends on the content only, not on the token that asked.
///
/// The ETag is a SHA-256 of exactly what the client would read — the body
/// and the `Link` header — so any change in the world (an item added,
/// updated or gone, a page boundary moved) gives a new one, and a 304 means
/// the stored page is what would have been served. It is written weak
/// (`W/"…"`) as GitHub writes the ETags of its JSON lists; `If-None-Match`
/// compares weakly, as RFC 9110 §13.1.2 says it must.
pub(crate) fn finish_response(state: &SimState, meta: &RequestMeta, mut served: Served) -> Served {
    if served.status == StatusCode::OK {
        let etag = format!("W/\"{}\"", content_hash(&served));
        if if_none_match(&meta.headers, &etag) {
            served.status = StatusCode::NOT_MODIFIED;
            served.body.clear();
            served.records = 0;
            served.headers.remove(header::CONTENT_TYPE);
        }
        served.header("etag", etag);
    }
    let options = state.options();
    match options.github_flavour {
        GithubFlavour::Cloud => {
            let spend = served.status != StatusCode::NOT_MODIFIED;
            let budget = state.github_budget(&budget_key(meta), meta.at, spend);
            add_rate_limit_headers(&mut served, budget);
        }
        GithubFlavour::Enterprise if options.github_zero_rate_limits => {
            served.header("x-ratelimit-limit", 0);
            served.header("x-ratelimit-remaining", 0);
            served.header("x-ratelimit-reset", 0);
            served.header("x-ratelimit-used", 0);
        }
        GithubFlavour::Enterprise => {}
    }
    served
}

/// GitHub's secondary rate limit: a 403 with its message, and
/// `Retry-After` when the fault names one.
pub(crate) fn secondary_rate_limited(retry_after_secs: Option<u64>) -> Served {
    let body = json!({
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:1111:2222:3333:44444444.",
        "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
        "status": "403",
    });
    let mut served = Served::json(StatusCode::FORBIDDEN, &body, 0);
    if let Some(secs) = retry_after_secs {
        served.header("retry-after", secs);
    }
    served
}

/// SHA-256 (hex) of the body and the `Link` header of a response.
fn content_hash(served: &Served) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(&served.body);
    hash.update([0]);
    if let Some(link) = served.headers.get(header::LINK) {
        hash.update(link.as_bytes());
    }
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == opaque(etag))
}

fn add_rate_limit_headers(served: &mut Served, budget: crate::state::HourlyBudget) {
    served.header("x-ratelimit-limit", budget.limit);
    served.header("x-ratelimit-remaining", budget.remaining());
    served.header("x-ratelimit-reset", budget.window_end.timestamp());
    served.header("x-ratelimit-used", budget.used);
    served.header("x-ratelimit-resource", "core");
}

/// Where this server's GitHub API lives, as the client addressed it: URLs in
/// bodies point back here (below `/github`, or `/api/v3` as GitHub
/// Enterprise Server), not at api.github.com.
pub(super) fn api_base(meta: &RequestMeta) -> String {
    let prefix = meta
        .path
        .find("/repos/")
        .map_or("/github", |at| &meta.path[..at]);
    format!("http://{}{prefix}", meta.host)
}

pub(super) fn not_found() -> Served {
    Served::error(Source::Github, StatusCode::NOT_FOUND, "Not Found")
}

fn validation_failed(field: &str, value: &str) -> Served {
    let body = json!({
        "message": "Validation Failed",
        "errors": [{"resource": "Search", "field": field, "code": "invalid", "value": value}],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#list-pull-requests",
    });
    Served::json(StatusCode::UNPROCESSABLE_ENTITY, &body, 0)
}

pub(super) fn repo_api_url(api: &str, repo: &Repo) -> String {
    format!("{api}/repos/{}", repo.full_name())
}

/// `{login, id, type}` for a person's or a bot's login.
pub(super) fn user_json(api: &str, org: &Organisation, login: &str) -> Value {
    let (id, kind) = match login {
        "dependabot[bot]" => (49_699_333, "Bot"),
        "github-actions[bot]" => (41_898_282, "Bot"),
        _ => (
            org.people
                .iter()
                .find(|p| p.github_login == login)
                .map_or(1, |p| p.github_id),
            "User",
        ),
    };
    json!({
        "login": login,
        "id": id,
        "url": format!("{api}/users/{login}"),
        "type": kind,
        "site_admin": false,
    })
}

fn pull_json(api: &str, org: &Organisation, repo: &Repo, p: &PullRequest) -> Value {
    let repo_url = repo_api_url(api, repo);
    json!({
        "url": format!("{repo_url}/pulls/{}", p.number),
        "id": 900_000_000 + p.number,
        "number": p.number,
        "state": if p.is_open() { "open" } else { "closed" },
        "locked": false,
        "title": p.title,
        "user": user_json(api, org, &p.author_login),
        "body": null,
        "labels": [],
        "created_at": github_time(p.created_at),
        "updated_at": github_time(p.updated_at),
        "closed_at": p.closed_at.map(github_time),
        "merged_at": p.merged_at.map(github_time),
        "merge_commit_sha": p.merge_commit_sha,
        "assignee": null,
        "draft": false,
        "head": {
            "label": format!("{}:{}", repo.owner, p.head_ref),
            "ref": p.head_ref,
            "sha": p.head_sha(),
        },
        "base": {
            "label": format!("{}:{}", repo.owner, p.base_ref),
            "ref": p.base_ref,
            // The branch tip the PR was opened against; the simulator keeps no
            // history of the base branch, so it stands in with the PR's first commit.
            "sha": p.commits.first().map_or("", |c| c.sha.as_str()),
        },
        "commits_url": format!("{repo_url}/pulls/{}/commits", p.number),
        "author_association": if p.author_login.ends_with("[bot]") { "NONE" } else { "MEMBER" },
    })
}

fn commit_json(api: &str, org: &Organisation, repo: &Repo, c: &Commit) -> Value {
    let signature =
        |at| json!({"name": c.author_name, "email": c.author_email, "date": github_time(at)});
    json!({
        "sha": c.sha,
        "commit": {
            "author": signature(c.authored_at),
            "committer": signature(c.committed_at),
            "message": c.message,
            "comment_count": 0,
        },
        "url": format!("{}/commits/{}", repo_api_url(api, repo), c.sha),
        "author": user_json(api, org, &c.author_login),
        "committer": user_json(api, org, &c.author_login),
        "parents": [],
    })
}

fn deployment_json(api: &str, org: &Organisation, repo: &Repo, d: &GithubDeployment) -> Value {
    let repo_url = repo_api_url(api, repo);
    json!({
        "url": format!("{repo_url}/deployments/{}", d.id),
        "id": d.id,
        "node_id": format!("DE_{}", d.id),
        "sha": d.sha,
        "ref": d.ref_name,
        "task": "deploy",
        "payload": {},
        "original_environment": d.environment,
        "environment": d.environment,
        "description": null,
        "creator": user_json(api, org, &d.creator_login),
        "created_at": github_time(d.created_at),
        "updated_at": github_time(d.updated_at()),
        "statuses_url": format!("{repo_url}/deployments/{}/statuses", d.id),
        "repository_url": repo_url,
        "transient_environment": false,
        "production_environment": d.environment == crate::model::PRODUCTION_ENVIRONMENT,
    })
}
