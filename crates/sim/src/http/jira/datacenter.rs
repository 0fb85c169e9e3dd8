//! The Jira Data Center dialect and what both dialects answer about the
//! server and its user: `/rest/api/2/search` paged by `startAt` with a
//! `total`, an issue with its whole changelog, `serverInfo` and `/myself`.
//! Kept apart from the Cloud search, which pages by cursor.

use super::*;

/// `GET|POST /rest/api/2/search`: Data Center's search, paged by
/// `startAt`/`maxResults` with a `total`; on Cloud, 410 Gone like the old
/// v3 search. A `truncate` fault serves the page after the one asked for
/// (its `startAt` saying so): a page skipped, which only `total` reveals
/// once the search ends.
pub(crate) async fn search_v2(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::JiraSearchV2, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    let (flavour, zone) = dialect(&state);
    exchange(&state, meta, |meta, shaping| {
        if flavour == JiraFlavour::Cloud {
            return Served::error(Source::Jira, StatusCode::GONE, GONE);
        }
        let request = match v2_search_request(meta, &body) {
            Ok(r) => r,
            Err(message) => return bad_request(&message),
        };
        let jql = match accepted_jql(org, request.jql.as_deref(), zone) {
            Ok(jql) => jql,
            Err(message) => return bad_request(&message),
        };
        let start_at = request.start_at.unwrap_or(0);
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
        let served_from = if shaping.truncate {
            start_at + max_results
        } else {
            start_at
        };
        let page: Vec<Value> = issues
            .iter()
            .skip(served_from)
            .take(max_results)
            .map(|i| shaping.reshape(issue_json(org, meta, i, request.fields.as_deref())))
            .collect();
        let count = page.len() as u64;
        let body = json!({
            "expand": "schema,names",
            "startAt": served_from,
            "maxResults": max_results,
            "total": issues.len(),
            "issues": page,
        });
        Served::json(StatusCode::OK, &body, count)
    })
    .await
}

/// The POST body of `/rest/api/2/search`; GET sends the same as query
/// parameters (`fields` comma-separated).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2SearchRequest {
    #[serde(default)]
    jql: Option<String>,
    #[serde(default)]
    start_at: Option<usize>,
    #[serde(default)]
    max_results: Option<usize>,
    #[serde(default)]
    fields: Option<Vec<String>>,
}

fn v2_search_request(meta: &RequestMeta, body: &[u8]) -> Result<V2SearchRequest, String> {
    if meta.method == Method::POST {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(V2SearchRequest::default());
        }
        return serde_json::from_slice(body).map_err(|e| format!("Invalid request payload: {e}"));
    }
    let number = |name: &str| -> Result<Option<usize>, String> {
        match meta.param(name) {
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("The value '{v}' is invalid for the parameter '{name}'.")),
            None => Ok(None),
        }
    };
    Ok(V2SearchRequest {
        jql: meta.param("jql"),
        start_at: number("startAt")?,
        max_results: number("maxResults")?,
        fields: meta
            .param("fields")
            .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect()),
    })
}

/// `GET /rest/api/2/issue/{key}`: one issue (its `fields` selection), with
/// its whole changelog under `changelog.histories` when `expand` names
/// `changelog`. A `truncate` fault keeps half the changelog, `total` still
/// counting all of it.
pub(crate) async fn issue(
    State(state): State<Arc<SimState>>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::JiraIssue, method, &uri, headers);
    let view = state.organisation();
    let org: &Organisation = &view;
    exchange(&state, meta, |meta, shaping| {
        let Some(issue) = org.issue(&key) else {
            return Served::error(
                Source::Jira,
                StatusCode::NOT_FOUND,
                "Issue does not exist or you do not have permission to see it.",
            );
        };
        let fields: Option<Vec<String>> = meta
            .param("fields")
            .map(|f| f.split(',').map(|s| s.trim().to_owned()).collect());
        let mut body = issue_json(org, meta, issue, fields.as_deref());
        let expand = meta.param("expand").unwrap_or_default();
        let mut count = 0;
        if expand.split(',').any(|e| e.trim() == "changelog") {
            let all = histories(org, meta, shaping, issue);
            let total = all.len();
            let kept = if shaping.truncate { total / 2 } else { total };
            let histories: Vec<Value> = all.into_iter().take(kept).collect();
            count = histories.len() as u64;
            body["changelog"] = json!({
                "startAt": 0,
                "maxResults": total,
                "total": total,
                "histories": histories,
            });
        }
        Served::json(StatusCode::OK, &body, count)
    })
    .await
}

/// `GET /rest/api/2/serverInfo`: `deploymentType` `Cloud` or `DataCenter`.
pub(crate) async fn server_info(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::JiraServerInfo, method, &uri, headers);
    let (flavour, _) = dialect(&state);
    let now = state.now();
    exchange(&state, meta, |meta, _| {
        let (version, numbers, deployment, build) = match flavour {
            JiraFlavour::Cloud => ("1001.0.0-SNAPSHOT", [1001, 0, 0], "Cloud", 100_280),
            JiraFlavour::Datacenter => ("9.12.2", [9, 12, 2], "DataCenter", 9_120_002),
        };
        let body = json!({
            "baseUrl": format!("http://{}/jira", meta.host),
            "version": version,
            "versionNumbers": numbers,
            "deploymentType": deployment,
            "buildNumber": build,
            "serverTime": jira_time(now),
            "scmInfo": "0000000000000000000000000000000000000000",
            "serverTitle": "Jira (dorafleet simulator)",
        });
        Served::json(StatusCode::OK, &body, 0)
    })
    .await
}

/// `GET /rest/api/{2|3}/myself`: the API user, in the configured
/// `jira_user_time_zone` (Data Center has no v3: 404).
pub(crate) async fn myself(
    State(state): State<Arc<SimState>>,
    Path(version): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let meta = RequestMeta::new(&state, Endpoint::JiraMyself, method, &uri, headers);
    let (flavour, zone) = dialect(&state);
    exchange(&state, meta, |meta, _| {
        if !matches!(
            (flavour, version.as_str()),
            (JiraFlavour::Cloud, "2" | "3") | (JiraFlavour::Datacenter, "2")
        ) {
            return not_found();
        }
        let mut body = json!({
            "self": format!("http://{}/jira/rest/api/{version}/user?username=dorafleet", meta.host),
            "emailAddress": "dorafleet@example.com",
            "displayName": "dorafleet (read-only)",
            "active": true,
            "timeZone": zone.name(),
            "locale": "en_US",
        });
        match flavour {
            JiraFlavour::Cloud => {
                body["accountId"] = json!("5f0c0de0d0ra0f1ee70000001");
                body["accountType"] = json!("atlassian");
            }
            JiraFlavour::Datacenter => {
                body["key"] = json!("JIRAUSER10100");
                body["name"] = json!("dorafleet");
            }
        }
        Served::json(StatusCode::OK, &body, 0)
    })
    .await
}
