//! One-line renderings shared by the run summary and `runs show`: a hold
//! with its evidence, and a run's schema-validation counts.

use dorafleet_operations::{Hold, NormalizeCounts};

/// One hold on one line: status, team, days, sensor, scope and evidence.
pub fn hold_line(h: &Hold) -> String {
    let resolved = h.resolution.as_ref().map_or(String::new(), |r| {
        format!(
            " [{} by {} at {}: {}]",
            h.status,
            r.by,
            r.at.format("%Y-%m-%d %H:%M"),
            r.reason
        )
    });
    format!(
        "{} {} {}..{} {} {}: {} — observed {}, expected {:.1}; rule: {}; {}{resolved}",
        h.status,
        h.team_id,
        h.from,
        h.to,
        h.sensor,
        h.scope.as_deref().unwrap_or("all inputs"),
        h.evidence.measure,
        h.evidence.observed,
        h.evidence.expected,
        h.evidence.threshold,
        h.evidence.detail
    )
}

/// What the extract tasks met, dead-lettered ones included: records
/// validation rejected out of those listed, unknown fields, items deleted
/// at the source, e.g. "3 of 250 records rejected; unknown fields:
/// createdDate ×3; 1 item deleted at the source".
pub fn extract_line(q: &dorafleet_coordinator::RecordQuality, gone: u64) -> String {
    let mut line = format!(
        "{} of {} records rejected",
        q.records_rejected, q.records_seen
    );
    line.push_str(&unknown_fields(&q.unknown_fields));
    line.push_str(&format!("; {gone} item(s) deleted at the source"));
    line
}

fn unknown_fields(fields: &std::collections::BTreeMap<String, u64>) -> String {
    if fields.is_empty() {
        return "; no unknown fields".into();
    }
    let unknown: Vec<String> = fields
        .iter()
        .map(|(name, count)| format!("{name} ×{count}"))
        .collect();
    format!("; unknown fields: {}", unknown.join(", "))
}

/// How the changes were linked to deployments and what lead time left out,
/// e.g. `412 by history, 9 by time (deployed commit unknown), 3 not yet
/// deployed; left out: 2 first commit after deployment`.
pub fn linkage_line(n: &NormalizeCounts) -> String {
    let count = |key: &str| n.linkage.get(key).copied().unwrap_or(0);
    let mut line = format!(
        "{} by history, {} by time (deployed commit unknown), {} not yet deployed",
        count("by history"),
        count("by time"),
        count("not yet deployed")
    );
    let dropped: Vec<String> = n
        .linkage
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "by history" | "by time" | "not yet deployed"))
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    if !dropped.is_empty() {
        line.push_str("; left out: ");
        line.push_str(&dropped.join(", "));
    }
    line
}

/// Records that failed schema validation and fields nobody knows (schema
/// drift), e.g. "3 records rejected; unknown fields: createdDate ×3".
pub fn schema_line(n: &NormalizeCounts) -> String {
    let mut line = format!("{} records rejected", n.rejected_records);
    line.push_str(&unknown_fields(&n.unknown_fields));
    line
}
