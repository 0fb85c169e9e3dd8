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

/// Records that failed schema validation and fields nobody knows (schema
/// drift), e.g. "3 records rejected; unknown fields: createdDate ×3".
pub fn schema_line(n: &NormalizeCounts) -> String {
    let mut line = format!("{} records rejected", n.rejected_records);
    if n.unknown_fields.is_empty() {
        line.push_str("; no unknown fields");
    } else {
        let unknown: Vec<String> = n
            .unknown_fields
            .iter()
            .map(|(name, count)| format!("{name} ×{count}"))
            .collect();
        line.push_str(&format!("; unknown fields: {}", unknown.join(", ")));
    }
    line
}
