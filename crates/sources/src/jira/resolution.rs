//! When a Jira issue was resolved (docs/metrics.md, "Common ground",
//! "Incident resolution"): its `resolutiondate`; when that is empty and the
//! issue sits in a Done-category status, the instant of the last changelog
//! transition into the Done category.
//!
//! A status is in the Done category when Jira says so
//! (`statusCategory.key == "done"`) or when its name is one of
//! `definitions.done_statuses`. A changelog status item enters the category
//! when its target is done and its source is not: a move from `Done` to
//! `Closed` stays inside it, so the issue was resolved when it first reached
//! `Done`. A reopened issue done again is resolved at its last entry; one
//! reopened and still open is unresolved, whatever its changelog says.

use super::models::{ChangeItem, History, Issue, Status};
use chrono::{DateTime, Utc};
use dorafleet_core::config::Definitions;

/// The `statusCategory.key` of Jira's Done category.
const DONE_CATEGORY: &str = "done";

/// Whether `status` is in the Done category: Jira says so, or its name is
/// one of `definitions.done_statuses`.
pub fn is_done(status: &Status, definitions: &Definitions) -> bool {
    status
        .status_category
        .as_ref()
        .is_some_and(|c| c.key.eq_ignore_ascii_case(DONE_CATEGORY))
        || definitions.is_done_status(&status.name)
}

/// Whether the issue's resolution must be read from its changelog: it has
/// no `resolutiondate` but its status is in the Done category. Only these
/// issues have their changelog fetched.
pub fn needs_changelog(issue: &Issue, definitions: &Definitions) -> bool {
    issue.fields.resolutiondate.is_none()
        && issue
            .fields
            .status
            .as_ref()
            .is_some_and(|s| is_done(s, definitions))
}

/// When the issue was resolved: its `resolutiondate` if set; else, when its
/// status is in the Done category, the last entry into that category in
/// `histories` (in any order; ties in `created` are ordered by id); else,
/// or when the changelog shows no such entry, `None`.
pub fn resolved_at(
    issue: &Issue,
    histories: &[History],
    definitions: &Definitions,
) -> Option<DateTime<Utc>> {
    if let Some(resolved) = issue.fields.resolutiondate {
        return Some(resolved);
    }
    let status = issue.fields.status.as_ref()?;
    if !is_done(status, definitions) {
        return None;
    }
    last_done_entry(status, histories, definitions)
}

/// The instant of the last changelog transition into the Done category of
/// an issue whose current status, `current`, is in it. The current status
/// counts as done wherever the changelog names it, by name or by id (a
/// changelog item carries no category).
pub fn last_done_entry(
    current: &Status,
    histories: &[History],
    definitions: &Definitions,
) -> Option<DateTime<Utc>> {
    let done = |id: Option<&str>, name: Option<&str>| {
        name.is_some_and(|n| {
            definitions.is_done_status(n) || n.trim().eq_ignore_ascii_case(current.name.trim())
        }) || (id.is_some() && id == current.id.as_deref())
    };
    let enters_done = |item: &ChangeItem| {
        item.field.eq_ignore_ascii_case("status")
            && done(item.to.as_deref(), item.to_name.as_deref())
            && !done(item.from.as_deref(), item.from_name.as_deref())
    };
    let mut ordered: Vec<&History> = histories.iter().collect();
    ordered.sort_by(|a, b| {
        a.created
            .cmp(&b.created)
            .then_with(|| numeric_id(&a.id).cmp(&numeric_id(&b.id)))
    });
    ordered
        .into_iter()
        .filter(|h| h.items.iter().any(enters_done))
        .map(|h| h.created)
        .next_back()
}

/// A change group's id as a number (Jira's ids grow over time); ids that
/// are not numbers sort after, by text.
fn numeric_id(id: &str) -> (u64, &str) {
    (id.parse().unwrap_or(u64::MAX), id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jira::models::{IssueFields, StatusCategory};

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn status(id: &str, name: &str, category: &str) -> Status {
        Status {
            id: Some(id.to_owned()),
            name: name.to_owned(),
            status_category: Some(StatusCategory {
                key: category.to_owned(),
                name: None,
            }),
        }
    }

    fn issue(current: Status, resolutiondate: Option<&str>) -> Issue {
        Issue {
            id: "10001".into(),
            key: "OPS-1".into(),
            fields: IssueFields {
                summary: None,
                issuetype: None,
                priority: None,
                status: Some(current),
                project: None,
                created: utc("2026-01-01T08:00:00Z"),
                updated: utc("2026-01-05T08:00:00Z"),
                resolutiondate: resolutiondate.map(utc),
                reporter: None,
                assignee: None,
            },
        }
    }

    /// A change group moving the status `from` → `to` (names; ids of the
    /// workflow below).
    fn moved(id: u64, at: &str, from: &str, to: &str) -> History {
        let status_id = |name: &str| {
            match name {
                "To Do" => "10000",
                "In Progress" => "3",
                "Done" => "10001",
                "Reopened" => "4",
                "Closed" => "6",
                _ => "99",
            }
            .to_owned()
        };
        History {
            id: id.to_string(),
            created: utc(at),
            items: vec![ChangeItem {
                field: "status".into(),
                from: Some(status_id(from)),
                from_name: Some(from.into()),
                to: Some(status_id(to)),
                to_name: Some(to.into()),
            }],
        }
    }

    fn done() -> Status {
        status("10001", "Done", "done")
    }

    fn defaults() -> Definitions {
        Definitions::default()
    }

    #[test]
    fn a_resolutiondate_wins_over_the_changelog() {
        let histories = [moved(1, "2026-01-02T10:00:00Z", "In Progress", "Done")];
        assert_eq!(
            resolved_at(
                &issue(done(), Some("2026-01-02T10:00:05Z")),
                &histories,
                &defaults()
            ),
            Some(utc("2026-01-02T10:00:05Z"))
        );
        assert!(!needs_changelog(
            &issue(done(), Some("2026-01-02T10:00:05Z")),
            &defaults()
        ));
    }

    #[test]
    fn an_issue_done_without_a_resolutiondate_is_resolved_when_it_entered_done() {
        let histories = [
            moved(1, "2026-01-01T09:00:00Z", "To Do", "In Progress"),
            moved(2, "2026-01-02T10:00:00Z", "In Progress", "Done"),
        ];
        let open = issue(done(), None);
        assert!(needs_changelog(&open, &defaults()));
        assert_eq!(
            resolved_at(&open, &histories, &defaults()),
            Some(utc("2026-01-02T10:00:00Z"))
        );
    }

    #[test]
    fn an_issue_reopened_and_done_again_is_resolved_at_the_last_entry_into_done() {
        // Newest first, as an issue embeds them: the order does not matter.
        let histories = [
            moved(4, "2026-01-04T12:00:00Z", "Reopened", "Done"),
            moved(3, "2026-01-03T11:00:00Z", "Done", "Reopened"),
            moved(2, "2026-01-02T10:00:00Z", "In Progress", "Done"),
            moved(1, "2026-01-01T09:00:00Z", "To Do", "In Progress"),
        ];
        assert_eq!(
            resolved_at(&issue(done(), None), &histories, &defaults()),
            Some(utc("2026-01-04T12:00:00Z"))
        );
    }

    #[test]
    fn an_issue_reopened_and_still_open_is_unresolved() {
        let histories = [
            moved(2, "2026-01-02T10:00:00Z", "In Progress", "Done"),
            moved(3, "2026-01-03T11:00:00Z", "Done", "Reopened"),
        ];
        let reopened = issue(status("4", "Reopened", "indeterminate"), None);
        assert!(!needs_changelog(&reopened, &defaults()));
        assert_eq!(resolved_at(&reopened, &histories, &defaults()), None);
    }

    #[test]
    fn done_then_closed_is_resolved_at_the_first_entry_of_the_final_done_run() {
        let histories = [
            moved(1, "2026-01-01T09:00:00Z", "To Do", "In Progress"),
            moved(2, "2026-01-02T10:00:00Z", "In Progress", "Done"),
            moved(3, "2026-01-03T11:00:00Z", "Done", "Closed"),
        ];
        let closed = issue(status("6", "Closed", "done"), None);
        assert_eq!(
            resolved_at(&closed, &histories, &defaults()),
            Some(utc("2026-01-02T10:00:00Z"))
        );
    }

    #[test]
    fn a_configured_done_status_counts_even_when_jira_files_it_under_another_category() {
        let shipped = || status("77", "Shipped", "indeterminate");
        let histories = [History {
            id: "5".into(),
            created: utc("2026-01-02T10:00:00Z"),
            // A renamed status: only the id matches the current one.
            items: vec![ChangeItem {
                field: "status".into(),
                from: Some("3".into()),
                from_name: Some("In Progress".into()),
                to: Some("77".into()),
                to_name: Some("Released".into()),
            }],
        }];
        assert!(!needs_changelog(&issue(shipped(), None), &defaults()));
        let definitions = Definitions {
            done_statuses: vec!["shipped".into()],
            ..Definitions::default()
        };
        assert!(needs_changelog(&issue(shipped(), None), &definitions));
        assert_eq!(
            resolved_at(&issue(shipped(), None), &histories, &definitions),
            Some(utc("2026-01-02T10:00:00Z"))
        );
    }

    #[test]
    fn a_done_issue_whose_changelog_shows_no_entry_into_done_is_unresolved() {
        let histories = [History {
            id: "9".into(),
            created: utc("2026-01-02T10:00:00Z"),
            items: vec![ChangeItem {
                field: "assignee".into(),
                from: None,
                from_name: None,
                to: Some("abc".into()),
                to_name: Some("Done".into()),
            }],
        }];
        assert_eq!(
            resolved_at(&issue(done(), None), &histories, &defaults()),
            None
        );
        assert_eq!(resolved_at(&issue(done(), None), &[], &defaults()), None);
    }
}
