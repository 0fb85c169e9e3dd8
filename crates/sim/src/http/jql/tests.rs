//! The JQL subset the simulator understands, checked clause by clause.

use super::*;

fn date(s: &str) -> DateTime<Utc> {
    parse_date(s, Tz::UTC).unwrap()
}

#[test]
fn an_incremental_extract_query_parses_into_its_clauses_and_order() {
    let jql = Jql::parse(
        r#"project = PAY AND updated >= "2026-03-01 12:00" and updated < '2026/03/02 00:00' ORDER BY updated DESC"#,
    )
    .unwrap();
    assert_eq!(jql.clauses.len(), 3);
    assert_eq!(
        jql.clauses[1],
        Clause::Date {
            field: DateField::Updated,
            op: Comparison::Ge,
            at: date("2026-03-01 12:00")
        }
    );
    assert_eq!(jql.order, vec![(OrderField::Updated, Direction::Desc)]);
    assert!(jql.is_bounded());
}

#[test]
fn project_lists_and_issue_types_parse_and_alone_an_issue_type_is_unbounded() {
    let jql = Jql::parse("project in (PAY, \"SRCH\") AND issuetype = Incident").unwrap();
    assert_eq!(jql.projects().collect::<Vec<_>>(), vec!["PAY", "SRCH"]);
    assert!(jql.is_bounded());
    assert!(!Jql::parse("issuetype = Incident").unwrap().is_bounded());
    assert!(!Jql::parse("").unwrap().is_bounded());
    assert!(!Jql::parse("ORDER BY created").unwrap().is_bounded());
    assert!(Jql::parse("created > 2026-01-01").unwrap().is_bounded());
}

#[test]
fn malformed_queries_are_rejected_with_the_problem_named() {
    let cases = [
        ("project PAY", "Expecting an operator but got 'PAY'"),
        ("project = ", "reached the end"),
        ("status = Done", "Field 'status'"),
        ("updated >= \"yesterday\"", "Date value 'yesterday'"),
        ("project = PAY OR project = SRCH", "OR is not supported"),
        (
            "project = PAY updated > 2026-01-01",
            "Expecting either 'OR' or 'AND'",
        ),
        ("project in (PAY", "reached the end"),
        ("project = \"PAY", "has not been completed"),
        ("project = PAY ORDER created", "Expecting 'BY'"),
        ("updated in (2026-01-01)", "operator 'in' is not supported"),
    ];
    for (jql, needle) in cases {
        let err = Jql::parse(jql).expect_err(jql);
        assert!(err.0.contains(needle), "{jql}: {}", err.0);
    }
}

#[test]
fn all_documented_date_formats_are_accepted() {
    assert_eq!(date("2026-03-01 12:34"), date("2026/03/01 12:34"));
    assert_eq!(date("2026-03-01"), date("2026/03/01 00:00"));
    assert_eq!(parse_date("01.03.2026", Tz::UTC), None);
}

#[test]
fn date_literals_are_read_in_the_users_zone_across_daylight_saving_changes() {
    let ny: Tz = "America/New_York".parse().unwrap();
    let at = |text: &str| parse_date(text, ny).unwrap().to_rfc3339();
    // EST (UTC−05:00) before 2026-03-08 02:00 local, EDT (UTC−04:00) after.
    assert_eq!(at("2026-03-07 19:00"), "2026-03-08T00:00:00+00:00");
    assert_eq!(at("2026-03-08 01:59"), "2026-03-08T06:59:00+00:00");
    assert_eq!(at("2026-03-08 03:00"), "2026-03-08T07:00:00+00:00");
    assert_eq!(at("2026-03-08"), "2026-03-08T05:00:00+00:00");
    // A skipped wall time moves forward by the gap; one shown twice is the earlier.
    assert_eq!(at("2026-03-08 02:30"), "2026-03-08T07:30:00+00:00");
    assert_eq!(at("2026-11-01 01:30"), "2026-11-01T05:30:00+00:00");
    let jql = Jql::parse_in(r#"project = PAY AND updated >= "2026-03-08 03:00""#, ny).unwrap();
    assert_eq!(
        jql.clauses[1],
        Clause::Date {
            field: DateField::Updated,
            op: Comparison::Ge,
            at: "2026-03-08T07:00:00Z".parse().unwrap(),
        }
    );
}
