//! Settings of the volume sensor that holds suspicious data out of gold.

use serde::Deserialize;

/// The volume sensor compares the records of a span of days with the same
/// weekdays in other weeks (so weekends are compared with weekends), scaled
/// by how the team's other inputs moved over the same span (so a quiet
/// holiday week, quiet everywhere, is not a breach), and holds the team's
/// days when a series falls far below that expectation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorsConfig {
    /// Off: no volume holds (pagination checks still run).
    pub enabled: bool,
    /// Weeks of the same weekdays used as the baseline (before the span,
    /// and after it when a backfill has no history before it).
    pub baseline_weeks: u32,
    /// Fewer comparable weeks than this: the sensor reports "too little
    /// history" and holds nothing.
    pub min_history_weeks: u32,
    /// A breach needs the observed count below `(1 - drop_threshold)` × expected…
    pub drop_threshold: f64,
    /// …and at least this many standard deviations below it (σ² = expected ×
    /// (1 + π/2k): the week's Poisson variance plus that of a median of k weeks).
    pub deviation_threshold: f64,
    /// Expected counts below this carry too little signal to judge.
    pub min_expected: f64,
}

impl Default for SensorsConfig {
    fn default() -> Self {
        SensorsConfig {
            enabled: true,
            baseline_weeks: 8,
            min_history_weeks: 3,
            drop_threshold: 0.5,
            deviation_threshold: 3.0,
            min_expected: 5.0,
        }
    }
}
