//! Jira endpoints. Cloud (the default flavour): the enhanced search
//! `/rest/api/3/search/jql` (cursor `nextPageToken`, `isLast`, no `total`),
//! an issue's changelog, and the old `/rest/api/3/search` and
//! `/rest/api/2/search`, which answer 410 Gone like the real service since
//! 2025. Data Center (`jira_flavour = "datacenter"`): `/rest/api/2/search`
//! paged by `startAt`/`maxResults` with a `total`, an issue with its whole
//! changelog (`/rest/api/2/issue/{key}?expand=changelog`), and nothing
//! under `/rest/api/3` (404). Both: `/rest/api/2/serverInfo`
//! (`deploymentType` `Cloud` or `DataCenter`) and `/myself`, whose
//! `timeZone` is the configured `jira_user_time_zone`, the zone JQL date
//! literals are read in.
//! Status, resolution date and changelog are those of the view as of the
//! simulator's clock: a reopened issue shows `Reopened` and no resolution.

use super::jql::Jql;
use super::{RequestMeta, Served, Shaping, exchange, jira_time, positive};
use crate::endpoint::Endpoint;
use crate::model::{IN_PROGRESS, JiraIssue, Organisation, REOPENED, TO_DO};
use crate::options::JiraFlavour;
use crate::state::SimState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use chrono_tz::Tz;
use dorafleet_core::Source;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

mod datacenter;
pub(crate) use datacenter::{issue, myself, search_v2, server_info};

const DEFAULT_MAX_RESULTS: usize = 50;
const MAX_RESULTS: usize = 100;
const UNBOUNDED: &str =
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.";
const GONE: &str = "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046";
/// Page tokens are opaque to clients; this keeps them from looking like offsets.
const TOKEN_SALT: u64 = 0x5EED_CAFE;

/// The POST body of `/search/jql`; GET sends the same as query parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    #[serde(default)]
    jql: Option<String>,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    max_results: Option<usize>,
    #[serde(default)]
    fields: Option<Vec<String>>,
}

pub(crate) async fn search_jql(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::JiraSearch, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    let (flavour, zone) = dialect(&state);
    exchange(&state, meta, |meta, shaping| {
        if flavour == JiraFlavour::Datacenter {
            return not_found();
        }
        let request = match search_request(meta, &body) {
            Ok(r) => r,
            Err(message) => return bad_request(&message),
        };
        search(org, meta, shaping, request, zone)
    })
    .await
}

fn search_request(meta: &RequestMeta, body: &[u8]) -> Result<SearchRequest, String> {
    if meta.method == Method::POST {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(SearchRequest::default());
        }
        return serde_json::from_slice(body).map_err(|e| format!("Invalid request payload: {e}"));
    }
    let max_results =
        match meta.param("maxResults") {
            Some(v) => Some(v.trim().parse().map_err(|_| {
                format!("The value '{v}' is invalid for the parameter 'maxResults'.")
            })?),
            None => None,
        };
    Ok(SearchRequest {
        jql: meta.param("jql"),
        next_page_token: meta.param("nextPageToken").filter(|t| !t.is_empty()),
        max_results,
        fields: meta
            .param("fields")
            .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect()),
    })
}

/// A JQL both endpoints accept: it parses, names known projects only and
/// is bounded; otherwise the message of Jira's 400 answer.
fn accepted_jql(org: &Organisation, text: Option<&str>, zone: Tz) -> Result<Jql, String> {
    let jql = Jql::parse_in(text.unwrap_or(""), zone).map_err(|e| e.0)?;
    if let Some(unknown) = jql.projects().find(|key| {
        !org.jira_projects
            .iter()
            .any(|p| p.key.eq_ignore_ascii_case(key))
    }) {
        return Err(format!(
            "The value '{unknown}' does not exist for the field 'project'."
        ));
    }
    if !jql.is_bounded() {
        return Err(UNBOUNDED.to_owned());
    }
    Ok(jql)
}

/// `POST /rest/api/3/search/approximate-count` with `{"jql": …}`: how many
/// issues the JQL matches, as `{"count": N}`. Exact here; Jira's may lag.
pub(crate) async fn approximate_count(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let meta = RequestMeta::new(
        &state,
        Endpoint::JiraApproximateCount,
        method,
        &uri,
        headers,
    );
    let view = state.organisation();
    let org: &Organisation = &view;
    let (flavour, zone) = dialect(&state);
    exchange(&state, meta, |_, _| {
        if flavour == JiraFlavour::Datacenter {
            return not_found();
        }
        #[derive(Deserialize)]
        struct CountRequest {
            #[serde(default)]
            jql: Option<String>,
        }
        let request: CountRequest = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return bad_request(&format!("Invalid request payload: {e}")),
        };
        let jql = match accepted_jql(org, request.jql.as_deref(), zone) {
            Ok(jql) => jql,
            Err(message) => return bad_request(&message),
        };
        let count = org
            .jira_projects
            .iter()
            .flat_map(|p| &p.issues)
            .filter(|i| jql.matches(i))
            .count();
        Served::json(StatusCode::OK, &json!({ "count": count }), 0)
    })
    .await
}

fn search(
    org: &Organisation,
    meta: &RequestMeta,
    shaping: &Shaping,
    request: SearchRequest,
    zone: Tz,
) -> Served {
    let jql = match accepted_jql(org, request.jql.as_deref(), zone) {
        Ok(jql) => jql,
        Err(message) => return bad_request(&message),
    };
    let offset = match request.next_page_token.as_deref().map(decode_token) {
        None => 0,
        Some(Some(offset)) => offset,
        Some(None) => return bad_request("The provided next page token is invalid or expired."),
    };
    let max_results = request
        .max_results
        .unwrap_or(DEFAULT_MAX_RESULTS)
        .clamp(1, MAX_RESULTS);
    let mut issues: Vec<&JiraIssue> = org
        .jira_projects
        .iter()
        .flat_map(|p| &p.issues)
        .filter(|i| jql.matches(i))
        .collect();
    issues.sort_by(|a, b| jql.compare(a, b));
    let page: Vec<Value> = issues
        .iter()
        .skip(offset)
        .take(max_results)
        .map(|i| shaping.reshape(issue_json(org, meta, i, request.fields.as_deref())))
        .collect();
    let step = if shaping.truncate { 2 } else { 1 } * max_results;
    let next = offset + step;
    let is_last = offset + max_results >= issues.len() || next >= issues.len();
    let count = page.len() as u64;
    let mut body = json!({"issues": page, "isLast": is_last});
    if !is_last {
        body["nextPageToken"] = Value::String(encode_token(next));
    }
    Served::json(StatusCode::OK, &body, count)
}

fn encode_token(offset: usize) -> String {
    format!("CiA{:x}", offset as u64 ^ TOKEN_SALT)
}

fn decode_token(token: &str) -> Option<usize> {
    let hex = token.strip_prefix("CiA")?;
    u64::from_str_radix(hex, 16)
        .ok()
        .map(|v| (v ^ TOKEN_SALT) as usize)
}

pub(crate) async fn changelog(
    State(state): State<Arc<SimState>>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::JiraChangelog, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    let (flavour, _) = dialect(&state);
    exchange(&state, meta, |meta, shaping| {
        if flavour == JiraFlavour::Datacenter {
            return not_found();
        }
        let Some(issue) = org.issue(&key) else {
            return Served::error(
                Source::Jira,
                StatusCode::NOT_FOUND,
                "Issue does not exist or you do not have permission to see it.",
            );
        };
        let start_at = meta
            .param("startAt")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let max_results = positive(meta.param("maxResults"), MAX_RESULTS).min(MAX_RESULTS);
        let values: Vec<Value> = histories(org, meta, shaping, issue)
            .into_iter()
            .skip(start_at)
            .take(max_results)
            .collect();
        let total = issue.transitions.len();
        // Offset paging cannot skip silently; a truncated answer claims to be the last.
        let is_last = start_at + max_results >= total || shaping.truncate;
        let count = values.len() as u64;
        let body = json!({
            "self": meta.url_with_query(meta.query.as_deref().unwrap_or("")),
            "maxResults": max_results,
            "startAt": start_at,
            "total": total,
            "isLast": is_last,
            "values": values,
        });
        Served::json(StatusCode::OK, &body, count)
    })
    .await
}

/// An issue's change groups, oldest first, as Jira shows them.
fn histories(
    org: &Organisation,
    meta: &RequestMeta,
    shaping: &Shaping,
    issue: &JiraIssue,
) -> Vec<Value> {
    issue
        .transitions
        .iter()
        .map(|t| {
            shaping.reshape(json!({
                "id": t.id.to_string(),
                "author": user_json(org, meta, &t.author),
                "created": jira_time(t.at),
                "items": [{
                    "field": "status",
                    "fieldtype": "jira",
                    "fieldId": "status",
                    "from": status_id(&t.from),
                    "fromString": t.from,
                    "to": status_id(&t.to),
                    "toString": t.to,
                }],
            }))
        })
        .collect()
}

pub(crate) async fn old_search(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::JiraOldSearch, method, &uri, headers);
    let (flavour, _) = dialect(&state);
    exchange(&state, meta, |_, _| match flavour {
        JiraFlavour::Cloud => Served::error(Source::Jira, StatusCode::GONE, GONE),
        JiraFlavour::Datacenter => not_found(),
    })
    .await
}

/// The flavour served and the API user's time zone.
fn dialect(state: &SimState) -> (JiraFlavour, Tz) {
    let options = state.options();
    (options.jira_flavour, options.jira_user_time_zone)
}

/// What a path the flavour does not serve answers.
fn not_found() -> Served {
    Served::error(
        Source::Jira,
        StatusCode::NOT_FOUND,
        "The requested resource could not be found.",
    )
}

fn bad_request(message: &str) -> Served {
    Served::error(Source::Jira, StatusCode::BAD_REQUEST, message)
}

fn api_base(meta: &RequestMeta) -> String {
    let version = if meta.path.contains("/rest/api/2/") {
        "2"
    } else {
        "3"
    };
    format!("http://{}/jira/rest/api/{version}", meta.host)
}

fn status_id(status: &str) -> &'static str {
    match status {
        TO_DO => "10000",
        IN_PROGRESS => "3",
        REOPENED => "4",
        _ => "10001",
    }
}

fn user_json(org: &Organisation, meta: &RequestMeta, contributor_id: &str) -> Value {
    let Some(person) = org.person(contributor_id) else {
        return Value::Null;
    };
    json!({
        "self": format!("{}/user?accountId={}", api_base(meta), person.jira_account_id),
        "accountId": person.jira_account_id,
        "emailAddress": person.jira_email,
        "displayName": person.display_name,
        "active": true,
        "timeZone": "Etc/GMT",
        "accountType": "atlassian",
    })
}

/// The issue with all fields, or only those `fields` names (`*all` and
/// `*navigable` mean all; `-name` excludes one).
fn issue_json(
    org: &Organisation,
    meta: &RequestMeta,
    issue: &JiraIssue,
    fields: Option<&[String]>,
) -> Value {
    let api = api_base(meta);
    let project = org
        .jira_projects
        .iter()
        .find(|p| p.key == issue.project_key);
    let status = issue.status();
    let (category_key, category_name, category_id) = match status {
        TO_DO => ("new", "To Do", 2),
        IN_PROGRESS | REOPENED => ("indeterminate", "In Progress", 4),
        _ => ("done", "Done", 3),
    };
    let type_id = match issue.issue_type.as_str() {
        "Story" => "10001",
        "Task" => "10002",
        "Bug" => "10004",
        _ => "10010",
    };
    let all = json!({
        "summary": issue.summary,
        "issuetype": {
            "self": format!("{api}/issuetype/{type_id}"),
            "id": type_id,
            "name": issue.issue_type,
            "subtask": false,
        },
        "priority": {
            "self": format!("{api}/priority/{}", &issue.priority[1..]),
            "id": &issue.priority[1..],
            "name": issue.priority,
        },
        "status": {
            "self": format!("{api}/status/{}", status_id(status)),
            "id": status_id(status),
            "name": status,
            "statusCategory": {"id": category_id, "key": category_key, "name": category_name},
        },
        "project": {
            "self": format!("{api}/project/{}", project.map_or(0, |p| p.id)),
            "id": project.map_or(0, |p| p.id).to_string(),
            "key": issue.project_key,
            "name": project.map_or("", |p| p.name.as_str()),
            "projectTypeKey": "software",
        },
        "created": jira_time(issue.created),
        "updated": jira_time(issue.updated()),
        "resolutiondate": issue.resolved.map(jira_time),
        "resolution": issue.resolved.map(|_| json!({"id": "10000", "name": "Done"})),
        "reporter": user_json(org, meta, &issue.reporter),
        "assignee": issue.assignee.as_deref().map_or(Value::Null, |a| user_json(org, meta, a)),
    });
    let Value::Object(all) = all else {
        unreachable!("built as an object")
    };
    json!({
        "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
        "id": issue.id.to_string(),
        "self": format!("{api}/issue/{}", issue.id),
        "key": issue.key,
        "fields": select_fields(all, fields),
    })
}

fn select_fields(all: Map<String, Value>, wanted: Option<&[String]>) -> Map<String, Value> {
    let Some(wanted) = wanted else {
        return all;
    };
    let everything = wanted.iter().any(|f| f == "*all" || f == "*navigable");
    all.into_iter()
        .filter(|(name, _)| {
            let excluded = wanted
                .iter()
                .any(|f| f.strip_prefix('-') == Some(name.as_str()));
            !excluded && (everything || wanted.iter().any(|f| f == name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_garbage_is_rejected() {
        for offset in [0, 50, 12345] {
            assert_eq!(decode_token(&encode_token(offset)), Some(offset));
        }
        assert_eq!(decode_token("50"), None);
        assert_eq!(decode_token("CiAzz"), None);
    }

    #[test]
    fn field_selection_keeps_only_the_named_fields_unless_all_are_asked_for() {
        let all: Map<String, Value> =
            serde_json::from_value(json!({"summary": 1, "created": 2, "updated": 3})).unwrap();
        let pick = |f: &[&str]| {
            let f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
            let mut keys: Vec<String> = select_fields(all.clone(), Some(&f))
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        assert_eq!(pick(&["created", "nonsense"]), vec!["created"]);
        assert_eq!(pick(&["*all", "-summary"]), vec!["created", "updated"]);
        assert_eq!(select_fields(all.clone(), None).len(), 3);
    }
}
