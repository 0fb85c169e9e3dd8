//! The required and known fields of Jenkins builds, as a [`Schema`]: kept
//! next to the models so that a field is added in one folder. The machinery
//! that applies it is in [`crate::validate`].

use crate::page::endpoint;
use crate::validate::{Schema, need};

/// The schema of a Jenkins endpoint's records, if it is one.
pub(crate) fn endpoint_schema(name: &str) -> Option<&'static Schema> {
    match name {
        endpoint::JENKINS_BUILDS | endpoint::JENKINS_BRANCH_BUILDS => Some(&BUILDS),
        endpoint::JENKINS_BRANCHES => Some(&BRANCHES),
        _ => None,
    }
}

/// A multibranch project's `jobs`: its branch jobs.
const BRANCHES: Schema = Schema {
    list: Some("jobs"),
    key: "name",
    required: &[need("name")],
    known: &[
        "_class",
        "color",
        "displayName",
        "fullDisplayName",
        "fullName",
        "name",
        "url",
    ],
    known_in_fields: None,
};

const BUILDS: Schema = Schema {
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

#[cfg(test)]
mod tests {
    use crate::jenkins::Build;
    use crate::page::endpoint;
    use crate::validate::tests::reasons;
    use crate::validate::{Checked, check_value};
    use serde_json::json;
    use std::collections::BTreeMap;

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
}
