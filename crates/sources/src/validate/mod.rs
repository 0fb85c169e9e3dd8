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
//!
//! This module is the machinery only: which fields an endpoint's records
//! must and may hold is declared by each source next to its models
//! (`github/schema.rs`, `jira/schema.rs`, `jenkins/schema.rs`), and found
//! here by endpoint name.

mod clean;

use crate::{github, jenkins, jira};
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
    /// The records that failed their schema, in page order.
    pub rejected: Vec<Rejection>,
    /// Fields no known schema of the endpoint has, by name, with the number
    /// of records carrying each. Jira issues' fields are named by their field
    /// id (the key inside `fields`).
    pub unknown_fields: BTreeMap<String, u64>,
}

impl PageQuality {
    /// How many records were rejected.
    pub fn rejected_count(&self) -> u64 {
        self.rejected.len() as u64
    }

    /// How many records passed: `records` minus the rejected ones.
    pub fn valid_count(&self) -> u64 {
        self.records - self.rejected_count()
    }
}

/// The valid records of a page, typed, with the page's quality.
#[derive(Debug, Clone)]
pub struct Checked<T> {
    /// The records that passed their schema and decoded, in page order.
    pub valid: Vec<T>,
    /// What validation found on the page (counts, rejections, unknown fields).
    pub quality: PageQuality,
}

/// A page body that is not the expected shape at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

/// A field the pipeline needs, as a dotted path.
pub(crate) struct Required {
    path: &'static str,
    /// `null` is a legitimate value (e.g. `merged_at` of an unmerged PR), but
    /// the field must still be sent.
    nullable: bool,
}

/// A field that must be sent and must not be `null`.
pub(crate) const fn need(path: &'static str) -> Required {
    Required {
        path,
        nullable: false,
    }
}

/// A field that must be sent but may be `null`.
pub(crate) const fn may_be_null(path: &'static str) -> Required {
    Required {
        path,
        nullable: true,
    }
}

/// What one endpoint's records must and may hold. Each source declares its
/// endpoints' schemas in its own `schema` module.
pub(crate) struct Schema {
    /// Where the record list is: the body itself (`None`) or this key of it.
    pub(crate) list: Option<&'static str>,
    /// The record's natural key.
    pub(crate) key: &'static str,
    pub(crate) required: &'static [Required],
    /// Top-level fields the real API sends.
    pub(crate) known: &'static [&'static str],
    /// Keys allowed inside the record's `fields` object (Jira), if checked.
    pub(crate) known_in_fields: Option<&'static [&'static str]>,
}

/// The schema of an endpoint's records: each source answers for its own
/// endpoints.
fn schema(endpoint: &str) -> Option<&'static Schema> {
    github::endpoint_schema(endpoint)
        .or_else(|| jira::endpoint_schema(endpoint))
        .or_else(|| jenkins::endpoint_schema(endpoint))
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

/// Validates a page body and decodes its valid records as `T`. A page whose
/// records are all clean is decoded from its text (see `clean`); any other
/// is checked through its JSON tree, with the same result.
pub fn check<T: DeserializeOwned>(endpoint: &str, body: &str) -> Result<Checked<T>, ShapeError> {
    if let Some((valid, quality)) = schema(endpoint).and_then(|s| clean::clean_page(s, body)) {
        return Ok(Checked { valid, quality });
    }
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
        // A dotted name reaches into nested objects (`changelog.histories`).
        Some(name) => lookup(body, name)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ShapeError(format!(
                    "body does not match the expected schema: expected an object with a `{name}` array, found {}",
                    match lookup(body, name) {
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
pub(crate) mod tests {
    use super::*;
    use crate::page::endpoint;

    /// The rejections of a page, rendered (shared by the sources' schema tests).
    pub(crate) fn reasons(quality: &PageQuality) -> Vec<String> {
        quality.rejected.iter().map(ToString::to_string).collect()
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
            endpoint::REPO_COMMITS,
            endpoint::DEPLOYMENTS,
            endpoint::DEPLOYMENT_STATUSES,
            endpoint::JIRA_SEARCH,
            endpoint::JENKINS_BUILDS,
        ] {
            assert!(!required_fields(e).is_empty(), "{e}");
        }
    }
}
