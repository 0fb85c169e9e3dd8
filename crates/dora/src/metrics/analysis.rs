//! One pass over a team's silver that every reading of it shares: the
//! deployments in the order they happened, which changes each shipped, which
//! deployments failed or were rework, and which deployment each incident
//! links to. The metrics (`compute`) and the records behind one value
//! (`records_behind`) are both read from it, so the drill-down lists exactly
//! the records a number was computed from.

use super::linkage::{self, CoverageStarts, LinkTally, Shipped};
use super::{ChangeLink, is_deployment, rework};
use chrono::{DateTime, Duration, Utc};
use dorafleet_core::Definitions;
use dorafleet_warehouse::{SilverDeployment, SilverIncident, TeamSilver};

/// An incident and the deployment it links to.
#[derive(Debug)]
pub(crate) struct IncidentLink<'a> {
    pub(crate) incident: &'a SilverIncident,
    /// Index of the linked deployment (the failure rate counts it).
    pub(crate) linked: Option<usize>,
    /// The same when recovery can be measured from it (inside coverage).
    pub(crate) measurable: Option<usize>,
}

/// A team's silver, read once under the definitions.
#[derive(Debug)]
pub(crate) struct Analysis<'a> {
    /// Deployments by finish, then start, then key.
    pub(crate) deployments: Vec<&'a SilverDeployment>,
    pub(crate) shipped: Vec<Shipped<'a>>,
    /// Per deployment: linked to at least one incident.
    pub(crate) failed: Vec<bool>,
    /// Per deployment: rework.
    pub(crate) rework: Vec<bool>,
    /// Per shipped change (same order as `shipped`): marks rework.
    pub(crate) rework_changes: Vec<bool>,
    /// The incidents the definitions count, with their links.
    pub(crate) incidents: Vec<IncidentLink<'a>>,
    pub(crate) tally: LinkTally,
}

impl Analysis<'_> {
    /// When deployment `i` happened.
    pub(crate) fn finished(&self, i: usize) -> DateTime<Utc> {
        let d = self.deployments[i];
        d.finished_at.unwrap_or(d.started_at)
    }

    /// The `at`-th shipped change as people read it.
    pub(crate) fn change_link(&self, at: usize) -> ChangeLink {
        let s = &self.shipped[at];
        let d = self.deployments[s.deployment];
        let rework = self.rework_changes[at];
        ChangeLink {
            repo: s.change.repo.clone(),
            number: s.change.number,
            title: s.change.title.clone(),
            merged_at: s.change.merged_at,
            first_commit_at: s.change.first_commit_at,
            deployment: d.key.clone(),
            deployed_at: self.finished(s.deployment),
            by_time: s.by_time,
            lead_time_hours: s.lead_time,
            dropped: s.dropped.map(str::to_owned),
            rework,
            run_id: s.change.run_id,
        }
    }
}

/// Reads `silver` under `defs`, each repository covered from `starts`.
pub(crate) fn analyse<'a>(
    defs: &Definitions,
    silver: &'a TeamSilver,
    starts: &CoverageStarts,
) -> Analysis<'a> {
    let mut deployments: Vec<&SilverDeployment> = silver
        .deployments
        .iter()
        .filter(|d| is_deployment(d, defs))
        .collect();
    deployments.sort_by(|a, b| {
        (a.finished_at, a.started_at, &a.key).cmp(&(b.finished_at, b.started_at, &b.key))
    });
    let finished = |i: usize| {
        deployments[i]
            .finished_at
            .unwrap_or(deployments[i].started_at)
    };
    let mut tally = LinkTally::default();
    let shipped = linkage::ship(
        defs,
        &silver.changes,
        &silver.commits,
        &deployments,
        starts,
        &mut tally,
    );
    let counted: Vec<&SilverIncident> = silver
        .incidents
        .iter()
        .filter(|i| defs.counts_as_incident(&i.issue_type, i.priority.as_deref()))
        .collect();
    let rules = rework::Rework::new(defs, counted.iter().map(|i| i.key.clone()));
    let mut rework: Vec<bool> = deployments.iter().map(|d| rules.is_rework_ref(d)).collect();
    let rework_changes: Vec<bool> = shipped
        .iter()
        .map(|s| rules.is_rework_change(s.change))
        .collect();
    for (s, marks) in shipped.iter().zip(&rework_changes) {
        rework[s.deployment] |= *marks;
    }

    let window = Duration::hours(i64::from(defs.incident_link_window_hours));
    let mut failed = vec![false; deployments.len()];
    let mut incidents = Vec::with_capacity(counted.len());
    for incident in counted {
        let before = deployments.partition_point(|d| d.finished_at < Some(incident.created_at));
        let linked = before
            .checked_sub(1)
            .filter(|&i| incident.created_at - finished(i) <= window);
        if let Some(i) = linked {
            failed[i] = true;
        }
        // Recovery is measured only from a deployment after every scope's
        // coverage began: before, a later deployment of another scope may
        // be unread (the failed one), and with none in the window the failed
        // one may lie before coverage.
        let measurable =
            linked.filter(|&i| starts.latest().is_none_or(|start| finished(i) >= start));
        let window_before_coverage = starts
            .latest()
            .is_some_and(|start| incident.created_at - window < start);
        if measurable.is_none() && (linked.is_some() || window_before_coverage) {
            tally.count(linkage::INCIDENT_LINK_BEFORE_COVERAGE);
        }
        incidents.push(IncidentLink {
            incident,
            linked,
            measurable,
        });
    }
    Analysis {
        deployments,
        shipped,
        failed,
        rework,
        rework_changes,
        incidents,
        tally,
    }
}
