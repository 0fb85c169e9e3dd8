//! Schema validation at the extract boundary, record by record.
//!
//! A real API changes under us one field at a time: a renamed field in a few
//! records must not fail a whole page (and with it every good record on it),
//! nor vanish silently. So each record of a page is checked on its own: the
//! fields the pipeline needs must be there (a record without them is
//! *rejected*, with the reason kept), then it must fit the typed model.
//! Fields nobody knows are counted by name (*schema drift*), never dropped
//! quietly. Only a body that is not the expected JSON shape at all (not JSON,
//! no record list) fails the page.
//!
//! The extract stage sums the quality of every page of a task and fails the
//! task when too many records were rejected; the normalize stage skips the
//! rejected records and counts them.

use crate::page::endpoint;
use dorafleet_core::TaskError;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// One record left out of a page, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 0-based position in the page's record list.
    pub index: usize,
    /// The record's natural key (PR number, sha, id, Jira key, build number),
    /// when it has one.
    pub key: Option<String>,
    /// E.g. "missing `fields.created`".
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {}", self.index)?;
        if let Some(key) = &self.key {
            write!(f, " ({key})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What validation found on one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageQuality {
    /// Records in the page's list, valid or not.
    pub records: u64,
    pub rejected: Vec<Rejection>,
    /// Fields no known schema of the endpoint has, by name, with the number
    /// of records carrying each. Jira issues' fields are named by their field
    /// id (the key inside `fields`).
    pub unknown_fields: BTreeMap<String, u64>,
}

impl PageQuality {
    pub fn rejected_count(&self) -> u64 {
        self.rejected.len() as u64
    }

    pub fn valid_count(&self) -> u64 {
        self.records - self.rejected_count()
    }
}

/// The valid records of a page, typed, with the page's quality.
#[derive(Debug, Clone)]
pub struct Checked<T> {
    pub valid: Vec<T>,
    pub quality: PageQuality,
}

/// A page body that is not the expected shape at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

/// A field the pipeline needs, as a dotted path.
struct Required {
    path: &'static str,
    /// `null` is a legitimate value (e.g. `merged_at` of an unmerged PR), but
    /// the field must still be sent.
    nullable: bool,
}

const fn need(path: &'static str) -> Required {
    Required {
        path,
        nullable: false,
    }
}

const fn may_be_null(path: &'static str) -> Required {
    Required {
        path,
        nullable: true,
    }
}

/// What one endpoint's records must and may hold.
struct Schema {
    /// Where the record list is: the body itself (`None`) or this key of it.
    list: Option<&'static str>,
    /// The record's natural key.
    key: &'static str,
    required: &'static [Required],
    /// Top-level fields the real API sends.
    known: &'static [&'static str],
    /// Keys allowed inside the record's `fields` object (Jira), if checked.
    known_in_fields: Option<&'static [&'static str]>,
}

const PULLS: Schema = Schema {
    list: None,
    key: "number",
    required: &[
        need("number"),
        need("updated_at"),
        need("created_at"),
        may_be_null("merged_at"),
    ],
    known: &[
        "_links",
        "active_lock_reason",
        "assignee",
        "assignees",
        "author_association",
        "auto_merge",
        "base",
        "body",
        "body_html",
        "body_text",
        "closed_at",
        "comments_url",
        "commits_url",
        "created_at",
        "diff_url",
        "draft",
        "head",
        "html_url",
        "id",
        "issue_url",
        "labels",
        "locked",
        "merge_commit_sha",
        "merged_at",
        "milestone",
        "node_id",
        "number",
        "patch_url",
        "requested_reviewers",
        "requested_teams",
        "review_comment_url",
        "review_comments_url",
        "state",
        "statuses_url",
        "title",
        "updated_at",
        "url",
        "user",
    ],
    known_in_fields: None,
};

const PULL_COMMITS: Schema = Schema {
    list: None,
    key: "sha",
    required: &[need("sha"), need("commit.author.date")],
    known: &[
        "author",
        "comments_url",
        "commit",
        "committer",
        "files",
        "html_url",
        "node_id",
        "parents",
        "sha",
        "stats",
        "url",
    ],
    known_in_fields: None,
};

const DEPLOYMENTS: Schema = Schema {
    list: None,
    key: "id",
    required: &[
        need("id"),
        need("environment"),
        need("created_at"),
        need("sha"),
    ],
    known: &[
        "created_at",
        "creator",
        "description",
        "environment",
        "id",
        "node_id",
        "original_environment",
        "payload",
        "performed_via_github_app",
        "production_environment",
        "ref",
        "repository_url",
        "sha",
        "statuses_url",
        "task",
        "transient_environment",
        "updated_at",
        "url",
    ],
    known_in_fields: None,
};

const DEPLOYMENT_STATUSES: Schema = Schema {
    list: None,
    key: "id",
    required: &[need("id"), need("state"), need("created_at")],
    known: &[
        "created_at",
        "creator",
        "deployment_url",
        "description",
        "environment",
        "environment_url",
        "id",
        "log_url",
        "node_id",
        "performed_via_github_app",
        "repository_url",
        "state",
        "target_url",
        "updated_at",
        "url",
    ],
    known_in_fields: None,
};

const JIRA_ISSUES: Schema = Schema {
    list: Some("issues"),
    key: "key",
    required: &[
        need("key"),
        need("fields.created"),
        need("fields.updated"),
        need("fields.issuetype.name"),
    ],
    known: &[
        "changelog",
        "editmeta",
        "expand",
        "fields",
        "fieldsToInclude",
        "id",
        "key",
        "names",
        "operations",
        "properties",
        "renderedFields",
        "schema",
        "self",
        "transitions",
        "versionedRepresentations",
    ],
    // Jira's system fields; custom fields (`customfield_NNNNN`) are known too.
    known_in_fields: Some(&[
        "aggregateprogress",
        "aggregatetimeestimate",
        "aggregatetimeoriginalestimate",
        "aggregatetimespent",
        "assignee",
        "attachment",
        "comment",
        "components",
        "created",
        "creator",
        "description",
        "duedate",
        "environment",
        "fixVersions",
        "issuelinks",
        "issuerestriction",
        "issuetype",
        "labels",
        "lastViewed",
        "parent",
        "priority",
        "progress",
        "project",
        "reporter",
        "resolution",
        "resolutiondate",
        "security",
        "status",
        "statusCategory",
        "statuscategorychangedate",
        "subtasks",
        "summary",
        "thumbnail",
        "timeestimate",
        "timeoriginalestimate",
        "timespent",
        "timetracking",
        "updated",
        "versions",
        "votes",
        "watches",
        "worklog",
        "workratio",
    ]),
};

const JENKINS_BUILDS: Schema = Schema {
    list: Some("allBuilds"),
    key: "number",
    required: &[
        need("number"),
        need("timestamp"),
        need("duration"),
        need("building"),
    ],
    known: &[
        "_class",
        "actions",
        "artifacts",
        "building",
        "builtOn",
        "changeSet",
        "changeSets",
        "culprits",
        "description",
        "displayName",
        "duration",
        "estimatedDuration",
        "executor",
        "fullDisplayName",
        "id",
        "inProgress",
        "keepLog",
        "nextBuild",
        "number",
        "previousBuild",
        "queueId",
        "result",
        "timestamp",
        "url",
    ],
    known_in_fields: None,
};

fn schema(endpoint: &str) -> Option<&'static Schema> {
    Some(match endpoint {
        endpoint::PULLS => &PULLS,
        endpoint::PULL_COMMITS => &PULL_COMMITS,
        endpoint::DEPLOYMENTS => &DEPLOYMENTS,
        endpoint::DEPLOYMENT_STATUSES => &DEPLOYMENT_STATUSES,
        endpoint::JIRA_SEARCH => &JIRA_ISSUES,
        endpoint::JENKINS_BUILDS => &JENKINS_BUILDS,
        _ => return None,
    })
}

/// The required fields of an endpoint's records, as dotted paths (for docs
/// and tests).
pub fn required_fields(endpoint: &str) -> Vec<&'static str> {
    schema(endpoint).map_or_else(Vec::new, |s| s.required.iter().map(|r| r.path).collect())
}

/// Validates a page body of `endpoint`: which records are rejected and why,
/// and which unknown fields they carry. A body that is not the endpoint's
/// shape at all is a permanent error: fetching it again gives the same.
pub fn validate_page(endpoint: &str, body: &str) -> Result<PageQuality, TaskError> {
    let shape = |e: ShapeError| TaskError::permanent(format!("{endpoint} page: {e}"));
    let body = parse_body(body).map_err(shape)?;
    // `IgnoredAny` fits every record: this checks the schema only.
    Ok(check_value::<serde::de::IgnoredAny>(endpoint, &body)
        .map_err(shape)?
        .quality)
}

/// Parses a page body as JSON.
pub fn parse_body(body: &str) -> Result<Value, ShapeError> {
    serde_json::from_str(body).map_err(|e| ShapeError(format!("body is not JSON: {e}")))
}

/// Validates a page body and decodes its valid records as `T`.
pub fn check<T: DeserializeOwned>(endpoint: &str, body: &str) -> Result<Checked<T>, ShapeError> {
    check_value(endpoint, &parse_body(body)?)
}

/// [`check`] on an already parsed body (Jira's cursor lives next to the list).
pub fn check_value<T: DeserializeOwned>(
    endpoint: &str,
    body: &Value,
) -> Result<Checked<T>, ShapeError> {
    let schema = schema(endpoint)
        .ok_or_else(|| ShapeError(format!("`{endpoint}` is not an endpoint with a schema")))?;
    let list = match schema.list {
        None => body.as_array().ok_or_else(|| {
            ShapeError(format!(
                "body does not match the expected schema: expected a JSON array of records, found {}",
                kind(body)
            ))
        })?,
        Some(name) => body
            .get(name)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ShapeError(format!(
                    "body does not match the expected schema: expected an object with a `{name}` array, found {}",
                    match body.get(name) {
                        Some(v) => format!("`{name}` as {}", kind(v)),
                        None => kind(body).to_owned(),
                    }
                ))
            })?,
    };
    let mut quality = PageQuality {
        records: list.len() as u64,
        ..PageQuality::default()
    };
    let mut valid = Vec::with_capacity(list.len());
    for (index, record) in list.iter().enumerate() {
        count_unknown(schema, record, &mut quality.unknown_fields);
        match check_record::<T>(schema, record) {
            Ok(item) => valid.push(item),
            Err(reason) => quality.rejected.push(Rejection {
                index,
                key: record_key(schema, record),
                reason,
            }),
        }
    }
    Ok(Checked { valid, quality })
}

fn check_record<T: DeserializeOwned>(schema: &Schema, record: &Value) -> Result<T, String> {
    if !record.is_object() {
        return Err(format!("not an object but {}", kind(record)));
    }
    for required in schema.required {
        match lookup(record, required.path) {
            None => return Err(format!("missing `{}`", required.path)),
            Some(Value::Null) if !required.nullable => {
                return Err(format!("`{}` is null", required.path));
            }
            Some(_) => {}
        }
    }
    T::deserialize(record).map_err(|e| format!("does not fit the model: {e}"))
}

fn lookup<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(record, |value, part| value.get(part))
}

fn count_unknown(schema: &Schema, record: &Value, unknown: &mut BTreeMap<String, u64>) {
    let Some(object) = record.as_object() else {
        return;
    };
    for name in object.keys() {
        if !schema.known.contains(&name.as_str()) {
            *unknown.entry(name.clone()).or_default() += 1;
        }
    }
    if let Some(known) = schema.known_in_fields
        && let Some(fields) = object.get("fields").and_then(Value::as_object)
    {
        for name in fields.keys() {
            if !known.contains(&name.as_str()) && !name.starts_with("customfield_") {
                *unknown.entry(name.clone()).or_default() += 1;
            }
        }
    }
}

fn record_key(schema: &Schema, record: &Value) -> Option<String> {
    match record.get(schema.key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::{Deployment, DeploymentStatus, PullCommit, PullRequest};
    use crate::jenkins::Build;
    use crate::jira::Issue;
    use serde_json::json;

    fn reasons(quality: &PageQuality) -> Vec<String> {
        quality.rejected.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_pull_request_without_merged_at_is_rejected_but_a_null_merged_at_is_valid() {
        let body = json!([
            {"number": 1, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z", "merged_at": null},
            {"number": 2, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z"},
            {"number": 3, "created_at": "2026-01-01T00:00:00Z", "updated_at": "yesterday", "merged_at": null},
            {"number": 4, "created_at": null, "updated_at": "2026-01-02T00:00:00Z", "merged_at": null},
        ]);
        let checked: Checked<PullRequest> = check_value(endpoint::PULLS, &body).unwrap();
        assert_eq!(checked.valid.len(), 1);
        assert_eq!(checked.valid[0].number, 1);
        assert_eq!(checked.quality.records, 4);
        let reasons = reasons(&checked.quality);
        assert_eq!(reasons[0], "record 1 (2): missing `merged_at`");
        assert!(
            reasons[1].starts_with("record 2 (3): does not fit the model"),
            "{}",
            reasons[1]
        );
        assert_eq!(reasons[2], "record 3 (4): `created_at` is null");
    }

    #[test]
    fn a_commit_needs_its_sha_and_git_author_date() {
        let body = json!([
            {"sha": "a1", "commit": {"author": {"date": "2026-01-01T00:00:00Z"}}},
            {"sha": "b2", "commit": {"author": null}},
            {"commit": {"author": {"date": "2026-01-01T00:00:00Z"}}},
        ]);
        let checked: Checked<PullCommit> = check_value(endpoint::PULL_COMMITS, &body).unwrap();
        assert_eq!(checked.valid.len(), 1);
        assert_eq!(
            reasons(&checked.quality),
            [
                "record 1 (b2): missing `commit.author.date`",
                "record 2: missing `sha`"
            ]
        );
    }

    #[test]
    fn deployments_and_statuses_need_their_ids_times_and_outcomes() {
        let deployments = json!([
            {"id": 7, "sha": "abc", "environment": "production", "created_at": "2026-01-01T00:00:00Z"},
            {"id": 8, "sha": "abc", "created_at": "2026-01-01T00:00:00Z"},
        ]);
        let checked: Checked<Deployment> =
            check_value(endpoint::DEPLOYMENTS, &deployments).unwrap();
        assert_eq!(checked.valid.len(), 1);
        assert_eq!(
            reasons(&checked.quality),
            ["record 1 (8): missing `environment`"]
        );

        let statuses = json!([
            {"id": 9, "state": "success", "created_at": "2026-01-01T00:00:00Z"},
            {"id": 10, "status": "success", "created_at": "2026-01-01T00:00:00Z"},
        ]);
        let checked: Checked<DeploymentStatus> =
            check_value(endpoint::DEPLOYMENT_STATUSES, &statuses).unwrap();
        assert_eq!(checked.valid.len(), 1);
        assert_eq!(
            reasons(&checked.quality),
            ["record 1 (10): missing `state`"]
        );
        assert_eq!(
            checked.quality.unknown_fields,
            BTreeMap::from([("status".to_owned(), 1)])
        );
    }

    #[test]
    fn a_renamed_jira_field_rejects_the_issue_and_is_counted_as_unknown() {
        let issue = |key: &str, created: &str| {
            json!({"id": "1", "key": key, "fields": {
                created: "2026-01-01T10:00:00.000+0000",
                "updated": "2026-01-02T10:00:00.000+0000",
                "issuetype": {"name": "Bug"},
                "customfield_10020": null,
            }})
        };
        let body = json!({"issues": [issue("PAY-1", "created"), issue("PAY-2", "createdDate"), issue("PAY-3", "createdDate")], "isLast": true});
        let checked: Checked<Issue> = check_value(endpoint::JIRA_SEARCH, &body).unwrap();
        assert_eq!(checked.valid.len(), 1);
        assert_eq!(checked.valid[0].key, "PAY-1");
        assert_eq!(
            reasons(&checked.quality),
            [
                "record 1 (PAY-2): missing `fields.created`",
                "record 2 (PAY-3): missing `fields.created`"
            ]
        );
        assert_eq!(
            checked.quality.unknown_fields,
            BTreeMap::from([("createdDate".to_owned(), 2)]),
            "custom fields are known"
        );
        let no_type = json!({"issues": [{"id": "1", "key": "PAY-4", "fields": {
            "created": "2026-01-01T10:00:00.000+0000",
            "updated": "2026-01-02T10:00:00.000+0000",
            "issuetype": null,
        }}]});
        assert_eq!(
            reasons(&validate_page(endpoint::JIRA_SEARCH, &no_type.to_string()).unwrap()),
            ["record 0 (PAY-4): missing `fields.issuetype.name`"]
        );
    }

    #[test]
    fn a_jenkins_build_needs_number_timestamp_duration_and_building() {
        let body = json!({"_class": "x", "allBuilds": [
            {"_class": "b", "number": 3, "result": null, "timestamp": 1, "duration": 0, "building": true},
            {"_class": "b", "number": 2, "result": "SUCCESS", "startTime": 1, "duration": 5, "building": false},
        ]});
        let checked: Checked<Build> = check_value(endpoint::JENKINS_BUILDS, &body).unwrap();
        assert_eq!(checked.valid.len(), 1);
        assert_eq!(
            reasons(&checked.quality),
            ["record 1 (2): missing `timestamp`"]
        );
        assert_eq!(
            checked.quality.unknown_fields,
            BTreeMap::from([("startTime".to_owned(), 1)])
        );
    }

    #[test]
    fn a_body_that_is_not_the_expected_shape_is_an_error_not_a_rejection() {
        for (endpoint, body, needle) in [
            (endpoint::PULLS, "not json", "not JSON"),
            (endpoint::PULLS, r#"{"message": "Not Found"}"#, "JSON array"),
            (endpoint::JIRA_SEARCH, "[]", "`issues` array"),
            (
                endpoint::JIRA_SEARCH,
                r#"{"issues": 3}"#,
                "`issues` as a number",
            ),
            (endpoint::JENKINS_BUILDS, r#"{"builds": []}"#, "`allBuilds`"),
            ("releases", "[]", "not an endpoint"),
        ] {
            let err = validate_page(endpoint, body).unwrap_err().to_string();
            assert!(err.contains(needle), "{endpoint} {body}: {err}");
        }
        let quality = validate_page(endpoint::PULLS, "[1, null]").unwrap();
        assert_eq!(
            reasons(&quality),
            [
                "record 0: not an object but a number",
                "record 1: not an object but null"
            ]
        );
    }

    #[test]
    fn every_endpoint_has_required_fields() {
        for e in [
            endpoint::PULLS,
            endpoint::PULL_COMMITS,
            endpoint::DEPLOYMENTS,
            endpoint::DEPLOYMENT_STATUSES,
            endpoint::JIRA_SEARCH,
            endpoint::JENKINS_BUILDS,
        ] {
            assert!(!required_fields(e).is_empty(), "{e}");
        }
    }
}
