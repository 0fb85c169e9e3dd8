//! A small JQL subset: the clauses an incremental extractor sends
//! (`project`, `issuetype`, `priority`, `key`, date bounds on `created`,
//! `updated` and `resolved`) joined by AND, plus `ORDER BY`. Anything else is
//! rejected with a message naming the problem, as Jira does, rather than
//! silently ignored: a filter the simulator ignored would return more data
//! than the real service and hide a client bug.
//!
//! Date literals are read in the API user's time zone, as Jira reads them
//! ([`Jql::parse_in`]): a wall time the clocks show twice is its earlier
//! instant, one they skip is moved forward by the gap (Java's rule).

use crate::model::JiraIssue;
use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Jql {
    pub clauses: Vec<Clause>,
    pub order: Vec<(OrderField, Direction)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    /// `field = v`, `field in (a, b)`, and their negations.
    OneOf {
        field: ListField,
        values: Vec<String>,
        negated: bool,
    },
    Date {
        field: DateField,
        op: Comparison,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListField {
    Project,
    IssueType,
    Priority,
    Key,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateField {
    Created,
    Updated,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderField {
    Created,
    Updated,
    Resolved,
    Key,
    Priority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Asc,
    Desc,
}

/// Why a JQL query was rejected, in words fit for Jira's `errorMessages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JqlError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Operator(String),
    Open,
    Close,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => w.clone(),
            Token::Quoted(q) => format!("\"{q}\""),
            Token::Operator(o) => o.clone(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Comma => ",".into(),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

fn tokenize(jql: &str) -> Result<Vec<(usize, Token)>, JqlError> {
    let chars: Vec<char> = jql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => (tokens.push((at, Token::Open)), i += 1).1,
            ')' => (tokens.push((at, Token::Close)), i += 1).1,
            ',' => (tokens.push((at, Token::Comma)), i += 1).1,
            '"' | '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .ok_or_else(|| JqlError(format!("Error in the JQL Query: The quoted string starting at character {at} has not been completed.")))?;
                tokens.push((
                    at,
                    Token::Quoted(chars[i + 1..i + 1 + end].iter().collect()),
                ));
                i += end + 2;
            }
            '=' | '!' | '<' | '>' | '~' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if ["!=", "<=", ">=", "!~"].contains(&two.as_str()) {
                    two
                } else if c == '!' {
                    return Err(JqlError(format!(
                        "Error in the JQL Query: The character '!' at character {at} is not valid here."
                    )));
                } else {
                    c.to_string()
                };
                i += op.len();
                tokens.push((at, Token::Operator(op)));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !"()=,!<>~\"'".contains(chars[i])
                {
                    i += 1;
                }
                tokens.push((at, Token::Word(chars[start..i].iter().collect())));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    next: usize,
    /// The zone date literals are read in.
    zone: Tz,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, t)| t)
    }

    fn take(&mut self, expecting: &str) -> Result<Token, JqlError> {
        let token = self.tokens.get(self.next).cloned().map(|(_, t)| t);
        self.next += 1;
        token.ok_or_else(|| {
            JqlError(format!(
                "Error in the JQL Query: Expecting {expecting} but reached the end of the query."
            ))
        })
    }

    fn unexpected(&self, expecting: &str, got: &Token) -> JqlError {
        let at = self
            .tokens
            .get(self.next.saturating_sub(1))
            .map_or(0, |(p, _)| *p);
        JqlError(format!(
            "Error in the JQL Query: Expecting {expecting} but got '{}'. (line 1, character {at})",
            got.describe()
        ))
    }

    fn value(&mut self) -> Result<String, JqlError> {
        match self.take("a value")? {
            Token::Word(w) | Token::Quoted(w) => Ok(w),
            other => Err(self.unexpected("a value", &other)),
        }
    }

    fn list(&mut self) -> Result<Vec<String>, JqlError> {
        match self.take("'('")? {
            Token::Open => {}
            other => return Err(self.unexpected("'('", &other)),
        }
        let mut values = vec![self.value()?];
        loop {
            match self.take("',' or ')'")? {
                Token::Comma => values.push(self.value()?),
                Token::Close => return Ok(values),
                other => return Err(self.unexpected("',' or ')'", &other)),
            }
        }
    }
}

impl Jql {
    /// Parses `text`, its date literals in UTC.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Result<Jql, JqlError> {
        Jql::parse_in(text, Tz::UTC)
    }

    /// Parses `text`, its date literals read in `zone` (the API user's).
    pub(crate) fn parse_in(text: &str, zone: Tz) -> Result<Jql, JqlError> {
        let mut p = Parser {
            tokens: tokenize(text)?,
            next: 0,
            zone,
        };
        let mut clauses = Vec::new();
        while p.peek().is_some_and(|t| !t.is_keyword("order")) {
            clauses.push(clause(&mut p)?);
            match p.peek() {
                None => break,
                Some(t) if t.is_keyword("and") => p.next += 1,
                Some(t) if t.is_keyword("order") => break,
                Some(t) if t.is_keyword("or") => {
                    return Err(JqlError(
                        "The simulator's JQL supports only clauses joined by AND; OR is not supported.".into(),
                    ));
                }
                Some(t) => {
                    let t = t.clone();
                    p.next += 1;
                    return Err(p.unexpected("either 'OR' or 'AND'", &t));
                }
            }
        }
        let mut order = Vec::new();
        if p.peek().is_some() {
            p.next += 1; // ORDER
            match p.take("'BY'")? {
                t if t.is_keyword("by") => {}
                other => return Err(p.unexpected("'BY'", &other)),
            }
            loop {
                let name = p.value()?;
                let field = order_field(&name)?;
                let direction = match p.peek() {
                    Some(t) if t.is_keyword("asc") => (p.next += 1, Direction::Asc).1,
                    Some(t) if t.is_keyword("desc") => (p.next += 1, Direction::Desc).1,
                    _ => Direction::Asc,
                };
                order.push((field, direction));
                match p.peek() {
                    Some(Token::Comma) => p.next += 1,
                    None => break,
                    Some(t) => {
                        let t = t.clone();
                        p.next += 1;
                        return Err(p.unexpected("',' or the end of the query", &t));
                    }
                }
            }
        }
        Ok(Jql { clauses, order })
    }

    /// Real Jira refuses queries with no restriction at all on the new search API.
    pub(crate) fn is_bounded(&self) -> bool {
        self.clauses.iter().any(|c| match c {
            Clause::OneOf {
                field: ListField::Project | ListField::Key,
                negated: false,
                ..
            } => true,
            Clause::Date { .. } => true,
            Clause::OneOf { .. } => false,
        })
    }

    pub(crate) fn projects(&self) -> impl Iterator<Item = &str> {
        self.clauses.iter().flat_map(|c| match c {
            Clause::OneOf {
                field: ListField::Project,
                values,
                ..
            } => values.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        })
    }

    pub(crate) fn matches(&self, issue: &JiraIssue) -> bool {
        self.clauses.iter().all(|c| match c {
            Clause::OneOf {
                field,
                values,
                negated,
            } => {
                let actual = match field {
                    ListField::Project => &issue.project_key,
                    ListField::IssueType => &issue.issue_type,
                    ListField::Priority => &issue.priority,
                    ListField::Key => &issue.key,
                };
                values.iter().any(|v| v.eq_ignore_ascii_case(actual)) != *negated
            }
            Clause::Date { field, op, at } => {
                let actual = match field {
                    DateField::Created => Some(issue.created),
                    DateField::Updated => Some(issue.updated()),
                    DateField::Resolved => issue.resolved,
                };
                actual.is_some_and(|actual| match op {
                    Comparison::Eq => actual == *at,
                    Comparison::Ne => actual != *at,
                    Comparison::Lt => actual < *at,
                    Comparison::Le => actual <= *at,
                    Comparison::Gt => actual > *at,
                    Comparison::Ge => actual >= *at,
                })
            }
        })
    }

    /// Orders by the ORDER BY fields (default `created ASC`), then by id.
    pub(crate) fn compare(&self, a: &JiraIssue, b: &JiraIssue) -> Ordering {
        let default = [(OrderField::Created, Direction::Asc)];
        let order = if self.order.is_empty() {
            &default[..]
        } else {
            &self.order[..]
        };
        order
            .iter()
            .map(|(field, direction)| {
                let ordering = match field {
                    OrderField::Created => a.created.cmp(&b.created),
                    OrderField::Updated => a.updated().cmp(&b.updated()),
                    OrderField::Resolved => a.resolved.cmp(&b.resolved),
                    OrderField::Key => a.id.cmp(&b.id),
                    OrderField::Priority => a.priority.cmp(&b.priority),
                };
                match direction {
                    Direction::Asc => ordering,
                    Direction::Desc => ordering.reverse(),
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.id.cmp(&b.id))
    }
}

fn clause(p: &mut Parser) -> Result<Clause, JqlError> {
    let name = p.value()?;
    let lower = name.to_ascii_lowercase();
    let date_field = match lower.as_str() {
        "created" | "createddate" => Some(DateField::Created),
        "updated" | "updateddate" => Some(DateField::Updated),
        "resolved" | "resolutiondate" => Some(DateField::Resolved),
        _ => None,
    };
    let list_field = match lower.as_str() {
        "project" => Some(ListField::Project),
        "issuetype" | "type" => Some(ListField::IssueType),
        "priority" => Some(ListField::Priority),
        "key" | "issuekey" | "id" => Some(ListField::Key),
        _ => None,
    };
    if date_field.is_none() && list_field.is_none() {
        return Err(JqlError(format!(
            "Field '{name}' does not exist or you do not have permission to view it. (The simulator supports project, issuetype, priority, key, created, updated and resolved.)"
        )));
    }
    let operator = match p.take("an operator")? {
        Token::Operator(o) => o,
        t if t.is_keyword("in") => "in".into(),
        t if t.is_keyword("not") => match p.take("'IN'")? {
            t if t.is_keyword("in") => "not in".into(),
            other => return Err(p.unexpected("'IN'", &other)),
        },
        other => return Err(p.unexpected("an operator", &other)),
    };
    if let Some(field) = date_field {
        let op = match operator.as_str() {
            "=" => Comparison::Eq,
            "!=" => Comparison::Ne,
            "<" => Comparison::Lt,
            "<=" => Comparison::Le,
            ">" => Comparison::Gt,
            ">=" => Comparison::Ge,
            other => {
                return Err(JqlError(format!(
                    "The operator '{other}' is not supported by the '{name}' field."
                )));
            }
        };
        let text = p.value()?;
        let at = parse_date(&text, p.zone).ok_or_else(|| {
            JqlError(format!(
                "Date value '{text}' for field '{name}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'."
            ))
        })?;
        return Ok(Clause::Date { field, op, at });
    }
    let field = list_field.expect("checked above");
    let (values, negated) = match operator.as_str() {
        "=" => (vec![p.value()?], false),
        "!=" => (vec![p.value()?], true),
        "in" => (p.list()?, false),
        "not in" => (p.list()?, true),
        other => {
            return Err(JqlError(format!(
                "The operator '{other}' is not supported by the '{name}' field."
            )));
        }
    };
    Ok(Clause::OneOf {
        field,
        values,
        negated,
    })
}

fn order_field(name: &str) -> Result<OrderField, JqlError> {
    match name.to_ascii_lowercase().as_str() {
        "created" | "createddate" => Ok(OrderField::Created),
        "updated" | "updateddate" => Ok(OrderField::Updated),
        "resolved" | "resolutiondate" => Ok(OrderField::Resolved),
        "key" | "issuekey" | "id" => Ok(OrderField::Key),
        "priority" => Ok(OrderField::Priority),
        _ => Err(JqlError(format!(
            "Field '{name}' does not exist or you do not have permission to view it."
        ))),
    }
}

/// Jira's absolute date formats, in the user's time zone `zone`.
fn parse_date(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    for format in ["%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return in_zone(t, zone);
        }
    }
    for format in ["%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(text, format) {
            return d.and_hms_opt(0, 0, 0).and_then(|t| in_zone(t, zone));
        }
    }
    None
}

/// The instant a wall time of `zone` means to Jira: the earlier one when
/// the clocks show it twice; when they skip it, the wall time read with the
/// offset in force before the gap, i.e. moved forward by the gap
/// (`java.time`'s rule: 02:30 on a spring-forward night is 03:30).
pub(crate) fn in_zone(wall: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.with_timezone(&Utc)),
        LocalResult::None => {
            let before = zone
                .offset_from_local_datetime(&(wall - Duration::hours(3)))
                .earliest()?
                .fix();
            Some((wall - Duration::seconds(i64::from(before.local_minus_utc()))).and_utc())
        }
    }
}

#[cfg(test)]
mod tests;
