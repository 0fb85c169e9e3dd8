//! The validation tally of an extract task: how many records its pages
//! held, how many failed their schema and why, which unknown fields showed
//! up — summed over its pages (and, for a run, over its tasks), and the
//! verdict that fails a task with too many rejections.

use dorafleet_core::TaskError;
use dorafleet_sources::{PageQuality, PageRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Rejection reasons kept per task, enough to see what went wrong.
pub const REJECTION_SAMPLE: usize = 5;

/// The validation tally of one extract task, over all its pages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordQuality {
    /// Records in the fetched lists, valid or not.
    pub records_seen: u64,
    /// Records that failed their schema.
    pub records_rejected: u64,
    /// The first [`REJECTION_SAMPLE`] rejections, e.g.
    /// "jira_search page 2 record 13 (PAY-40): missing `fields.created`".
    pub sample: Vec<String>,
    /// Unknown fields by name, with the number of records carrying each.
    pub unknown_fields: BTreeMap<String, u64>,
}

impl RecordQuality {
    /// Adds one page's findings.
    pub fn add(&mut self, request: &PageRequest, page: &PageQuality) {
        self.records_seen += page.records;
        self.records_rejected += page.rejected_count();
        for rejection in &page.rejected {
            if self.sample.len() >= REJECTION_SAMPLE {
                break;
            }
            self.sample.push(format!(
                "{} page {} {rejection}",
                request.endpoint, request.page_no
            ));
        }
        for (name, n) in &page.unknown_fields {
            *self.unknown_fields.entry(name.clone()).or_default() += n;
        }
    }

    /// Adds another task's tally (the sample keeps its first reasons).
    pub fn merge(&mut self, other: &RecordQuality) {
        self.records_seen += other.records_seen;
        self.records_rejected += other.records_rejected;
        for reason in &other.sample {
            if self.sample.len() < REJECTION_SAMPLE {
                self.sample.push(reason.clone());
            }
        }
        for (name, n) in &other.unknown_fields {
            *self.unknown_fields.entry(name.clone()).or_default() += n;
        }
    }

    /// Rejected records over records seen (0 when nothing was seen).
    pub fn rejected_ratio(&self) -> f64 {
        if self.records_seen == 0 {
            0.0
        } else {
            self.records_rejected as f64 / self.records_seen as f64
        }
    }

    /// A permanent failure when more than `max_ratio` of the records were
    /// rejected; its message is what the dead letter shows.
    pub fn verdict(&self, max_ratio: f64) -> Result<(), TaskError> {
        let ratio = self.rejected_ratio();
        if ratio <= max_ratio {
            return Ok(());
        }
        let mut message = format!(
            "schema validation rejected {} of {} records (ratio {ratio:.4} = {:.1} %), above quality.max_rejected_ratio {max_ratio}",
            self.records_rejected,
            self.records_seen,
            ratio * 100.0
        );
        if !self.unknown_fields.is_empty() {
            let unknown: Vec<String> = self
                .unknown_fields
                .iter()
                .map(|(name, n)| format!("`{name}` in {n}"))
                .collect();
            message.push_str(&format!("; unknown fields: {}", unknown.join(", ")));
        }
        message.push_str(&format!("; sample: {}", self.sample.join("; ")));
        Err(TaskError::permanent(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dorafleet_core::ErrorClass;
    use dorafleet_sources::Rejection;

    fn page_quality(records: u64, rejected: &[(usize, &str)]) -> PageQuality {
        PageQuality {
            records,
            rejected: rejected
                .iter()
                .map(|(index, key)| Rejection {
                    index: *index,
                    key: Some((*key).to_owned()),
                    reason: "missing `fields.created`".into(),
                })
                .collect(),
            unknown_fields: if rejected.is_empty() {
                BTreeMap::new()
            } else {
                [("createdDate".to_owned(), rejected.len() as u64)].into()
            },
        }
    }

    #[test]
    fn the_tally_sums_pages_keeps_five_reasons_and_fails_above_the_threshold_only() {
        let request = PageRequest::new("jira_search", "/search", 2);
        let mut tally = RecordQuality::default();
        tally.add(
            &request,
            &page_quality(50, &[(0, "A-1"), (1, "A-2"), (2, "A-3")]),
        );
        tally.add(
            &request,
            &page_quality(50, &[(3, "A-4"), (4, "A-5"), (5, "A-6")]),
        );
        assert_eq!((tally.records_seen, tally.records_rejected), (100, 6));
        assert_eq!(tally.sample.len(), REJECTION_SAMPLE);
        assert_eq!(
            tally.sample[0],
            "jira_search page 2 record 0 (A-1): missing `fields.created`"
        );
        assert_eq!(tally.unknown_fields["createdDate"], 6);
        assert!(tally.verdict(0.06).is_ok(), "6 % is not above 6 %");
        let err = tally.verdict(0.05).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Permanent);
        assert!(
            err.message().contains(
                "rejected 6 of 100 records (ratio 0.0600 = 6.0 %), above quality.max_rejected_ratio 0.05"
            ),
            "{err}"
        );
        assert!(err.message().contains("`createdDate` in 6"), "{err}");
        assert!(err.message().contains("(A-5)"), "{err}");
        assert!(!err.message().contains("(A-6)"), "only a sample: {err}");
        assert!(RecordQuality::default().verdict(0.0).is_ok());
    }
}
