//! The required and known fields of Jira's search results (issues and the
//! keys of their `fields`) and of an issue's changelog pages (its change
//! groups), as [`Schema`]s: kept next to the models so that
//! a field is added in one folder. The machinery that applies it is in
//! [`crate::validate`].

use crate::page::endpoint;
use crate::validate::{Schema, need};

/// The schema of a Jira endpoint's records, if it is one (the approximate
/// count lists no records).
pub(crate) fn endpoint_schema(name: &str) -> Option<&'static Schema> {
    match name {
        endpoint::JIRA_SEARCH => Some(&ISSUES),
        endpoint::JIRA_CHANGELOG => Some(&HISTORIES),
        endpoint::JIRA_ISSUE_CHANGELOG => Some(&EMBEDDED_HISTORIES),
        _ => None,
    }
}

/// The change groups of `GET /rest/api/3/issue/{key}/changelog`.
const HISTORIES: Schema = Schema {
    list: Some("values"),
    key: "id",
    required: &[need("id"), need("created"), need("items")],
    known: &["author", "created", "historyMetadata", "id", "items"],
    known_in_fields: None,
};

/// The change groups a Data Center issue embeds under
/// `GET /rest/api/2/issue/{key}?expand=changelog`.
const EMBEDDED_HISTORIES: Schema = Schema {
    list: Some("changelog.histories"),
    ..HISTORIES
};

const ISSUES: Schema = Schema {
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

#[cfg(test)]
mod tests {
    use crate::jira::Issue;
    use crate::page::endpoint;
    use crate::validate::tests::reasons;
    use crate::validate::{Checked, check_value, validate_page};
    use serde_json::json;
    use std::collections::BTreeMap;

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
    fn a_changelog_entry_without_its_instant_is_rejected_and_the_page_still_reads() {
        let body = json!({"startAt": 0, "maxResults": 100, "total": 2, "isLast": true, "values": [
            {"id": "10", "created": "2026-01-02T10:00:00.000+0000", "author": {"accountId": "a"},
             "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status",
                        "from": "3", "fromString": "In Progress", "to": "10001", "toString": "Done"}]},
            {"id": "11", "when": "2026-01-03T10:00:00.000+0000", "items": []},
        ]});
        let checked: Checked<crate::jira::History> =
            check_value(endpoint::JIRA_CHANGELOG, &body).unwrap();
        assert_eq!(checked.valid.len(), 1);
        assert_eq!(checked.valid[0].items[0].to_name.as_deref(), Some("Done"));
        assert_eq!(
            reasons(&checked.quality),
            ["record 1 (11): missing `created`"]
        );
        assert_eq!(
            checked.quality.unknown_fields,
            BTreeMap::from([("when".to_owned(), 1)])
        );
        assert!(validate_page(endpoint::JIRA_CHANGELOG, "[]").is_err());
    }
}
