//! WHERE clauses of only the filters a caller gave.
//!
//! A statement written once as `(?1 IS NULL OR col = ?1)` serves every
//! combination of filters, but SQLite plans it without knowing which are
//! given, so it can use no index on those columns: every such read scanned
//! its whole table. Built from the filters actually given, the statement
//! names its columns and the table's indexes serve it. Each combination is
//! its own statement text, so each gets its own cached plan.

use crate::PageRef;
use rusqlite::ToSql;

/// Conditions joined by `AND`, each with its values as numbered parameters.
#[derive(Debug, Default)]
pub(super) struct Filters {
    clauses: Vec<String>,
    values: Vec<String>,
}

impl Filters {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// `column op value`, when `value` is given.
    pub(super) fn compare(mut self, column: &str, op: &str, value: Option<String>) -> Self {
        if let Some(value) = value {
            self.values.push(value);
            self.clauses
                .push(format!("{column} {op} ?{}", self.values.len()));
        }
        self
    }

    /// `column = value`, when `value` is given.
    pub(super) fn equal(self, column: &str, value: Option<String>) -> Self {
        self.compare(column, "=", value)
    }

    /// `column IN (values…)`, when `values` is not empty (empty: any value).
    pub(super) fn any_of(mut self, column: &str, values: impl IntoIterator<Item = String>) -> Self {
        let first = self.values.len() + 1;
        self.values.extend(values);
        if self.values.len() >= first {
            let numbers: Vec<String> = (first..=self.values.len())
                .map(|n| format!("?{n}"))
                .collect();
            self.clauses
                .push(format!("{column} IN ({})", numbers.join(", ")));
        }
        self
    }

    /// Rows after `page` in `(task, seq)` order, when `page` is given.
    pub(super) fn after_page(
        mut self,
        task_column: &str,
        seq_column: &str,
        page: Option<PageRef>,
    ) -> Self {
        if let Some(page) = page {
            self.values.push(page.task_id.to_string());
            self.values.push(page.seq.to_string());
            let n = self.values.len();
            self.clauses.push(format!(
                "({task_column}, {seq_column}) > (?{}, ?{n})",
                n - 1
            ));
        }
        self
    }

    /// `WHERE …`, or nothing when no filter was given.
    pub(super) fn where_clause(&self) -> String {
        match self.clauses.is_empty() {
            true => String::new(),
            false => format!("WHERE {}", self.clauses.join(" AND ")),
        }
    }

    /// The values of the clauses followed by `extra` (numbered after them:
    /// see [`next_number`](Self::next_number)), as statement parameters.
    pub(super) fn params<'a>(&'a self, extra: &'a [&'a dyn ToSql]) -> Vec<&'a dyn ToSql> {
        self.values
            .iter()
            .map(|v| v as &dyn ToSql)
            .chain(extra.iter().copied())
            .collect()
    }

    /// The number of the next parameter after the clauses' own (for a
    /// `LIMIT ?n` that follows them).
    pub(super) fn next_number(&self) -> usize {
        self.values.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_filters_given_are_in_the_clause_numbered_in_order() {
        let f = Filters::new()
            .equal("run_id", None)
            .equal("team", Some("payments".into()))
            .compare("date", ">=", Some("2026-01-01".into()))
            .any_of("metric", ["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            f.where_clause(),
            "WHERE team = ?1 AND date >= ?2 AND metric IN (?3, ?4)"
        );
        assert_eq!(f.next_number(), 5);
        assert_eq!(f.params(&[&7]).len(), 5);
    }

    #[test]
    fn no_filter_is_no_where_clause_and_an_empty_list_is_no_condition() {
        let f = Filters::new().equal("run_id", None).any_of("team", []);
        assert_eq!(f.where_clause(), "");
        assert_eq!(f.next_number(), 1);
    }
}
