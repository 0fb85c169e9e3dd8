//! The required and known fields of GitHub's records, one [`Schema`] per
//! endpoint: kept next to the models so that a field is added in one folder.
//! The machinery that applies them is in [`crate::validate`].

use crate::page::endpoint;
use crate::validate::{Schema, may_be_null, need};

/// The schema of a GitHub endpoint's records, if it is one.
pub(crate) fn endpoint_schema(name: &str) -> Option<&'static Schema> {
    Some(match name {
        endpoint::PULLS => &PULLS,
        endpoint::PULL_COMMITS => &PULL_COMMITS,
        endpoint::REPO_COMMITS => &REPO_COMMITS,
        endpoint::DEPLOYMENTS => &DEPLOYMENTS,
        endpoint::DEPLOYMENT_STATUSES => &DEPLOYMENT_STATUSES,
        _ => return None,
    })
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

/// The default branch's history: the committer date places a commit in its
/// window, the parents link deployments to the changes they contain.
const REPO_COMMITS: Schema = Schema {
    required: &[need("sha"), need("commit.committer.date"), need("parents")],
    ..PULL_COMMITS
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

#[cfg(test)]
mod tests {
    use crate::github::{Deployment, DeploymentStatus, PullCommit, PullRequest};
    use crate::page::endpoint;
    use crate::validate::tests::reasons;
    use crate::validate::{Checked, check_value};
    use serde_json::json;
    use std::collections::BTreeMap;

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
}
