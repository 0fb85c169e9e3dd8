//! The volume sensor, as pure functions over daily counts.
//!
//! A static threshold ("a 90 % drop against the 30-day average") fires on
//! every weekend and holiday. Instead each span of at most a week is
//! compared with the *same weekdays* in other weeks — the span shifted back
//! (or, for a first backfill, forward) by whole weeks, so weekends meet
//! weekends — and the baseline is the median of those shifted counts, so
//! one odd week in the history does not move it. The expectation is then
//! scaled by how the team's *other* series moved over the same span (the
//! median of their observed/baseline ratios, never above 1): a holiday week
//! is quiet in every tool at once and scales every expectation down, while a
//! silent extraction failure hits one series and stands out against the rest.
//!
//! A breach needs both a relative drop and a statistical one (σ from the
//! Poisson variance of the week plus that of the median it is compared
//! with, see `spread`): small counts carry too little signal to hold anything,
//! and the sensor says so instead of guessing. One rule is not scaled by
//! peers: a team's inputs all at zero over a week that expected many is a
//! Phantom Zero even when everything else is zero too.

use chrono::{Duration, NaiveDate};
use dorafleet_core::SensorsConfig;
use std::collections::{BTreeMap, BTreeSet};

/// The name of the Phantom Zero finding over all of a team's series.
pub const ALL_INPUTS: &str = "all inputs";

/// One series of a team: records per day.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// `{source}:{target}`, e.g. `github:acme/payments-api`.
    pub name: String,
    /// Records per UTC day; a missing day counts as 0.
    pub daily: BTreeMap<NaiveDate, u64>,
}

impl Series {
    fn sum(&self, days: &[NaiveDate]) -> u64 {
        days.iter()
            .map(|d| self.daily.get(d).copied().unwrap_or(0))
            .sum()
    }
}

/// What the sensor concluded for one series over one span.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// No breach: the count did not fall past both the relative and the
    /// statistical threshold.
    Passed {
        /// Records in the span.
        observed: u64,
        /// The peer-scaled baseline the count was compared with.
        expected: f64,
    },
    /// The count fell too far: hold the span.
    Breach(Breach),
    /// Fewer comparable weeks than `min_history_weeks`.
    TooLittleHistory {
        /// The comparable weeks found.
        weeks: usize,
    },
    /// The expectation is below `min_expected`: nothing can be concluded.
    TooLittleSignal {
        /// The peer-scaled baseline.
        expected: f64,
    },
}

/// The evidence of a breach, as recorded in its hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    /// Records in the span.
    pub observed: u64,
    /// The baseline scaled by `peer_factor` (for a Phantom Zero, the
    /// baseline of all inputs together, unscaled).
    pub expected: f64,
    /// The median of the same weekdays in other weeks, before peer scaling.
    pub baseline: f64,
    /// How the team's other series moved (1.0 = as usual).
    pub peer_factor: f64,
    /// How many comparable weeks the baseline is the median of.
    pub weeks: usize,
    /// A whole team at zero (the rule not scaled by peers).
    pub phantom_zero: bool,
}

/// One series' verdict over the span `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The series' name, or [`ALL_INPUTS`] for the Phantom Zero check.
    pub series: String,
    /// The span's first day.
    pub from: NaiveDate,
    /// The day after the span's last (exclusive).
    pub to: NaiveDate,
    /// What the sensor concluded.
    pub verdict: Verdict,
}

/// The span's days cut into weeks, counted back from its last day (the
/// first chunk may be shorter).
pub fn weekly_spans(days: &[NaiveDate]) -> Vec<Vec<NaiveDate>> {
    let mut spans: Vec<Vec<NaiveDate>> = days.rchunks(7).map(<[NaiveDate]>::to_vec).collect();
    spans.reverse();
    spans
}

/// The counts of the same days shifted by whole weeks, every shifted day
/// inside `covered`: back first, then forward, `baseline_weeks` at most.
fn shifted_counts(
    series: &Series,
    span: &[NaiveDate],
    covered: &BTreeSet<NaiveDate>,
    config: &SensorsConfig,
) -> Vec<u64> {
    let wanted = config.baseline_weeks.max(1) as usize;
    let mut counts = Vec::new();
    for direction in [-1i64, 1] {
        for week in 1..=i64::from(config.baseline_weeks.max(1)) {
            if counts.len() == wanted {
                return counts;
            }
            let shifted: Vec<NaiveDate> = span
                .iter()
                .map(|d| *d + Duration::weeks(direction * week))
                .collect();
            if shifted.iter().all(|d| covered.contains(d)) {
                counts.push(series.sum(&shifted));
            }
        }
        if counts.len() >= config.min_history_weeks as usize {
            return counts;
        }
    }
    counts
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Judge every series of a team over every week of `span` (complete days),
/// with `covered` the days the team's inputs fully cover (history included).
/// The series together are also checked for a Phantom Zero ([`ALL_INPUTS`]).
pub fn evaluate(
    series: &[Series],
    span: &[NaiveDate],
    covered: &BTreeSet<NaiveDate>,
    config: &SensorsConfig,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for days in weekly_spans(span) {
        let (Some(&from), Some(&last)) = (days.first(), days.last()) else {
            continue;
        };
        let to = last + Duration::days(1);
        let baselines: Vec<(u64, Vec<u64>)> = series
            .iter()
            .map(|s| (s.sum(&days), shifted_counts(s, &days, covered, config)))
            .collect();
        let ratios: Vec<Option<f64>> = baselines
            .iter()
            .map(|(observed, shifted)| {
                let baseline = median(&mut shifted.iter().map(|&c| c as f64).collect::<Vec<_>>())?;
                (baseline >= config.min_expected).then(|| *observed as f64 / baseline)
            })
            .collect();
        for (i, s) in series.iter().enumerate() {
            let mut peers: Vec<f64> = ratios
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(_, r)| *r)
                .collect();
            let peer_factor = median(&mut peers).map_or(1.0, |m| m.min(1.0));
            let (observed, shifted) = &baselines[i];
            findings.push(Finding {
                series: s.name.clone(),
                from,
                to,
                verdict: judge(*observed, shifted, peer_factor, config),
            });
        }
        let observed: u64 = baselines.iter().map(|(o, _)| o).sum();
        let weeks = baselines.iter().map(|(_, s)| s.len()).min().unwrap_or(0);
        let mut totals: Vec<f64> = (0..weeks)
            .map(|w| baselines.iter().map(|(_, s)| s[w] as f64).sum())
            .collect();
        if let Some(baseline) = median(&mut totals)
            && observed == 0
            && weeks >= config.min_history_weeks as usize
            && baseline >= 4.0 * config.min_expected
        {
            findings.push(Finding {
                series: ALL_INPUTS.into(),
                from,
                to,
                verdict: Verdict::Breach(Breach {
                    observed,
                    expected: baseline,
                    baseline,
                    peer_factor: 1.0,
                    weeks,
                    phantom_zero: true,
                }),
            });
        }
    }
    findings
}

fn judge(observed: u64, shifted: &[u64], peer_factor: f64, config: &SensorsConfig) -> Verdict {
    if shifted.len() < config.min_history_weeks as usize {
        return Verdict::TooLittleHistory {
            weeks: shifted.len(),
        };
    }
    let baseline =
        median(&mut shifted.iter().map(|&c| c as f64).collect::<Vec<_>>()).unwrap_or(0.0);
    let expected = baseline * peer_factor;
    if expected < config.min_expected {
        return Verdict::TooLittleSignal { expected };
    }
    let observed_f = observed as f64;
    let dropped = observed_f < expected * (1.0 - config.drop_threshold);
    let deviation = (expected - observed_f) / spread(expected, shifted.len());
    if dropped && deviation >= config.deviation_threshold {
        Verdict::Breach(Breach {
            observed,
            expected,
            baseline,
            peer_factor,
            weeks: shifted.len(),
            phantom_zero: false,
        })
    } else {
        Verdict::Passed { observed, expected }
    }
}

/// The standard deviation of `observed − expected` for a series that is
/// working: the week's own Poisson variance (the expectation) plus that of
/// the expectation, which is an estimate too, the median of `k` weeks, with
/// a variance of about π/2 · σ²/k. Leaving the second out makes a short
/// history look surer than it is, and a quiet but real week gets held.
fn spread(expected: f64, weeks: usize) -> f64 {
    let k = weeks.max(1) as f64;
    (expected * (1.0 + std::f64::consts::FRAC_PI_2 / k)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn day(n: i64) -> NaiveDate {
        // 2026-06-01 is a Monday.
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap() + Duration::days(n)
    }

    /// `weekday` records on weekdays, `weekend` on weekends, scaled by
    /// `volume(day index)`.
    fn series(
        name: &str,
        days: i64,
        weekday: u64,
        weekend: u64,
        volume: impl Fn(i64) -> f64,
    ) -> Series {
        let daily = (0..days)
            .map(|n| {
                let base = if day(n).weekday().number_from_monday() >= 6 {
                    weekend
                } else {
                    weekday
                };
                (day(n), (base as f64 * volume(n)).round() as u64)
            })
            .collect();
        Series {
            name: name.into(),
            daily,
        }
    }

    fn all_days(days: i64) -> Vec<NaiveDate> {
        (0..days).map(day).collect()
    }

    fn breaches(findings: &[Finding]) -> Vec<&Finding> {
        findings
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Breach(_)))
            .collect()
    }

    #[test]
    fn quiet_weekends_are_compared_with_weekends_and_hold_nothing() {
        let team = [
            series("github:a", 91, 6, 1, |_| 1.0),
            series("jenkins:d", 91, 3, 0, |_| 1.0),
        ];
        let days = all_days(91);
        let covered = days.iter().copied().collect();
        let findings = evaluate(&team, &days, &covered, &SensorsConfig::default());
        assert!(breaches(&findings).is_empty(), "{findings:?}");
        assert!(
            findings
                .iter()
                .any(|f| matches!(f.verdict, Verdict::Passed { .. }))
        );
    }

    #[test]
    fn a_holiday_week_quiet_in_every_tool_holds_nothing() {
        let holiday = |n: i64| if (42..49).contains(&n) { 0.2 } else { 1.0 };
        let team = [
            series("github:a", 91, 8, 2, holiday),
            series("github:b", 91, 6, 1, holiday),
            series("jenkins:d", 91, 4, 1, holiday),
        ];
        let days = all_days(91);
        let covered = days.iter().copied().collect();
        let findings = evaluate(&team, &days, &covered, &SensorsConfig::default());
        assert!(breaches(&findings).is_empty(), "{:?}", breaches(&findings));
    }

    #[test]
    fn one_series_gone_silent_while_the_others_carry_on_is_held_with_its_figures() {
        let silent = |n: i64| if (56..70).contains(&n) { 0.0 } else { 1.0 };
        let team = [
            series("github:a", 91, 8, 2, silent),
            series("github:b", 91, 6, 1, |_| 1.0),
            series("jenkins:d", 91, 4, 1, |_| 1.0),
        ];
        let days = all_days(91);
        let covered = days.iter().copied().collect();
        let findings = evaluate(&team, &days, &covered, &SensorsConfig::default());
        let held = breaches(&findings);
        assert_eq!(held.len(), 2, "the two silent weeks: {held:?}");
        assert!(held.iter().all(|f| f.series == "github:a"));
        let Verdict::Breach(b) = &held[0].verdict else {
            unreachable!()
        };
        assert_eq!(b.observed, 0);
        assert!((b.expected - 44.0).abs() < 1e-9, "5 × 8 + 2 × 2: {b:?}");
        assert!(!b.phantom_zero);
    }

    #[test]
    fn a_quiet_real_week_against_a_short_history_is_not_held() {
        // Recorded from a clean simulated history: a repository's merged
        // changes and deployments, 7 in a week after weeks of 15 to 23. A
        // Poisson spread around a median taken as exact would call it 3.05σ.
        let config = SensorsConfig::default();
        let verdict = judge(7, &[15, 23, 21, 21, 15], 1.0, &config);
        assert!(matches!(verdict, Verdict::Passed { .. }), "{verdict:?}");
        let silent = judge(0, &[15, 23, 21, 21, 15], 1.0, &config);
        assert!(matches!(silent, Verdict::Breach(_)), "{silent:?}");
    }

    #[test]
    fn a_whole_team_at_zero_is_a_phantom_zero_even_though_its_peers_are_zero_too() {
        let outage = |n: i64| if (63..70).contains(&n) { 0.0 } else { 1.0 };
        let team = [
            series("github:a", 91, 8, 2, outage),
            series("jenkins:d", 91, 4, 1, outage),
        ];
        let days = all_days(91);
        let covered = days.iter().copied().collect();
        let findings = evaluate(&team, &days, &covered, &SensorsConfig::default());
        let held = breaches(&findings);
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0].series, "all inputs");
        assert_eq!((held[0].from, held[0].to), (day(63), day(70)));
    }

    #[test]
    fn with_too_little_history_the_sensor_says_so_instead_of_holding() {
        let team = [series(
            "github:a",
            14,
            8,
            2,
            |n| if n >= 7 { 0.0 } else { 1.0 },
        )];
        let days = all_days(14);
        let covered = days.iter().copied().collect();
        let findings = evaluate(&team, &days, &covered, &SensorsConfig::default());
        assert!(breaches(&findings).is_empty());
        assert!(
            findings
                .iter()
                .all(|f| f.verdict == Verdict::TooLittleHistory { weeks: 1 })
        );
    }

    #[test]
    fn an_incremental_span_is_compared_with_the_same_weekdays_of_the_trailing_weeks() {
        let team = [
            series("github:a", 70, 8, 2, |n| if n >= 68 { 0.0 } else { 1.0 }),
            series("github:b", 70, 8, 2, |_| 1.0),
        ];
        let covered = all_days(70).into_iter().collect();
        // Days 68 and 69 are a Saturday and a Sunday.
        let weekend = [day(68), day(69)];
        let findings = evaluate(&team, &weekend, &covered, &SensorsConfig::default());
        assert!(
            findings
                .iter()
                .all(|f| matches!(f.verdict, Verdict::TooLittleSignal { expected } if (expected - 4.0).abs() < 1e-9)),
            "a weekend expects 4 records, too few to judge: {findings:?}"
        );
        let weekdays: Vec<NaiveDate> = (63..68).map(day).collect();
        let findings = evaluate(&team, &weekdays, &covered, &SensorsConfig::default());
        assert!(findings.iter().all(|f| matches!(f.verdict, Verdict::Passed { expected, .. } if (expected - 40.0).abs() < 1e-9)));
    }
}
